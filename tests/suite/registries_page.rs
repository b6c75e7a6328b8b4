//! The registries the service talks to: `GET /registries` and the registries page list each
//! registry of the allow-list with what a read-only probe found of it (probed in the background,
//! again once a day), and the time a rate limit held requests back.

use std::time::Duration;

use manifold::model::Clock;
use manifold_testkit::{TestRegistry, TokenServer};
use serde_json::Value;

use crate::support::app::TestApp;
use crate::support::stores::Db;
use crate::support::wait;

/// `GET /registries` until `registry` has a profile; its entry.
async fn probed(app: &TestApp, registry: &str) -> Value {
    wait::until_some("the registry probed", wait::nothing, || async {
        let all = app.get_json("/registries").await;
        let entry = all
            .as_array()?
            .iter()
            .find(|r| r["registry"] == registry)?
            .clone();
        (!entry["probed_at"].is_null()).then_some(entry)
    })
    .await
}

#[tokio::test]
async fn each_allowed_registry_is_listed_with_what_its_probe_found() {
    let plain = TestRegistry::plain().await;
    let server = TokenServer::start();
    let tokens = TestRegistry::token(&server).await;
    let names = vec![plain.host(), tokens.host()];
    let realm_host = format!("127.0.0.1:{}", server.port());
    let app = TestApp::spawn_on(Db::Sqlite, |s| {
        s.registries = names.clone();
        s.token_hosts = vec![realm_host];
    })
    .await;

    let plain_entry = probed(&app, &plain.host()).await;
    let token_entry = probed(&app, &tokens.host()).await;

    assert_eq!(plain_entry["profile"]["scheme"], "http");
    assert_eq!(plain_entry["profile"]["auth"]["scheme"], "anonymous");
    assert_eq!(plain_entry["throttled_seconds"], 0.0);
    assert!(plain_entry["error"].is_null());
    assert_eq!(
        token_entry["profile"]["auth"]["scheme"], "bearer",
        "{token_entry}"
    );
    assert_eq!(
        token_entry["profile"]["auth"]["realm"],
        server.realm().as_str()
    );
}

#[tokio::test]
async fn a_registry_that_does_not_answer_shows_why_and_the_page_shows_every_row() {
    let plain = TestRegistry::plain().await;
    let gone = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().to_string()
    };
    let names = vec![plain.host(), gone.clone()];
    let app = TestApp::spawn_on(Db::Sqlite, |s| s.registries = names.clone()).await;

    probed(&app, &plain.host()).await;
    let failed = probed(&app, &gone).await;
    let page = app.get("/ui/registries").await.text().await.unwrap();

    assert!(failed["profile"].is_null());
    assert!(
        failed["error"].as_str().unwrap().contains(&gone),
        "{failed}"
    );
    assert!(
        page.contains(&format!("data-registry=\"{}\"", plain.host())),
        "{page}"
    );
    assert!(
        page.contains(&format!("data-registry=\"{gone}\"")),
        "{page}"
    );
    assert!(page.contains("the probe failed"), "{page}");
    assert!(page.contains("anonymous"), "{page}");
}

#[tokio::test]
async fn a_profile_a_day_old_is_probed_again() {
    let plain = TestRegistry::plain().await;
    let clock = Clock::manual();
    let name = plain.host();
    let app = TestApp::spawn_at(Db::Sqlite, clock.clone(), |s| {
        s.registries = vec![name.clone()]
    })
    .await;
    let first = probed(&app, &plain.host()).await;

    clock.advance(Duration::from_secs(25 * 3600));
    app.get_json("/registries").await;
    let again = wait::until_some("a second probe", wait::nothing, || async {
        let all = app.get_json("/registries").await;
        let entry = all.as_array()?.first()?.clone();
        (entry["probed_at"] != first["probed_at"]).then_some(entry)
    })
    .await;

    assert_eq!(again["profile"]["scheme"], "http", "{again}");
}

//! History looks like history, and a rollback puts a tag back: a target's lists newest first with
//! the one it holds now marked (`current`, `replaced_by`, the pages' marks and operation column, an
//! earlier list's page without the edits that act on the tag but with a rollback button); a
//! rollback to a list two releases back makes the tag hold its digest — the registry's own bytes
//! copied back, or the list pushed again from its recorded entries when the registry lost them.
//! On both stores, against a real registry.

use manifold_testkit::{Pusher, TestRegistry, skopeo_inspect_raw};
use serde_json::{Value, json};
use sha2::Digest as _;

use crate::support::app::TestApp;
use crate::support::cli::{assert_demo_pulls, seed_demo};
use crate::support::on_both_stores;
use crate::support::stores::Db;

on_both_stores!(
    a_target_history_marks_what_it_holds_and_a_rollback_two_releases_back_restores_it,
    a_rollback_to_a_list_the_registry_lost_pushes_it_again_from_its_entries,
);

/// The demo's spec onto `demo:v1` with the sources `arches` (each `demo-<arch>:v0.2`).
fn spec(host: &str, arches: &[&str]) -> Value {
    let manifests: Vec<Value> = arches
        .iter()
        .map(|a| json!({"image": format!("{host}/demo-{a}:v0.2"), "platform": {"os": "linux", "architecture": a}}))
        .collect();
    json!({"image": format!("{host}/demo:v1"), "manifests": manifests})
}

async fn landed(app: &TestApp, body: &Value) -> Value {
    let id = app.submit(body).await;
    app.wait_status(&id, "succeeded").await
}

/// Asks for a rollback to `list` (`202`) and waits for it to land.
async fn rolled_back(app: &TestApp, list: &Value) -> Value {
    let answer = app
        .post(&format!("/lists/{}/rollback", list["id"].as_str().unwrap()))
        .await;
    assert_eq!(answer.status(), 202);
    let queued: Value = answer.json().await.unwrap();
    app.wait_status(queued["id"].as_str().unwrap(), "succeeded")
        .await
}

/// The digest of what `demo:v1` holds now.
async fn held(registry: &TestRegistry) -> String {
    let bytes = skopeo_inspect_raw(registry, "demo:v1").await.unwrap();
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(&bytes)))
}

async fn a_target_history_marks_what_it_holds_and_a_rollback_two_releases_back_restores_it(db: Db) {
    let registry = TestRegistry::plain().await;
    let host = registry.host();
    let (s390x, amd64) = seed_demo(&registry).await;
    let app = TestApp::spawn_on(db, |s| s.registries = vec![host.clone()]).await;
    let first = landed(&app, &spec(&host, &["s390x", "amd64"])).await;
    let second = landed(&app, &spec(&host, &["amd64"])).await;
    let mut add = spec(&host, &["s390x"]);
    add["append"] = json!(true);
    let third = landed(&app, &add).await;

    let history = app
        .get_json(&format!("/targets/{host}/demo:v1/history"))
        .await;
    let ids: Vec<&Value> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| &l["id"])
        .collect();
    assert_eq!(
        ids,
        [&third["id"], &second["id"], &first["id"]],
        "{history:#}"
    );
    assert_eq!(history["current"], third["id"]);
    assert_eq!(history["items"][0]["operation"], "append");
    let first_now = app
        .get_json(&format!("/lists/{}", first["id"].as_str().unwrap()))
        .await;
    assert_eq!(first_now["current"], false, "{first_now:#}");
    assert_eq!(first_now["replaced_by"], second["id"]);
    assert_eq!(first_now["status"], "succeeded");

    let index = app
        .get(&format!("/?target={host}/demo:v1"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(index.matches(r#"data-now="current""#).count(), 1, "{index}");
    assert_eq!(index.matches(r#"data-now="history""#).count(), 2, "{index}");
    assert!(index.contains(r#"class="operation">append<"#), "{index}");
    let page = app
        .get(&format!("/ui/lists/{}", first["id"].as_str().unwrap()))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains(r#"id="list-history""#), "{page}");
    assert!(page.contains(r#"id="rollback-form""#), "{page}");
    assert!(
        !page.contains(r#"id="add-title""#),
        "no Add a platform on history: {page}"
    );

    let rollback = rolled_back(&app, &first).await;

    assert_eq!(rollback["operation"], "rollback", "{rollback:#}");
    assert_eq!(rollback["digest"], first["digest"], "the same digest again");
    assert_eq!(held(&registry).await, first["digest"].as_str().unwrap());
    assert_demo_pulls(&registry, "demo:v1", &s390x, &amd64).await;
    let history = app
        .get_json(&format!("/targets/{host}/demo:v1/history"))
        .await;
    assert_eq!(history["current"], rollback["id"], "{history:#}");

    let stage_less = app
        .post(&format!("/lists/{}/rollback", uuid::Uuid::nil()))
        .await;
    assert_eq!(stage_less.status(), 404);
    let invalid = app.get(&format!("/targets/{host}/Demo:v1/history")).await;
    assert_eq!(invalid.status(), 400);
    let body: Value = invalid.json().await.unwrap();
    assert_eq!(body["error"]["field"], "target", "{body:#}");
}

async fn a_rollback_to_a_list_the_registry_lost_pushes_it_again_from_its_entries(db: Db) {
    let registry = TestRegistry::plain().await;
    let host = registry.host();
    let (s390x, amd64) = seed_demo(&registry).await;
    let app = TestApp::spawn_on(db, |s| s.registries = vec![host.clone()]).await;
    let mut first = spec(&host, &["s390x", "amd64"]);
    first["type"] = json!("oci");
    first["annotations"] = json!({"org.opencontainers.image.version": "1"});
    let first = landed(&app, &first).await;
    landed(&app, &spec(&host, &["amd64"])).await;
    Pusher::new(&registry)
        .delete_manifest("demo", first["digest"].as_str().unwrap())
        .await
        .unwrap();

    let rollback = rolled_back(&app, &first).await;

    assert_eq!(rollback["digest"], first["digest"], "{rollback:#}");
    assert_eq!(held(&registry).await, first["digest"].as_str().unwrap());
    assert_demo_pulls(&registry, "demo:v1", &s390x, &amd64).await;
}

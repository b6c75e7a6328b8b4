//! History looks like history, and a rollback puts a tag back: a target's lists newest first with
//! the one it holds now marked (`current`, `replaced_by`, the pages' marks and operation column, an
//! earlier list's page without the edits that act on the tag but with a rollback button); a
//! rollback to a list two releases back makes the tag hold its digest — the registry's own bytes
//! copied back, or the list pushed again from its recorded entries when the registry lost them.
//! The timeline keeps what the watch found between the lists: a tag moved by skopeo is one drift
//! event (what the tag held then, and why) between the list and the repair that put it back; a
//! check that finds what the last one found adds none, and back in sync is one more — on the API
//! and the timeline page.
//! On both stores, against a real registry.

use manifold_testkit::{Pusher, TestRegistry, skopeo_copy, skopeo_inspect_raw};
use serde_json::{Value, json};
use sha2::Digest as _;

use crate::support::app::TestApp;
use crate::support::cli::{assert_demo_pulls, put_under_tag, seed_demo};
use crate::support::on_both_stores;
use crate::support::stores::Db;
use crate::support::wait;

on_both_stores!(
    a_target_history_marks_what_it_holds_and_a_rollback_two_releases_back_restores_it,
    a_rollback_to_a_list_the_registry_lost_pushes_it_again_from_its_entries,
    a_tag_moved_by_skopeo_is_a_drift_event_between_the_list_and_the_repair_after_it,
    a_check_that_finds_nothing_new_adds_no_event_and_back_in_sync_adds_one,
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

/// `demo:v1`'s timeline, newest first.
async fn timeline(app: &TestApp, host: &str) -> Vec<Value> {
    let history = app
        .get_json(&format!("/targets/{host}/demo:v1/history"))
        .await;
    history["timeline"].as_array().unwrap().clone()
}

/// Its drift events.
fn drift_events(timeline: &[Value]) -> Vec<&Value> {
    timeline.iter().filter(|e| e["kind"] == "drift").collect()
}

/// Waits until the watch has checked `list` twice more (its `drift.checked_at` moved on twice).
async fn checked_twice(app: &TestApp, list: &Value) {
    let id = list["id"].as_str().unwrap();
    for _ in 0..2 {
        let before = app.get_json(&format!("/lists/{id}")).await["drift"]["checked_at"].clone();
        app.wait_for(id, |l| l["drift"]["checked_at"] != before)
            .await;
    }
}

async fn a_tag_moved_by_skopeo_is_a_drift_event_between_the_list_and_the_repair_after_it(db: Db) {
    let registry = TestRegistry::plain().await;
    let host = registry.host();
    let (_, amd64) = seed_demo(&registry).await;
    let app = TestApp::watching(db, &host).await;
    let mut kept = spec(&host, &["s390x", "amd64"]);
    kept["repair"] = json!("tag");
    let first = landed(&app, &kept).await;

    skopeo_copy(&registry, "demo-amd64:v0.2", "demo:v1")
        .await
        .unwrap();
    let path = format!("/targets/{host}/demo:v1/history");
    let repair = wait::until_some("the repair landing", wait::nothing, || async {
        let history = app.get_json(&path).await;
        let current = history["current"].clone();
        Some(current).filter(|c| c.is_string() && *c != first["id"])
    })
    .await;
    let repair = app.wait_status(repair.as_str().unwrap(), "succeeded").await;
    let timeline = timeline(&app, &host).await;

    assert_eq!(repair["operation"], "repair", "{repair:#}");
    let (newest, oldest) = (&timeline[0], timeline.last().unwrap());
    assert_eq!(
        (&newest["kind"], &newest["list_id"]),
        (&json!("list"), &repair["id"])
    );
    assert_eq!(newest["operation"], "repair");
    assert_eq!(
        (&oldest["kind"], &oldest["list_id"]),
        (&json!("list"), &first["id"])
    );
    // Between them the tag moved; a check made while the repair was putting it back may also
    // have found the list back in sync — nothing else.
    let between = &timeline[1..timeline.len() - 1];
    let moved = between.last().expect("a drift event between the two lists");
    assert_eq!(moved["kind"], "drift", "{timeline:#?}");
    assert_eq!(moved["list_id"], first["id"]);
    assert_eq!(moved["status"], "drifted");
    assert_eq!(moved["reasons"][0]["kind"], "tag_moved", "{moved:#}");
    assert_eq!(
        moved["observed"],
        amd64.manifest_digest.as_str(),
        "what skopeo put under the tag"
    );
    assert!(
        between[..between.len() - 1]
            .iter()
            .all(|e| e["kind"] == "drift" && e["status"] == "in_sync"),
        "{timeline:#?}"
    );
    let at = |e: &Value| {
        e["at"]
            .as_str()
            .unwrap()
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap()
    };
    assert!(
        timeline.windows(2).all(|w| at(&w[0]) >= at(&w[1])),
        "newest first: {timeline:#?}"
    );

    let page = app
        .get_text(&format!("/ui/targets/{host}/demo:v1/history"))
        .await;
    let list_row = format!(
        r#"data-kind="list" data-list="{}""#,
        repair["id"].as_str().unwrap()
    );
    let drift_row = format!(
        r#"data-kind="drift" data-list="{}""#,
        first["id"].as_str().unwrap()
    );
    let first_row = format!(
        r#"data-kind="list" data-list="{}""#,
        first["id"].as_str().unwrap()
    );
    let (a, b, c) = (
        page.find(&list_row).expect(&page),
        page.rfind(&drift_row).expect(&page),
        page.find(&first_row).expect(&page),
    );
    assert!(
        a < b && b < c,
        "the drift event shows between the two lists: {page}"
    );
    assert!(page.contains("holds another manifest"), "{page}");
    assert!(page.contains(&amd64.manifest_digest[..19]), "{page}");
}

async fn a_check_that_finds_nothing_new_adds_no_event_and_back_in_sync_adds_one(db: Db) {
    let registry = TestRegistry::plain().await;
    let host = registry.host();
    seed_demo(&registry).await;
    let app = TestApp::watching(db, &host).await;
    let first = landed(&app, &spec(&host, &["s390x", "amd64"])).await;
    let id = first["id"].as_str().unwrap();

    checked_twice(&app, &first).await;
    assert!(
        drift_events(&timeline(&app, &host).await).is_empty(),
        "in sync all along"
    );

    skopeo_copy(&registry, "demo-amd64:v0.2", "demo:v1")
        .await
        .unwrap();
    app.wait_for(id, |l| l["drift"]["status"] == "drifted")
        .await;
    checked_twice(&app, &first).await;
    let after_drift = timeline(&app, &host).await;
    let events = drift_events(&after_drift);
    assert_eq!(
        events.len(),
        1,
        "one event for the move, none for the checks after: {after_drift:#?}"
    );
    assert_eq!(events[0]["status"], "drifted");

    put_under_tag(&registry, "demo", &first["digest"], "v1").await;
    app.wait_for(id, |l| l["drift"]["status"] == "in_sync")
        .await;
    checked_twice(&app, &first).await;

    let timeline = timeline(&app, &host).await;
    let events = drift_events(&timeline);
    assert_eq!(events.len(), 2, "{timeline:#?}");
    assert_eq!(
        (&events[0]["status"], &events[1]["status"]),
        (&json!("in_sync"), &json!("drifted")),
        "back in sync is the newest"
    );
    assert_eq!(events[0]["observed"], first["digest"]);
    assert_eq!(events[0]["reasons"], json!([]));
}

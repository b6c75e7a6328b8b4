//! Repair keeps a list whole: with `repair: true`, a child deleted from the target repository
//! through the registry's API is made present again by a list of operation `repair` (the same
//! digest, and skopeo pulls that platform again); a tag moved by another tool is only reported,
//! and put back only with `repair: "tag"` — but a tag moved back to an earlier list manifold
//! pushed is put back with `true`; after 3 repairs of a target in an hour the next is not
//! queued, and the list says why. A landed list's repair is switched with `PUT /lists/{id}/repair`
//! (its revision moves, the watch uses it at once; only the list its target holds now). On both
//! stores, against a real registry, the watch every second.

use manifold_testkit::{BuiltImage, ImageFixture, Pusher, TestRegistry, skopeo_inspect_raw};
use serde_json::{Value, json};
use sha2::Digest as _;

use crate::support::app::TestApp;
use crate::support::cli::{assert_demo_pulls, put_under_tag, seed, seed_demo};
use crate::support::on_both_stores;
use crate::support::stores::Db;
use crate::support::wait;

on_both_stores!(
    a_child_deleted_from_the_target_is_repaired_under_the_same_digest_and_pulls_again,
    a_tag_moved_by_another_tool_is_reported_and_put_back_only_with_repair_tag,
    after_three_repairs_in_an_hour_the_next_is_not_queued_and_the_list_says_why,
    a_tag_moved_back_to_an_earlier_list_manifold_pushed_is_put_back_with_repair_true,
    repair_is_switched_on_a_landed_list_and_the_watch_uses_it,
);

/// The demo's two platforms onto `demo:<tag>`, kept whole as `repair` says.
fn spec(host: &str, tag: &str, repair: Value) -> Value {
    let manifests: Vec<Value> = ["s390x", "amd64"]
        .iter()
        .map(|a| json!({"image": format!("{host}/demo-{a}:v0.2"), "platform": {"os": "linux", "architecture": a}}))
        .collect();
    json!({"image": format!("{host}/demo:{tag}"), "manifests": manifests, "repair": repair})
}

/// The list `demo:<tag>` holds by the service's history once another than `before` landed.
async fn landed_after(app: &TestApp, host: &str, tag: &str, before: &Value) -> Value {
    let path = format!("/targets/{host}/demo:{tag}/history");
    let id = wait::until_some("another list landing", wait::nothing, || async {
        let history = app.get_json(&path).await;
        Some(history["current"].clone()).filter(|c| c.is_string() && *c != before["id"])
    })
    .await;
    app.wait_status(id.as_str().unwrap(), "succeeded").await
}

/// Deletes `child` from the target repository through the registry's API.
async fn delete(registry: &TestRegistry, child: &BuiltImage) {
    Pusher::new(registry)
        .delete_manifest("demo", &child.manifest_digest)
        .await
        .unwrap();
}

/// The digest of what `demo:<tag>` holds now.
async fn held(registry: &TestRegistry, tag: &str) -> String {
    let bytes = skopeo_inspect_raw(registry, &format!("demo:{tag}"))
        .await
        .unwrap();
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(&bytes)))
}

fn has_reason(list: &Value, kind: &str) -> bool {
    list["drift"]["reasons"]
        .as_array()
        .is_some_and(|r| r.iter().any(|r| r["kind"] == kind))
}

async fn landed(app: &TestApp, body: &Value) -> Value {
    let id = app.submit(body).await;
    app.wait_status(&id, "succeeded").await
}

async fn a_child_deleted_from_the_target_is_repaired_under_the_same_digest_and_pulls_again(db: Db) {
    let registry = TestRegistry::plain().await;
    let host = registry.host();
    let (s390x, amd64) = seed_demo(&registry).await;
    let app = TestApp::watching(db, &host).await;
    let first = landed(&app, &spec(&host, "v1", json!(true))).await;
    assert_eq!(first["repair"], true, "{first:#}");

    delete(&registry, &amd64).await;
    let repair = landed_after(&app, &host, "v1", &first).await;

    assert_eq!(repair["operation"], "repair", "{repair:#}");
    assert_eq!(repair["digest"], first["digest"], "the same document");
    assert_eq!(repair["repair"], true, "the repair keeps the option");
    let page = app
        .get_text(&format!("/ui/lists/{}", first["id"].as_str().unwrap()))
        .await;
    assert!(
        page.contains(r#"id="list-repair">yes"#),
        "the page says it is kept whole: {page}"
    );
    let page = app
        .get_text(&format!("/ui/lists/{}", repair["id"].as_str().unwrap()))
        .await;
    assert!(
        page.contains("(it was no longer whole)"),
        "a repair's page says what it repairs: {page}"
    );
    assert_eq!(
        held(&registry, "v1").await,
        first["digest"].as_str().unwrap()
    );
    assert_demo_pulls(&registry, "demo:v1", &s390x, &amd64).await;
}

async fn a_tag_moved_by_another_tool_is_reported_and_put_back_only_with_repair_tag(db: Db) {
    let registry = TestRegistry::plain().await;
    let host = registry.host();
    let (s390x, amd64) = seed_demo(&registry).await;
    let app = TestApp::watching(db, &host).await;
    let kept = landed(&app, &spec(&host, "v1", json!(true))).await;
    let tagged = landed(&app, &spec(&host, "v2", json!("tag"))).await;
    assert_eq!(tagged["repair"], "tag", "{tagged:#}");

    let other = seed(
        &registry,
        "demo",
        "v1",
        ImageFixture::new("linux", "arm64", None),
    )
    .await;
    let id = kept["id"].as_str().unwrap();
    let reported = app.wait_for(id, |l| has_reason(l, "tag_moved")).await;
    seed(
        &registry,
        "demo",
        "v2",
        ImageFixture::new("linux", "arm64", None),
    )
    .await;
    let restored = landed_after(&app, &host, "v2", &tagged).await;

    assert_eq!(reported["drift"]["status"], "drifted", "{reported:#}");
    let lists = app.get_json(&format!("/lists?target={host}/demo:v1")).await;
    assert_eq!(
        lists["items"].as_array().unwrap().len(),
        1,
        "no repair of a tag another tool moved: {lists:#}"
    );
    assert_eq!(
        held(&registry, "v1").await,
        other.manifest_digest.as_str(),
        "left as the other tool put it"
    );
    assert_eq!(restored["operation"], "repair", "{restored:#}");
    assert_eq!(restored["digest"], tagged["digest"]);
    assert_eq!(
        held(&registry, "v2").await,
        tagged["digest"].as_str().unwrap()
    );
    assert_demo_pulls(&registry, "demo:v2", &s390x, &amd64).await;
}

async fn after_three_repairs_in_an_hour_the_next_is_not_queued_and_the_list_says_why(db: Db) {
    let registry = TestRegistry::plain().await;
    let host = registry.host();
    let (_, amd64) = seed_demo(&registry).await;
    let app = TestApp::watching(db, &host).await;
    let mut current = landed(&app, &spec(&host, "v1", json!(true))).await;

    for n in 1..=3 {
        delete(&registry, &amd64).await;
        current = landed_after(&app, &host, "v1", &current).await;
        assert_eq!(current["operation"], "repair", "repair {n}: {current:#}");
    }
    delete(&registry, &amd64).await;
    let id = current["id"].as_str().unwrap();
    let stopped = app
        .wait_for(id, |l| {
            l["drift"]["error"]
                .as_str()
                .is_some_and(|e| e.contains("repair stopped"))
        })
        .await;

    assert!(has_reason(&stopped, "child_missing"), "{stopped:#}");
    let lists = app.get_json(&format!("/lists?target={host}/demo:v1")).await;
    assert_eq!(
        lists["items"].as_array().unwrap().len(),
        4,
        "the push and three repairs, no fourth: {lists:#}"
    );
    assert!(
        stopped["drift"]["error"]
            .as_str()
            .unwrap()
            .contains("3 repairs"),
        "{stopped:#}"
    );
}

async fn a_tag_moved_back_to_an_earlier_list_manifold_pushed_is_put_back_with_repair_true(db: Db) {
    let registry = TestRegistry::plain().await;
    let host = registry.host();
    seed_demo(&registry).await;
    let app = TestApp::watching(db, &host).await;
    let earlier = landed(&app, &spec(&host, "v1", json!(true))).await;
    let mut annotated = spec(&host, "v1", json!(true));
    annotated["annotations"] = json!({"org.opencontainers.image.version": "2"});
    let now = landed(&app, &annotated).await;
    assert_ne!(now["digest"], earlier["digest"]);

    put_under_tag(&registry, "demo", &earlier["digest"], "v1").await;
    let repair = landed_after(&app, &host, "v1", &now).await;

    assert_eq!(repair["operation"], "repair", "{repair:#}");
    assert_eq!(repair["digest"], now["digest"]);
    assert_eq!(held(&registry, "v1").await, now["digest"].as_str().unwrap());
}

/// `PUT /lists/{id}/repair` with `body`: the status and the answer.
async fn put_repair(app: &TestApp, id: &Value, body: &Value) -> (u16, Value) {
    let answer = app
        .request(
            reqwest::Method::PUT,
            &format!("/lists/{}/repair", id.as_str().unwrap()),
        )
        .json(body)
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap())
}

/// The `ETag` of `GET /lists/{id}`.
async fn etag(app: &TestApp, id: &Value) -> String {
    let answer = app.get(&format!("/lists/{}", id.as_str().unwrap())).await;
    answer.headers()["etag"].to_str().unwrap().to_owned()
}

async fn repair_is_switched_on_a_landed_list_and_the_watch_uses_it(db: Db) {
    let registry = TestRegistry::plain().await;
    let host = registry.host();
    let (_, amd64) = seed_demo(&registry).await;
    let app = TestApp::watching(db, &host).await;
    let first = landed(&app, &spec(&host, "v1", json!(false))).await;
    let kept_tag = etag(&app, &first["id"]).await;

    let (status, on) = put_repair(&app, &first["id"], &json!({"repair": true})).await;

    assert_eq!(status, 200, "{on:#}");
    assert_eq!(on["repair"], true, "{on:#}");
    assert_ne!(
        etag(&app, &first["id"]).await,
        kept_tag,
        "its revision moved on"
    );
    assert_eq!(
        app.get_json(&format!("/lists/{}", first["id"].as_str().unwrap()))
            .await["repair"],
        true
    );
    delete(&registry, &amd64).await;
    let repair = landed_after(&app, &host, "v1", &first).await;
    assert_eq!(
        repair["operation"], "repair",
        "the watch used it: {repair:#}"
    );
    assert_eq!(repair["repair"], true, "{repair:#}");

    let (status, refused) = put_repair(&app, &first["id"], &json!({"repair": false})).await;
    assert_eq!(status, 409, "a replaced list is history: {refused:#}");
    let (status, bad) = put_repair(&app, &repair["id"], &json!({"repair": "always"})).await;
    assert_eq!(
        (status, &bad["error"]["field"]),
        (400, &json!("repair")),
        "{bad:#}"
    );
    let (status, _) = put_repair(
        &app,
        &json!(uuid::Uuid::nil().to_string()),
        &json!({"repair": true}),
    )
    .await;
    assert_eq!(status, 404);

    let (status, off) = put_repair(&app, &repair["id"], &json!({"repair": false})).await;
    assert_eq!((status, &off["repair"]), (200, &json!(false)), "{off:#}");
    delete(&registry, &amd64).await;
    let id = repair["id"].as_str().unwrap();
    let reported = app.wait_for(id, |l| has_reason(l, "child_missing")).await;
    checked_again(&app, &reported).await;
    let lists = app.get_json(&format!("/lists?target={host}/demo:v1")).await;
    assert_eq!(
        lists["items"].as_array().unwrap().len(),
        2,
        "switched off: only reported, not repaired: {lists:#}"
    );
}

/// Waits until the watch has checked `list` again after the answer given.
async fn checked_again(app: &TestApp, list: &Value) {
    let before = list["drift"]["checked_at"].clone();
    app.wait_for(list["id"].as_str().unwrap(), |l| {
        l["drift"]["checked_at"] != before
    })
    .await;
}

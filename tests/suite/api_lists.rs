//! The `/lists` API against a real registry, on PostgreSQL and on the embedded SQLite store.

use manifold_testkit::media_types::ACCEPT_ALL;
use manifold_testkit::{Pusher, TestRegistry};
use serde_json::{Value, json};

use crate::support::app::TestApp;
use crate::support::cli::{assert_pulls, seed_demo};
use crate::support::demo::demo_spec;
use crate::support::on_both_stores;
use crate::support::stores::Db;

// Every test here runs on both stores: the API behaves the same whichever keeps the data.
on_both_stores!(
    the_demo_submitted_as_yaml_is_pushed_and_its_digests_recorded,
    the_demo_submitted_as_json_with_options_is_pushed_as_an_oci_index_with_tags,
    invalid_specs_are_refused_with_the_field_and_position_and_nothing_is_queued,
    a_repeated_request_with_the_same_idempotency_key_answers_the_first_list,
    a_dry_run_answers_the_exact_list_and_writes_nothing,
    a_missing_source_fails_the_list_with_the_registry_error_and_retry_requeues_it,
    a_registry_that_is_down_is_retried_then_failed_with_a_clear_error,
    lists_are_listed_newest_first_filtered_and_paged,
    a_queued_list_can_be_canceled_and_is_then_never_pushed,
    the_format_asked_in_the_query_gives_the_digest_manifest_tool_gave,
);

async fn the_demo_submitted_as_yaml_is_pushed_and_its_digests_recorded(db: Db) {
    let registry = TestRegistry::plain().await;
    let (s390x, amd64) = seed_demo(&registry).await;
    let app = TestApp::spawn_on(db, |_| {}).await;

    let response = app.post_yaml(&demo_spec(&registry.host()).yaml()).await;

    assert_eq!(response.status(), 202);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let queued: Value = response.json().await.unwrap();
    assert_eq!(
        location,
        format!("/lists/{}", queued["id"].as_str().unwrap())
    );
    let list = app.wait_final(queued["id"].as_str().unwrap()).await;
    assert_eq!(list["status"], "succeeded", "{list:#}");
    let stored = Pusher::new(&registry)
        .get_manifest("demo", "v0.2", ACCEPT_ALL)
        .await
        .unwrap();
    assert_eq!(list["digest"].as_str(), stored.digest.as_deref());
    assert_eq!(list["size"], stored.bytes.len());
    assert_eq!(list["media_type"], stored.media_type.as_str());
    assert_eq!(list["entries"][0]["digest"], s390x.manifest_digest.as_str());
    assert_eq!(list["entries"][1]["digest"], amd64.manifest_digest.as_str());
    assert_eq!(list["entries"][1]["platform"]["architecture"], "amd64");
    assert_eq!(list["attempts"], 1);
    assert_eq!(list["spec"]["format"], "yaml");
    assert_pulls(
        &registry,
        "demo:v0.2",
        &[("linux", "s390x", None, &s390x.manifest_digest)],
    )
    .await;
}

async fn the_demo_submitted_as_json_with_options_is_pushed_as_an_oci_index_with_tags(db: Db) {
    let registry = TestRegistry::plain().await;
    seed_demo(&registry).await;
    let app = TestApp::spawn_on(db, |_| {}).await;
    let host = registry.host();

    let response = app
        .post_json(&json!({
            "image": format!("{host}/demo:v1"),
            "tags": ["v1.0", "latest"],
            "type": "oci",
            "manifests": [
                {"image": format!("{host}/demo-s390x:v0.2"), "platform": {"architecture": "s390x", "os": "linux"}},
                {"image": format!("{host}/demo-amd64:v0.2")}
            ]
        }))
        .await;

    assert_eq!(response.status(), 202);
    let queued: Value = response.json().await.unwrap();
    let list = app.wait_final(queued["id"].as_str().unwrap()).await;
    assert_eq!(list["status"], "succeeded", "{list:#}");
    assert_eq!(list["type"], "oci");
    assert_eq!(
        list["media_type"],
        "application/vnd.oci.image.index.v1+json"
    );
    let pusher = Pusher::new(&registry);
    for tag in ["v1", "v1.0", "latest"] {
        let stored = pusher.get_manifest("demo", tag, ACCEPT_ALL).await.unwrap();
        assert_eq!(
            stored.digest.as_deref(),
            list["digest"].as_str(),
            "tag {tag}"
        );
    }
}

async fn invalid_specs_are_refused_with_the_field_and_position_and_nothing_is_queued(db: Db) {
    let app = TestApp::spawn_on(db, |_| {}).await;
    let cases = [
        (
            "application/yaml",
            "image: 127.0.0.1:9/demo:v1\nmanifests:\n  - image: 127.0.0.1:9/a:v1\n    platfrom: {os: linux}\n",
            "manifests[0].platfrom",
            Some(4),
        ),
        (
            "application/yaml",
            "image: 127.0.0.1:9/demo:v1\nmanifests:\n  - image: 127.0.0.1:9/a:v1\n    platform: {os: linux, architecture: arm64}\n  - image: 127.0.0.1:9/b:v1\n    platform: {os: linux, architecture: aarch64}\n",
            "manifests[1].platform",
            Some(6),
        ),
        (
            "application/yaml",
            "image: 127.0.0.1:9/demo:v1\nmanifests: []\n",
            "manifests",
            Some(2),
        ),
        (
            "application/json",
            "{\"image\": \"127.0.0.1:9/Bad:v1\", \"manifests\": [{\"image\": \"127.0.0.1:9/a:v1\"}]}",
            "image",
            Some(1),
        ),
        (
            "application/yaml",
            "image: 127.0.0.1:9/demo:v1\nmanifests:\n  - image: 127.0.0.1:9/a:v1\ncallback_url: ftp://x/y\n",
            "callback_url",
            Some(4),
        ),
        // Several targets are a publish, which neither appends nor stages.
        (
            "application/yaml",
            "image: [127.0.0.1:9/demo:v1, 127.0.0.2:9/demo:v1]\nappend: true\nmanifests:\n  - image: 127.0.0.1:9/a:v1\n",
            "append",
            None,
        ),
        (
            "application/json",
            "{\"targets\": [\"127.0.0.1:9/demo:v1\", \"127.0.0.2:9/demo:v1\"], \"expect\": [\"linux/amd64\"], \"manifests\": [{\"image\": \"127.0.0.1:9/a:v1\"}]}",
            "expect",
            None,
        ),
    ];
    for (content_type, body, field, line) in cases {
        let response = app.post_as("/lists", content_type, body).await;
        assert_eq!(response.status(), 400, "{body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], "INVALID_SPEC", "{error:#}");
        assert_eq!(error["error"]["field"], field, "{error:#}");
        assert_eq!(
            error["error"]["line"].as_u64(),
            line.map(|l| l as u64),
            "{error:#}"
        );
    }
    let page = app.get_json("/lists").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 0);
}

async fn a_repeated_request_with_the_same_idempotency_key_answers_the_first_list(db: Db) {
    let registry = TestRegistry::plain().await;
    seed_demo(&registry).await;
    let app = TestApp::spawn_on(db, |_| {}).await;
    let body = demo_spec(&registry.host()).target("demo:idem").yaml();
    let send = |body: String| {
        app.request(reqwest::Method::POST, "/lists")
            .header("content-type", "application/yaml")
            .header("Idempotency-Key", "release-42")
            .body(body)
            .send()
    };

    let first: Value = send(body.clone()).await.unwrap().json().await.unwrap();
    let again = send(body.clone()).await.unwrap();
    assert_eq!(again.status(), 202);
    let again: Value = again.json().await.unwrap();
    let other = send(body.replace("demo:idem", "demo:other")).await.unwrap();

    assert_eq!(first["id"], again["id"]);
    assert_eq!(other.status(), 422);
    let page = app.get_json("/lists").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
}

async fn a_dry_run_answers_the_exact_list_and_writes_nothing(db: Db) {
    let registry = TestRegistry::plain().await;
    seed_demo(&registry).await;
    let app = TestApp::spawn_on(db, |_| {}).await;

    let response = app
        .post_as(
            "/lists?dry_run=true",
            "application/yaml",
            demo_spec(&registry.host()).target("demo:dry").yaml(),
        )
        .await;

    assert_eq!(response.status(), 200);
    let dry: Value = response.json().await.unwrap();
    let document = dry["document"].as_str().unwrap();
    assert_eq!(
        manifold_testkit::sha256_digest(document.as_bytes()),
        dry["digest"].as_str().unwrap()
    );
    assert_eq!(dry["entries"].as_array().unwrap().len(), 2);
    assert!(
        Pusher::new(&registry)
            .get_tags("demo")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        app.get_json("/lists").await["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    // The real push gives the same digest.
    let queued: Value = app
        .post_yaml(&demo_spec(&registry.host()).target("demo:dry").yaml())
        .await
        .json()
        .await
        .unwrap();
    let list = app.wait_final(queued["id"].as_str().unwrap()).await;
    assert_eq!(list["digest"], dry["digest"]);
}

async fn a_missing_source_fails_the_list_with_the_registry_error_and_retry_requeues_it(db: Db) {
    let registry = TestRegistry::plain().await;
    let app = TestApp::spawn_on(db, |_| {}).await;

    let queued: Value = app
        .post_yaml(&demo_spec(&registry.host()).target("demo:missing").yaml())
        .await
        .json()
        .await
        .unwrap();
    let id = queued["id"].as_str().unwrap();
    let list = app.wait_final(id).await;

    assert_eq!(list["status"], "failed");
    assert_eq!(list["attempts"], 1, "a 404 is not retried");
    assert_eq!(list["error"]["code"], "MANIFEST_UNKNOWN", "{list:#}");
    assert!(
        list["error"]["message"]
            .as_str()
            .unwrap()
            .contains("demo-s390x:v0.2"),
        "{list:#}"
    );
    // Now the sources exist: retry succeeds.
    seed_demo(&registry).await;
    let retried = app.post(&format!("/lists/{id}/retry")).await;
    assert_eq!(retried.status(), 202);
    let list = app.wait_final(id).await;
    assert_eq!(list["status"], "succeeded", "{list:#}");
    assert_eq!(list["attempts"], 2);
    assert!(list["error"].is_null());
    let conflict = app.post(&format!("/lists/{id}/retry")).await;
    assert_eq!(conflict.status(), 409);
}

async fn a_registry_that_is_down_is_retried_then_failed_with_a_clear_error(db: Db) {
    let app = TestApp::spawn_on(db, |a| a.job_max_attempts = Some(3)).await;
    // Nothing listens on port 9 of 127.0.0.1.
    let queued: Value = app
        .post_yaml(&demo_spec("127.0.0.1:9").target("demo:down").yaml())
        .await
        .json()
        .await
        .unwrap();

    let list = app.wait_final(queued["id"].as_str().unwrap()).await;

    assert_eq!(list["status"], "failed");
    assert_eq!(list["attempts"], 3);
    assert_eq!(list["error"]["code"], "REGISTRY_UNREACHABLE");
    assert!(
        list["error"]["message"]
            .as_str()
            .unwrap()
            .contains("127.0.0.1:9"),
        "{list:#}"
    );
}

async fn lists_are_listed_newest_first_filtered_and_paged(db: Db) {
    let app = TestApp::spawn_on(db, |a| a.workers = Some(0)).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let target = if i % 2 == 0 { "even:v1" } else { "odd:v1" };
        let v: Value = app
            .post_yaml(&demo_spec("127.0.0.1:9").target(target).yaml())
            .await
            .json()
            .await
            .unwrap();
        ids.push(v["id"].as_str().unwrap().to_owned());
    }

    let first = app.get_json("/lists?limit=2").await;
    let second = app
        .get_json(&format!(
            "/lists?limit=2&cursor={}",
            first["next_cursor"].as_str().unwrap()
        ))
        .await;
    let third = app
        .get_json(&format!(
            "/lists?limit=2&cursor={}",
            second["next_cursor"].as_str().unwrap()
        ))
        .await;
    let even = app.get_json("/lists?target=127.0.0.1:9/even").await;
    let queued = app.get_json("/lists?status=queued").await;

    let got: Vec<&str> = [&first, &second, &third]
        .iter()
        .flat_map(|p| {
            p["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["id"].as_str().unwrap())
        })
        .collect();
    let newest_first: Vec<&str> = ids.iter().rev().map(String::as_str).collect();
    assert_eq!(got, newest_first);
    assert!(third["next_cursor"].is_null());
    assert_eq!(even["items"].as_array().unwrap().len(), 3);
    assert_eq!(queued["items"].as_array().unwrap().len(), 5);
    let bad = app.get("/lists?cursor=nonsense").await;
    assert_eq!(bad.status(), 400);
}

async fn a_queued_list_can_be_canceled_and_is_then_never_pushed(db: Db) {
    let app = TestApp::spawn_on(db, |a| a.workers = Some(0)).await;
    let queued: Value = app
        .post_yaml(&demo_spec("127.0.0.1:9").target("demo:c").yaml())
        .await
        .json()
        .await
        .unwrap();
    let id = queued["id"].as_str().unwrap();

    let canceled = app.post(&format!("/lists/{id}/cancel")).await;

    assert_eq!(canceled.status(), 202);
    let list = app.get_json(&format!("/lists/{id}")).await;
    assert_eq!(list["status"], "canceled");
    assert!(list["finished_at"].is_string());
    let again = app.post(&format!("/lists/{id}/cancel")).await;
    assert_eq!(again.status(), 409);
    let missing = app.get("/lists/00000000-0000-0000-0000-000000000000").await;
    assert_eq!(missing.status(), 404);
}

/// The digest of the list manifest-tool v2.2.1 pushed for the demo's spec (its two images,
/// s390x then amd64, with their platforms; `push from-spec`, a Docker list), recorded as
/// `tests/golden/manifest-tool/README.md` says.
const MANIFEST_TOOL_DEMO: &str =
    "sha256:a1f73d4d0bf9f6ea97a0d7fa9e22a15f81c3f04e296637ed1b8fe8fe01908867";

async fn the_format_asked_in_the_query_gives_the_digest_manifest_tool_gave(db: Db) {
    let registry = TestRegistry::plain().await;
    seed_demo(&registry).await;
    let app = TestApp::spawn_on(db, |_| {}).await;
    let yaml = demo_spec(&registry.host()).yaml();

    let response = app
        .post_as("/lists?format=manifest-tool", "application/yaml", yaml)
        .await;

    assert_eq!(response.status(), 202);
    let queued: Value = response.json().await.unwrap();
    assert_eq!(queued["format"], "manifest-tool");
    let list = app.wait_final(queued["id"].as_str().unwrap()).await;
    assert_eq!(list["status"], "succeeded", "{list:#}");
    assert_eq!(list["digest"], MANIFEST_TOOL_DEMO, "{list:#}");
}

//! `/removals` and `/copies` against real registries, on PostgreSQL and on SQLite: an entry is
//! removed from what the target holds, a list is copied to another registry with its digest,
//! bad bodies are refused naming the field, a repeated request answers the first list, and only
//! a list pushed from a spec can be followed.

use manifold_testkit::media_types::ACCEPT_ALL;
use manifold_testkit::{Pusher, TestRegistry};
use serde_json::{Value, json};

use crate::support::app::TestApp;
use crate::support::cli::{assert_demo_copied, assert_pulls, seed_demo};
use crate::support::demo::demo_spec;
use crate::support::on_both_stores;
use crate::support::stores::Db;

on_both_stores!(
    a_removal_pushes_what_the_target_holds_without_the_platform,
    a_copy_takes_a_list_to_another_registry_with_its_digest,
    bad_removal_and_copy_bodies_are_refused_naming_the_field_and_nothing_is_queued,
    a_repeated_removal_with_the_same_idempotency_key_answers_the_first_list,
    following_is_asked_for_by_list_or_query_and_refused_where_there_is_no_spec,
);

async fn a_removal_pushes_what_the_target_holds_without_the_platform(db: Db) {
    let registry = TestRegistry::plain().await;
    let (_, amd64) = seed_demo(&registry).await;
    let host = registry.host();
    let app = TestApp::spawn_on(db, |_| {}).await;
    let pushed = app
        .submit(&demo_spec(&host).target("demo:v0.2").json())
        .await;
    app.wait_status(&pushed, "succeeded").await;
    let target = format!("{host}/demo:v0.2");

    let response = app
        .post_json_to(
            "/removals",
            &json!({"target": target, "platforms": ["linux/s390x"]}),
        )
        .await;

    assert_eq!(response.status(), 202);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let queued: Value = response.json().await.unwrap();
    assert_eq!(queued["operation"], "remove");
    assert_eq!(
        location,
        format!("/lists/{}", queued["id"].as_str().unwrap())
    );
    let removed = app
        .wait_status(queued["id"].as_str().unwrap(), "succeeded")
        .await;
    let entries = removed["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{removed:#}");
    assert_eq!(entries[0]["digest"], amd64.manifest_digest.as_str());
    let stored = Pusher::new(&registry)
        .get_manifest("demo", "v0.2", ACCEPT_ALL)
        .await
        .unwrap();
    assert_eq!(removed["digest"].as_str(), stored.digest.as_deref());
    let document: Value = serde_json::from_slice(&stored.bytes).unwrap();
    assert_eq!(document["manifests"].as_array().unwrap().len(), 1);
    assert_pulls(
        &registry,
        "demo:v0.2",
        &[("linux", "amd64", None, &amd64.manifest_digest)],
    )
    .await;

    let last = app
        .submit_to(
            "/removals",
            &json!({"target": target, "platforms": ["linux/amd64"]}),
        )
        .await;
    let refused = app.wait_status(&last, "failed").await;
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(message.contains("every image"), "{refused:#}");
    let still = Pusher::new(&registry)
        .get_manifest("demo", "v0.2", ACCEPT_ALL)
        .await
        .unwrap();
    assert_eq!(
        still.digest, stored.digest,
        "a failed removal writes nothing"
    );
}

async fn a_copy_takes_a_list_to_another_registry_with_its_digest(db: Db) {
    let (staging, production) = (TestRegistry::plain().await, TestRegistry::plain().await);
    let (s390x, amd64) = seed_demo(&staging).await;
    let app = TestApp::spawn_on(db, |_| {}).await;
    let pushed = app
        .submit(&demo_spec(&staging.host()).target("demo:v0.2").json())
        .await;
    let pushed = app.wait_status(&pushed, "succeeded").await;
    let body = json!({
        "source": format!("{}/demo:v0.2", staging.host()),
        "target": format!("{}/release/demo:v0.2", production.host()),
        "tags": ["stable"],
    });

    let copied = app.submit_to("/copies", &body).await;

    let copied = app.wait_status(&copied, "succeeded").await;
    assert_eq!(copied["operation"], "copy");
    assert_eq!(copied["digest"], pushed["digest"]);
    assert_eq!(copied["tags"], json!(["stable"]));
    assert_eq!(copied["entries"].as_array().unwrap().len(), 2);
    assert_demo_copied(&production, pushed["digest"].as_str(), &s390x, &amd64).await;
}

async fn bad_removal_and_copy_bodies_are_refused_naming_the_field_and_nothing_is_queued(db: Db) {
    let app = TestApp::spawn_on(db, |a| a.registries = vec!["127.0.0.1:9".to_owned()]).await;
    let digest = format!("sha256:{}", "a".repeat(64));
    let cases = [
        (
            "/removals",
            json!({"target": "127.0.0.1:9/demo:v1", "platform": ["linux/amd64"]}),
            "INVALID_BODY",
            "platform",
        ),
        (
            "/removals",
            json!({"target": "127.0.0.1:9/demo:v1", "platforms": ["linux/amd64", "Linux/"]}),
            "INVALID_BODY",
            "platforms[1]",
        ),
        (
            "/removals",
            json!({"target": "127.0.0.1:9/demo:v1", "digests": ["sha256:short"]}),
            "INVALID_BODY",
            "digests[0]",
        ),
        (
            "/removals",
            json!({"target": "127.0.0.1:9/demo:v1"}),
            "INVALID_BODY",
            "platforms",
        ),
        (
            "/removals",
            json!({"target": format!("127.0.0.1:9/demo@{digest}"), "digests": [digest]}),
            "INVALID_BODY",
            "target",
        ),
        (
            "/removals",
            json!({"target": 7, "platforms": ["linux/amd64"]}),
            "INVALID_BODY",
            "target",
        ),
        (
            "/copies",
            json!({"source": "127.0.0.1:9/a:v1", "target": "127.0.0.1:9/b:v1", "tags": ["no/slash"]}),
            "INVALID_BODY",
            "tags[0]",
        ),
        (
            "/copies",
            json!({"source": "127.0.0.1:9/Bad:v1", "target": "127.0.0.1:9/b:v1"}),
            "INVALID_BODY",
            "source",
        ),
        (
            "/copies",
            json!({"source": "127.0.0.1:8/a:v1", "target": "127.0.0.1:9/b:v1"}),
            "REGISTRY_NOT_ALLOWED",
            "source",
        ),
        (
            "/copies",
            json!({"source": "127.0.0.1:9/a:v1", "target": "127.0.0.1:9/b:v1",
                   "callback_url": "http://example.com/hook"}),
            "CALLBACK_NOT_ALLOWED",
            "callback_url",
        ),
    ];
    for (path, body, code, field) in cases {
        let response = app.post_json_to(path, &body).await;
        let status = response.status();
        let error: Value = response.json().await.unwrap();
        assert!(status == 400 || status == 403, "{status} {body}");
        assert_eq!(error["error"]["code"], code, "{body} {error:#}");
        assert_eq!(error["error"]["field"], field, "{body} {error:#}");
    }
    let not_json = app
        .request(reqwest::Method::POST, "/removals")
        .header("content-type", "application/json")
        .body("{\"target\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 400);
    let yaml = app
        .post_as(
            "/copies",
            "application/yaml",
            "source: 127.0.0.1:9/a:v1\ntarget: 127.0.0.1:9/b:v1\n",
        )
        .await;
    assert_eq!(yaml.status(), 415);
    let error: Value = yaml.json().await.unwrap();
    assert_eq!(error["error"]["code"], "UNSUPPORTED_MEDIA_TYPE");
    let many: Vec<String> = (0..101).map(|i| format!("t{i}")).collect();
    let tags = app
        .post_json_to(
            "/copies",
            &json!({"source": "127.0.0.1:9/a:v1", "target": "127.0.0.1:9/b:v1", "tags": many}),
        )
        .await;
    assert_eq!(tags.status(), 400);
    let error: Value = tags.json().await.unwrap();
    assert_eq!(error["error"]["field"], "tags", "{error:#}");
    let page = app.get_json("/lists").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 0);
}

async fn a_repeated_removal_with_the_same_idempotency_key_answers_the_first_list(db: Db) {
    let app = TestApp::spawn_on(db, |a| a.workers = Some(0)).await;
    let send = |platform: &str| {
        app.request(reqwest::Method::POST, "/removals")
            .header("Idempotency-Key", "drop-s390x")
            .json(&json!({"target": "127.0.0.1:9/demo:v1", "platforms": [platform]}))
            .send()
    };

    let first: Value = send("linux/s390x").await.unwrap().json().await.unwrap();
    let again: Value = send("linux/s390x").await.unwrap().json().await.unwrap();
    let other = send("linux/amd64").await.unwrap();

    assert_eq!(first["id"], again["id"]);
    assert_eq!(first["operation"], "remove");
    assert_eq!(other.status(), 422);
    let page = app.get_json("/lists").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
}

async fn following_is_asked_for_by_list_or_query_and_refused_where_there_is_no_spec(db: Db) {
    let app = TestApp::spawn_on(db, |a| a.workers = Some(0)).await;
    let spec = demo_spec("127.0.0.1:9").target("demo:f").json();
    let by_query: Value = app
        .request(reqwest::Method::POST, "/lists?follow=true")
        .json(&spec)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let plain = app.submit(&spec).await;
    let removal = app
        .submit_to(
            "/removals",
            &json!({"target": "127.0.0.1:9/demo:f", "platforms": ["linux/s390x"]}),
        )
        .await;

    let followed: Value = app
        .post(&format!("/lists/{plain}/follow"))
        .await
        .json()
        .await
        .unwrap();
    let refused = app.post(&format!("/lists/{removal}/follow")).await;
    let missing = app.post("/lists/not-a-list/unfollow").await;
    let unfollowed: Value = app
        .post(&format!("/lists/{plain}/unfollow"))
        .await
        .json()
        .await
        .unwrap();

    assert_eq!(by_query["follow"], true, "{by_query:#}");
    assert_eq!(followed["follow"], true, "{followed:#}");
    assert_eq!(refused.status(), 409);
    let error: Value = refused.json().await.unwrap();
    assert_eq!(error["error"]["code"], "CONFLICT");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("pushed from a spec"),
        "{error:#}"
    );
    assert_eq!(missing.status(), 404);
    assert_eq!(unfollowed["follow"], false);
    let other: Value = app
        .get_json(&format!("/lists/{}", by_query["id"].as_str().unwrap()))
        .await;
    assert_eq!(
        other["follow"], true,
        "unfollowing one list leaves another alone"
    );
}

//! Hostile input at the edge of the service: a NUL character anywhere in a request (which
//! PostgreSQL cannot store and SQLite can) is refused alike on both stores with a 400 naming the
//! field, by the API and the pages.

use serde_json::{Value, json};

use crate::support::app::TestApp;
use crate::support::forms::{csrf, post_form};
use crate::support::on_both_stores;
use crate::support::stores::Db;

/// A spec of two sources on a registry nothing listens on (nothing is pushed: no workers run).
fn spec() -> Value {
    json!({
        "image": "127.0.0.1:9/demo:v1",
        "manifests": [{"image": "127.0.0.1:9/a:v1"}, {"image": "127.0.0.1:9/b:v1"}]
    })
}

/// The spec with `change` made to it.
fn spec_with(change: impl FnOnce(&mut Value)) -> Value {
    let mut spec = spec();
    change(&mut spec);
    spec
}

/// Asserts a 400 in the error envelope (JSON) with `code` and `field`.
async fn assert_refused(answer: reqwest::Response, code: &str, field: &str, what: &str) {
    assert_eq!(answer.status(), 400, "{what}");
    let content_type = answer.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with("application/json"), "{what}");
    let error: Value = answer.json().await.unwrap();
    assert_eq!(error["error"]["code"], code, "{what}: {error:#}");
    assert_eq!(error["error"]["field"], field, "{what}: {error:#}");
}

on_both_stores!(
    a_nul_anywhere_in_a_submission_is_refused_naming_its_field_and_nothing_is_kept,
    the_pages_answer_a_nul_with_their_form_and_a_400_never_a_500,
);

async fn a_nul_anywhere_in_a_submission_is_refused_naming_its_field_and_nothing_is_kept(db: Db) {
    let app = TestApp::spawn_on(db, |a| a.workers = Some(0)).await;
    let specs = [
        (
            spec_with(|s| s["manifests"][1]["annotations"] = json!({"org.example": "a\0b"})),
            "manifests[1].annotations.org.example",
        ),
        (
            spec_with(|s| s["manifests"][1]["annotations"] = json!({"org\0example": "v"})),
            "manifests[1].annotations.org\\u0000example",
        ),
        (
            spec_with(|s| s["annotations"] = json!({"k": "\0"})),
            "annotations.k",
        ),
        (spec_with(|s| s["tags"] = json!(["a\0"])), "tags[0]"),
        (
            spec_with(|s| s["manifests"][0]["image"] = json!("127.0.0.1:9/a\0:v1")),
            "manifests[0].image",
        ),
        (
            spec_with(|s| {
                s["manifests"][0]["platform"] =
                    json!({"os": "linux", "architecture": "amd64", "os.version": "10\0"})
            }),
            "manifests[0].platform.os.version",
        ),
        (
            spec_with(|s| s["callback_url"] = json!("http://127.0.0.1:9/h\0ok")),
            "callback_url",
        ),
    ];
    for (body, field) in specs {
        let answer = app.post_json(&body).await;
        assert_refused(answer, "INVALID_SPEC", field, &body.to_string()).await;
    }
    let yaml = "image: 127.0.0.1:9/demo:v1\nmanifests:\n  - image: 127.0.0.1:9/a:v1\n    annotations: {k: \"a\\0b\"}\n";
    let answer = app.post_yaml(yaml).await;
    assert_refused(answer, "INVALID_SPEC", "manifests[0].annotations.k", yaml).await;
    let answer = app
        .post_as(
            "/lists?callback_url=http://127.0.0.1:9/%00",
            "application/json",
            spec().to_string(),
        )
        .await;
    assert_refused(answer, "INVALID_QUERY", "callback_url", "?callback_url").await;
    let edits = [
        (
            "/copies",
            json!({"source": "127.0.0.1:9/a:v1", "target": "127.0.0.1:9/b:v1", "callback_url": "http://x/\0"}),
            "callback_url",
        ),
        (
            "/copies",
            json!({"source": "127.0.0.1:9/a\0:v1", "target": "127.0.0.1:9/b:v1"}),
            "source",
        ),
        (
            "/removals",
            json!({"target": "127.0.0.1:9/b:v1", "platforms": ["linux(10\0)/amd64"]}),
            "platforms[0]",
        ),
    ];
    for (path, body, field) in edits {
        let answer = app.post_json_to(path, &body).await;
        assert_refused(answer, "INVALID_BODY", field, &body.to_string()).await;
    }
    let target = app.get("/lists?target=127.0.0.1:9/demo%00").await;
    assert_refused(target, "INVALID_QUERY", "target", "?target").await;
    let inspect = app.get("/inspect?ref=127.0.0.1:9/demo:v1%00").await;
    assert_refused(inspect, "INVALID_REFERENCE", "ref", "?ref").await;

    let kept = app.get_json("/lists").await;
    assert_eq!(kept["items"], json!([]), "nothing was stored: {kept:#}");
    assert_eq!(app.run_pending_jobs().await, 0);
}

async fn the_pages_answer_a_nul_with_their_form_and_a_400_never_a_500(db: Db) {
    let app = TestApp::spawn_on(db, |a| a.workers = Some(0)).await;
    let (cookie, token) = csrf(&app, "/ui/lists/new").await;
    let yaml = "image: 127.0.0.1:9/demo:v1\nmanifests:\n  - image: 127.0.0.1:9/a:v1\n    annotations: {org.example: \"a\\0b\"}\n";

    let mut answers = Vec::new();
    for action in ["push", "dry_run"] {
        let form = [("csrf", token.as_str()), ("yaml", yaml), ("action", action)];
        answers.push(post_form(&app, "/ui/lists", Some(&cookie), &form).await);
    }
    answers.push(app.get("/?target=127.0.0.1:9/demo%00").await);
    answers.push(app.get("/ui/inspect?ref=127.0.0.1:9/demo:v1%00").await);

    for answer in answers {
        let url = answer.url().clone();
        assert_eq!(answer.status(), 400, "{url}");
        let page = answer.text().await.unwrap();
        assert!(
            page.contains("class=\"topbar\""),
            "{url}: a page of the site"
        );
        assert!(page.contains("NUL character"), "{url}: {page}");
    }
    let form_page = post_form(
        &app,
        "/ui/lists",
        Some(&cookie),
        &[("csrf", &token), ("yaml", yaml), ("action", "push")],
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(
        form_page.contains("manifests[0].annotations.org.example"),
        "the error names the field under the text: {form_page}"
    );
    assert_eq!(app.get_json("/lists").await["items"], json!([]));
}

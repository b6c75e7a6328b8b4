//! The pages over plain HTTP, for what a browser would not send: forged posts (CSRF), hostile
//! input that must come back escaped, and the retry and cancel forms of a failed list.

use serde_json::Value;

use crate::support::app::TestApp;
use crate::support::demo::demo_spec;
use crate::support::forms::{csrf, no_redirects, post_form};

#[tokio::test(flavor = "multi_thread")]
async fn a_post_without_the_csrf_token_is_refused() {
    let app = TestApp::spawn().await;
    let (cookie, token) = csrf(&app, "/ui/lists/new").await;
    let spec = [
        ("target", "127.0.0.1:9/demo:v1"),
        ("source", "127.0.0.1:9/a:v1"),
        ("platform", ""),
        ("action", "push"),
    ];

    let bare = post_form(&app, "/ui/lists", None, &spec).await;
    let no_field = post_form(&app, "/ui/lists", Some(&cookie), &spec).await;
    let forged = post_form(
        &app,
        "/ui/lists",
        Some(&cookie),
        &[&spec[..], &[("csrf", &"0".repeat(64))]].concat(),
    )
    .await;
    let cancel = post_form(
        &app,
        &format!("/ui/lists/{}/cancel", uuid::Uuid::new_v4()),
        None,
        &[],
    )
    .await;

    for response in [bare, no_field, forged, cancel] {
        assert_eq!(response.status(), 403);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let body = response.text().await.unwrap();
        assert!(
            body.contains("security token") && body.contains("class=\"topbar\""),
            "{body}"
        );
    }
    let queued: Value = app.get_json("/lists").await;
    assert_eq!(
        queued["items"].as_array().unwrap().len(),
        0,
        "nothing was queued"
    );
    let genuine = post_form(
        &app,
        "/ui/lists",
        Some(&cookie),
        &[&spec[..], &[("csrf", &token)]].concat(),
    )
    .await;
    assert_eq!(
        genuine.status(),
        303,
        "the same post with its token is taken"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn user_input_is_escaped_on_every_page() {
    let app = TestApp::spawn().await;
    let (cookie, token) = csrf(&app, "/ui/lists/new").await;
    let hostile = "127.0.0.1:9/<script>alert(1)</script>";

    let form = post_form(
        &app,
        "/ui/lists",
        Some(&cookie),
        &[
            ("csrf", &token),
            ("target", hostile),
            ("source", "127.0.0.1:9/a:v1\"><b>x</b>"),
            ("platform", "<i>os</i>/arch"),
            ("action", "push"),
        ],
    )
    .await;
    let yaml = post_form(
        &app,
        "/ui/lists",
        Some(&cookie),
        &[
            ("csrf", &token),
            ("yaml", "image: <img src=x onerror=alert(1)>\n"),
        ],
    )
    .await;
    let inspect = app
        .http
        .get(format!("{}/ui/inspect", app.base))
        .query(&[("ref", hostile)])
        .send()
        .await
        .unwrap();
    let index = app
        .http
        .get(format!("{}/", app.base))
        .query(&[("target", hostile)])
        .send()
        .await
        .unwrap();
    let login = no_redirects()
        .get(format!("{}/ui/login", app.base))
        .query(&[("next", "/\"><script>x</script>")])
        .send()
        .await
        .unwrap();

    assert_eq!(form.status(), 400);
    assert_eq!(yaml.status(), 400);
    assert_eq!(inspect.status(), 400);
    assert_eq!(index.status(), 200);
    assert_eq!(login.status(), 303, "no tokens: nothing to sign in to");
    for response in [form, yaml, inspect, index] {
        let body = response.text().await.unwrap();
        assert!(
            body.contains("&#60;script&#62;") || body.contains("&#60;img"),
            "shown escaped: {body}"
        );
        for raw in ["<script>alert", "<img src=x", "<b>x</b>", "<i>os</i>"] {
            assert!(!body.contains(raw), "{raw} is not escaped in {body}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_list_explains_the_error_and_can_be_retried_but_not_canceled() {
    let app = TestApp::spawn_with(|a| a.job_max_attempts = Some(1)).await;
    let queued: Value = app
        .post_yaml(&demo_spec("127.0.0.1:9").target("demo:v1").yaml())
        .await
        .json()
        .await
        .unwrap();
    let id = queued["id"].as_str().unwrap();
    let list = app.wait_final(id).await;
    assert_eq!(list["status"], "failed");
    let (cookie, token) = csrf(&app, &format!("/ui/lists/{id}")).await;

    let page = app
        .get(&format!("/ui/lists/{id}"))
        .await
        .text()
        .await
        .unwrap();
    let cancel = post_form(
        &app,
        &format!("/ui/lists/{id}/cancel"),
        Some(&cookie),
        &[("csrf", &token)],
    )
    .await;
    let retry = post_form(
        &app,
        &format!("/ui/lists/{id}/retry"),
        Some(&cookie),
        &[("csrf", &token)],
    )
    .await;
    let missing = app.get("/ui/lists/not-a-list").await;

    assert!(
        page.contains("REGISTRY_UNREACHABLE") && page.contains("could not reach the registry"),
        "{page}"
    );
    assert!(page.contains("/retry") && !page.contains("/cancel"));
    assert_eq!(cancel.status(), 409);
    assert!(
        cancel
            .text()
            .await
            .unwrap()
            .contains("Only a queued list can be canceled")
    );
    assert_eq!(retry.status(), 303);
    assert_eq!(
        retry.headers()["location"].to_str().unwrap(),
        format!("/ui/lists/{id}")
    );
    assert_eq!(missing.status(), 404);
    assert!(missing.text().await.unwrap().contains("Not found"));
}

//! The pages over plain HTTP, for what a browser would not send: forged posts (CSRF) to the
//! new-list form and to a list's remove and add forms, hostile input that must come back escaped,
//! the add form's refusals (a bad platform, a registry not allowed), and the retry, cancel and
//! edit forms of a failed list.

use manifold_testkit::TestRegistry;
use serde_json::Value;

use crate::support::app::TestApp;
use crate::support::cli::seed_demo;
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
async fn a_failed_list_explains_the_error_and_can_be_retried_but_not_canceled_or_edited() {
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
    let remove = post_form(
        &app,
        &format!("/ui/lists/{id}/remove"),
        Some(&cookie),
        &[("csrf", &token), ("platform", "linux/amd64")],
    )
    .await;
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
    assert!(
        !page.contains("/remove") && !page.contains("/append"),
        "a failed list offers no edits"
    );
    assert_eq!(remove.status(), 409);
    assert!(
        remove
            .text()
            .await
            .unwrap()
            .contains("only once a list has succeeded")
    );
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

/// The number of lists the service holds.
async fn list_count(app: &TestApp) -> usize {
    let lists: Value = app.get_json("/lists").await;
    lists["items"].as_array().unwrap().len()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_list_s_remove_and_add_forms_refuse_a_post_without_the_csrf_token() {
    let registry = TestRegistry::plain().await;
    seed_demo(&registry).await;
    let app = TestApp::spawn().await;
    let id = app
        .submit(&demo_spec(&registry.host()).target("demo:v0.2").json())
        .await;
    app.wait_status(&id, "succeeded").await;
    let page = format!("/ui/lists/{id}");
    let (cookie, token) = csrf(&app, &page).await;
    let (remove, append) = (format!("{page}/remove"), format!("{page}/append"));
    let entry = [("platform", "linux/s390x")];
    let image = format!("{}/demo-s390x:v0.2", registry.host());
    let forged = "0".repeat(64);

    let refused = [
        post_form(&app, &remove, None, &entry).await,
        post_form(&app, &remove, Some(&cookie), &entry).await,
        post_form(&app, &remove, Some(&cookie), &[entry[0], ("csrf", &forged)]).await,
        post_form(&app, &append, Some(&cookie), &[("image", &image)]).await,
    ];

    for response in refused {
        assert_eq!(response.status(), 403);
        let body = response.text().await.unwrap();
        assert!(body.contains("security token"), "{body}");
    }
    assert_eq!(list_count(&app).await, 1, "nothing was queued");
    let genuine = post_form(&app, &remove, Some(&cookie), &[entry[0], ("csrf", &token)]).await;
    assert_eq!(
        genuine.status(),
        303,
        "the same post with its token is taken"
    );
    let location = genuine.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("/ui/lists/") && location.ends_with("?queued=remove"),
        "{location}"
    );
    assert_eq!(list_count(&app).await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_add_form_refuses_a_bad_platform_or_a_registry_not_allowed_at_its_field() {
    let registry = TestRegistry::plain().await;
    seed_demo(&registry).await;
    let app = TestApp::spawn().await;
    let id = app
        .submit(&demo_spec(&registry.host()).target("demo:v0.2").json())
        .await;
    app.wait_status(&id, "succeeded").await;
    let (cookie, token) = csrf(&app, &format!("/ui/lists/{id}")).await;
    let append = format!("/ui/lists/{id}/append");
    let image = format!("{}/demo-arm64:v0.2", registry.host());

    let bad_platform = post_form(
        &app,
        &append,
        Some(&cookie),
        &[
            ("csrf", &token),
            ("image", &image),
            ("platform", "<b>plan9</b>"),
        ],
    )
    .await;
    let not_allowed = post_form(
        &app,
        &append,
        Some(&cookie),
        &[("csrf", &token), ("image", "docker.io/library/alpine:3")],
    )
    .await;
    let bad_digest = post_form(
        &app,
        &format!("/ui/lists/{id}/remove"),
        Some(&cookie),
        &[("csrf", &token), ("digest", "sha256:abc")],
    )
    .await;

    assert_eq!(bad_platform.status(), 400);
    let body = bad_platform.text().await.unwrap();
    assert!(body.contains("id=\"add-platform-error\""), "{body}");
    assert!(
        body.contains("&#60;b&#62;plan9") && !body.contains("<b>plan9"),
        "escaped"
    );
    assert!(!body.contains("id=\"add-image-error\""));
    assert_eq!(not_allowed.status(), 403);
    let body = not_allowed.text().await.unwrap();
    let error = body
        .split("id=\"add-image-error\"")
        .nth(1)
        .expect("the error is at the image field");
    assert!(error.contains("not one this service may talk to"), "{body}");
    assert!(
        body.contains("value=\"docker.io/library/alpine:3\""),
        "kept"
    );
    assert_eq!(bad_digest.status(), 400);
    assert_eq!(list_count(&app).await, 1, "nothing was queued");
}

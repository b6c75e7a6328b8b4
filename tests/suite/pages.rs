//! The web pages, end to end: headless Chromium (through `browser`) against the service and a
//! real registry. Screenshots of each page are kept under `target/screenshots/`; what a browser
//! would not send (forged posts, hostile input) is in `pages_http`.

use manifold_testkit::media_types::ACCEPT_ALL;
use manifold_testkit::{Pusher, TestRegistry};
use serde_json::Value;

use crate::support::app::TestApp;
use crate::support::browser::{Browser, SCROLLS_SIDEWAYS};
use crate::support::cli::seed_demo;
use crate::support::demo::demo_spec;
use crate::support::forms::no_redirects;

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_pushed_through_the_form_succeeds_with_the_registrys_digest_and_inspects() {
    let registry = TestRegistry::plain().await;
    let (s390x, amd64) = seed_demo(&registry).await;
    let app = TestApp::spawn().await;
    let host = registry.host();
    let b = Browser::open(1280, 900).await;

    b.goto(&format!("{}/ui/lists/new", app.base)).await;
    b.screenshot("new").await;
    b.fill("#target", &format!("{host}/demo:v0.2")).await;
    b.fill("#source-0", &format!("{host}/demo-s390x:v0.2"))
        .await;
    b.fill("#platform-0", "linux/s390x").await;
    b.fill("#source-1", &format!("{host}/demo-amd64:v0.2"))
        .await;
    b.fill("#platform-1", "linux/amd64").await;
    b.click(".form-actions button[value='dry_run']").await;
    let dry_digest = b.text("#dry-run-digest code").await;
    assert!(b.text("#dry-run").await.contains("linux/s390x"));
    assert_eq!(
        b.value("#source-1").await,
        format!("{host}/demo-amd64:v0.2"),
        "input kept"
    );
    b.screenshot("dry-run").await;
    b.click(".form-actions button[value='push']").await;
    b.wait_until(
        "return location.pathname.startsWith('/ui/lists/') && !location.pathname.endsWith('/new')",
    )
    .await;
    b.wait_until("const s = document.querySelector('#list-status [data-status]'); return !!s && s.dataset.status === 'succeeded' && !!document.querySelector('#entries')").await;

    let digest = b.text("#list-digest code").await;
    let stored = Pusher::new(&registry)
        .get_manifest("demo", "v0.2", ACCEPT_ALL)
        .await
        .unwrap();
    assert_eq!(
        Some(digest.as_str()),
        stored.digest.as_deref(),
        "the page shows the registry's digest"
    );
    assert_eq!(
        digest, dry_digest,
        "the dry run showed the digest that was pushed"
    );
    let pull = b.text("#pull-command code").await;
    assert_eq!(pull, format!("docker pull {host}/demo@{digest}"));
    let entries = b.text("#entries").await;
    assert!(
        entries.contains("linux/s390x") && entries.contains("linux/amd64"),
        "{entries}"
    );
    assert!(
        b.text("#entries")
            .await
            .contains(&s390x.manifest_digest[..19])
    );
    b.screenshot("list").await;

    b.click("a[href^='/ui/inspect?ref=']").await;
    let platforms = b.text("#platforms").await;
    assert!(
        platforms.contains("linux/s390x") && platforms.contains("linux/amd64"),
        "{platforms}"
    );
    assert!(
        platforms.contains(&amd64.manifest_digest[..19]),
        "{platforms}"
    );
    b.click("#platforms details.layers summary").await;
    assert!(
        b.find("#platforms details.layers[open] .layer-list li")
            .await
            .is_displayed()
            .await
            .unwrap()
    );
    b.click("details.raw summary").await;
    assert!(b.text("#raw-json").await.contains("\"manifests\""));
    b.screenshot("inspect").await;

    b.goto(&format!("{}/", app.base)).await;
    let row = b.text("#lists tbody tr").await;
    assert!(
        row.contains(&format!("{host}/demo:v0.2")) && row.contains("succeeded"),
        "{row}"
    );
    assert!(row.contains(&digest[..19]), "{row}");
    b.screenshot("index").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_validation_error_shows_next_to_its_row_field_or_yaml_line_with_the_input_kept() {
    let app = TestApp::spawn().await;
    let b = Browser::open(1280, 900).await;

    b.goto(&format!("{}/ui/lists/new", app.base)).await;
    b.fill("#target", "127.0.0.1:5000/demo:v1").await;
    b.fill("#source-0", "127.0.0.1:5000/demo-amd64:v1").await;
    b.fill("#platform-0", "linux/amd64").await;
    b.fill("#source-1", "127.0.0.1:5000/Demo-S390X:v1").await;
    b.click("[data-add-row]").await;
    b.fill("#source-2", "127.0.0.1:5000/demo-arm:v1").await;
    b.fill("#platform-2", "plan9").await;
    b.click(".form-actions button[value='push']").await;

    let image_error = b.text("#source-1-error").await;
    assert!(!image_error.is_empty(), "an error next to row 2's image");
    assert_eq!(
        b.find("#source-1")
            .await
            .attr("aria-invalid")
            .await
            .unwrap()
            .as_deref(),
        Some("true")
    );
    assert_eq!(
        b.find("#source-1")
            .await
            .attr("aria-describedby")
            .await
            .unwrap()
            .as_deref(),
        Some("source-1-error")
    );
    assert!(b.text("#platform-2-error").await.contains("plan9"));
    assert!(!b.has("#source-0-error").await && !b.has("#target-error").await);
    assert_eq!(b.value("#target").await, "127.0.0.1:5000/demo:v1");
    assert_eq!(b.value("#source-1").await, "127.0.0.1:5000/Demo-S390X:v1");
    assert_eq!(b.value("#platform-2").await, "plan9");
    assert!(b.text("#form-errors").await.contains("needs fixing"));
    b.screenshot("form-errors").await;

    let yaml = "image: 127.0.0.1:5000/demo:v1\nmanifests:\n  - image: 127.0.0.1:5000/demo-amd64:v1\n    platfrom: {os: linux}\n";
    b.goto(&format!("{}/ui/lists/new", app.base)).await;
    b.click("details.yaml summary").await;
    b.fill("#yaml", yaml).await;
    b.click(".form-actions button[value='dry_run']").await;
    let error = b.text("#yaml-error").await;
    assert!(
        error.contains("Line 4") && error.contains("manifests[0].platfrom"),
        "{error}"
    );
    assert_eq!(
        b.find(".listing li.bad")
            .await
            .attr("value")
            .await
            .unwrap()
            .as_deref(),
        Some("4")
    );
    assert!(b.text(".listing li.bad").await.contains("platfrom"));
    assert_eq!(b.value("#yaml").await, yaml, "the spec is kept as typed");
    b.screenshot("form-yaml-error").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn with_api_tokens_the_pages_need_a_sign_in_and_sign_out_ends_it() {
    let app = TestApp::spawn_with(|a| {
        a.api_tokens = vec!["page-token-1".into()];
        a.protect_reads = Some(true);
    })
    .await;
    let redirect = no_redirects()
        .get(format!("{}/ui/inspect?ref=x", app.base))
        .send()
        .await
        .unwrap();
    let api = no_redirects()
        .get(format!("{}/lists", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 401, "reads are protected");
    assert_eq!(redirect.status(), 303);
    assert_eq!(
        redirect.headers()["location"],
        "/ui/login?next=%2Fui%2Finspect%3Fref%3Dx"
    );
    let b = Browser::open(1280, 900).await;

    b.goto(&format!("{}/ui/inspect", app.base)).await;
    assert_eq!(b.url().await.path(), "/ui/login");
    b.screenshot("login").await;
    b.fill("#token", "wrong-token").await;
    b.click("form.stack-form button[type='submit']").await;
    assert!(b.text("#token-error").await.contains("not one of"));
    assert_eq!(b.url().await.path(), "/ui/login");
    b.fill("#token", "page-token-1").await;
    b.click("form.stack-form button[type='submit']").await;
    b.wait_until("return location.pathname === '/ui/inspect'")
        .await;
    let cookies = b.client.get_all_cookies().await.unwrap();
    let session = cookies
        .iter()
        .find(|c| c.name() == "manifold_session")
        .expect("a session cookie");
    assert_eq!(session.http_only(), Some(true));
    assert_eq!(format!("{:?}", session.same_site()), "Some(Strict)");
    assert!(!session.value().contains("page-token-1"));
    let status = b.js("return fetch('/lists').then(r => r.status)").await;
    assert_eq!(status, 200, "the session reads the API the pages poll");

    b.click("form.signout button").await;
    b.wait_until("return location.pathname === '/ui/login'")
        .await;
    b.goto(&format!("{}/", app.base)).await;
    assert_eq!(b.url().await.path(), "/ui/login", "signed out");
    b.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pages_fit_a_phone_screen_without_sideways_scrolling() {
    let registry = TestRegistry::plain().await;
    seed_demo(&registry).await;
    let app = TestApp::spawn().await;
    let long = "a-rather-long-repository-name/with/nested/paths:v0.2.1-rc1";
    let ok: Value = app
        .post_yaml(&demo_spec(&registry.host()).target(long).yaml())
        .await
        .json()
        .await
        .unwrap();
    let id = ok["id"].as_str().unwrap();
    app.wait_final(id).await;
    app.post_yaml(&demo_spec("127.0.0.1:9").target("demo:v1").yaml())
        .await;
    let b = Browser::open(390, 844).await;

    for (path, shot) in [
        ("/".to_owned(), "index-phone"),
        (format!("/ui/lists/{id}"), "list-phone"),
        ("/ui/lists/new".to_owned(), "new-phone"),
    ] {
        b.goto(&format!("{}{path}", app.base)).await;
        b.find("main h1").await;
        assert_eq!(b.js("return window.innerWidth").await, 390);
        b.screenshot(shot).await;
        assert_eq!(
            b.js(SCROLLS_SIDEWAYS).await,
            false,
            "{path} scrolls sideways at 390 px"
        );
    }
    b.close().await;
}

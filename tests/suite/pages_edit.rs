//! A succeeded list's page edits its target, in headless Chromium against the service and a real
//! registry: "Remove" on an entry and "Add a platform" each queue a new list, the browser follows
//! it until it succeeds, and the registry then holds the edited list; a bad platform is shown
//! next to its field and queues nothing. Forged posts to these forms are in `pages_http`.

use manifold_testkit::media_types::ACCEPT_ALL;
use manifold_testkit::{ImageFixture, Pusher, TestRegistry};
use serde_json::Value;

use crate::support::app::TestApp;
use crate::support::browser::Browser;
use crate::support::cli::{seed, seed_demo};
use crate::support::demo::demo_spec;

/// Whether the page is a list's page (not the one `from`) showing a succeeded list.
fn succeeded_other_than(from: &str) -> String {
    format!(
        "const s = document.querySelector('#list-status [data-status]'); \
         return location.pathname.startsWith('/ui/lists/') && location.pathname !== '/ui/lists/{from}' \
         && !!s && s.dataset.status === 'succeeded' && !!document.querySelector('#entries')"
    )
}

/// The demo pushed to `host/demo:v0.2` through the service, succeeded; its id.
async fn pushed_demo(app: &TestApp, host: &str) -> String {
    let id = app
        .submit(&demo_spec(host).target("demo:v0.2").json())
        .await;
    app.wait_status(&id, "succeeded").await;
    id
}

/// The list document `demo:v0.2` holds in the registry, and its digest.
async fn stored_demo(registry: &TestRegistry) -> (Value, String) {
    let stored = Pusher::new(registry)
        .get_manifest("demo", "v0.2", ACCEPT_ALL)
        .await
        .unwrap();
    let document = serde_json::from_slice(&stored.bytes).unwrap();
    (
        document,
        stored.digest.expect("the registry names the digest"),
    )
}

/// The id of the list whose page the browser shows.
async fn shown_id(b: &Browser) -> String {
    let url = b.url().await;
    url.path().trim_start_matches("/ui/lists/").to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn remove_on_an_entry_pushes_the_list_without_it_and_shows_the_new_list() {
    let registry = TestRegistry::plain().await;
    let (s390x, amd64) = seed_demo(&registry).await;
    let app = TestApp::spawn().await;
    let first = pushed_demo(&app, &registry.host()).await;
    let b = Browser::open(1280, 900).await;
    b.goto(&format!("{}/ui/lists/{first}", app.base)).await;
    assert!(
        b.has("#entries form[data-entry='linux/amd64'] button")
            .await
    );
    b.screenshot("list-edits").await;

    b.click("#entries form[data-entry='linux/s390x'] button")
        .await;
    b.wait_until(&succeeded_other_than(&first)).await;

    let removal = shown_id(&b).await;
    let (document, stored_digest) = stored_demo(&registry).await;
    let manifests = document["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 1, "{document:#}");
    assert_eq!(manifests[0]["digest"], amd64.manifest_digest.as_str());
    assert_eq!(manifests[0]["platform"]["architecture"], "amd64");
    assert_eq!(
        b.text("#list-digest code").await,
        stored_digest,
        "the page shows the registry's digest"
    );
    assert_eq!(b.text("#list-operation").await, "remove");
    assert!(b.text("#queued-note").await.contains("Removal queued"));
    let entries = b.text("#entries").await;
    assert!(
        entries.contains(&amd64.manifest_digest[..19])
            && !entries.contains(&s390x.manifest_digest[..19]),
        "{entries}"
    );
    assert!(
        !b.has("#entries form[action$='/remove']").await,
        "the last image cannot be removed"
    );
    let list = app.get_json(&format!("/lists/{removal}")).await;
    assert_eq!(list["operation"], "remove");
    assert_eq!(list["digest"], stored_digest.as_str());
    b.screenshot("list-removed").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn add_a_platform_merges_a_third_image_after_the_others() {
    let registry = TestRegistry::plain().await;
    let (s390x, amd64) = seed_demo(&registry).await;
    let arm64_image = ImageFixture::new("linux", "arm64", Some("v8"));
    let arm64 = seed(&registry, "demo-arm64", "v0.2", arm64_image).await;
    let host = registry.host();
    let app = TestApp::spawn().await;
    let first = pushed_demo(&app, &host).await;
    let b = Browser::open(1280, 900).await;
    b.goto(&format!("{}/ui/lists/{first}", app.base)).await;

    b.fill("#add-image", &format!("{host}/demo-arm64:v0.2"))
        .await;
    b.click("#add button[type='submit']").await;
    b.wait_until(&succeeded_other_than(&first)).await;

    let (document, stored_digest) = stored_demo(&registry).await;
    let digests: Vec<&str> = document["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap())
        .collect();
    assert_eq!(
        digests,
        [
            s390x.manifest_digest.as_str(),
            amd64.manifest_digest.as_str(),
            arm64.manifest_digest.as_str()
        ],
        "arm64 last, the others kept in order"
    );
    assert_eq!(
        document["manifests"][2]["platform"]["architecture"], "arm64",
        "the platform was read from the image"
    );
    assert_eq!(b.text("#list-digest code").await, stored_digest);
    assert_eq!(b.text("#list-operation").await, "append");
    assert!(b.text("#entries").await.contains("linux/arm64"));
    let list = app
        .get_json(&format!("/lists/{}", shown_id(&b).await))
        .await;
    assert_eq!(list["entries"].as_array().unwrap().len(), 3, "{list:#}");
    b.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_platform_in_add_a_platform_is_shown_at_its_field_and_queues_nothing() {
    let registry = TestRegistry::plain().await;
    seed_demo(&registry).await;
    let host = registry.host();
    let app = TestApp::spawn().await;
    let first = pushed_demo(&app, &host).await;
    let before: Value = app.get_json("/lists").await;
    let b = Browser::open(1280, 900).await;
    b.goto(&format!("{}/ui/lists/{first}", app.base)).await;
    let image = format!("{host}/demo-arm64:v0.2");

    b.fill("#add-image", &image).await;
    b.fill("#add-platform", "plan9").await;
    b.click("#add button[type='submit']").await;

    let error = b.text("#add-platform-error").await;
    assert!(error.contains("plan9"), "{error}");
    let platform = b.find("#add-platform").await;
    assert_eq!(
        platform.attr("aria-invalid").await.unwrap().as_deref(),
        Some("true")
    );
    assert!(
        platform
            .attr("aria-describedby")
            .await
            .unwrap()
            .unwrap_or_default()
            .contains("add-platform-error")
    );
    assert!(!b.has("#add-image-error").await && !b.has("#add-error").await);
    assert_eq!(b.value("#add-image").await, image, "the input is kept");
    assert_eq!(b.value("#add-platform").await, "plan9");
    assert_eq!(b.url().await.path(), format!("/ui/lists/{first}/append"));
    b.screenshot("list-add-error").await;
    let after: Value = app.get_json("/lists").await;
    assert_eq!(
        after["items"].as_array().unwrap().len(),
        before["items"].as_array().unwrap().len(),
        "nothing was queued"
    );
    b.close().await;
}

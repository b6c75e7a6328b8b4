//! What refers to the images, in the pages, against the real registry: the inspect page counts
//! each entry's referrers by kind and lists each one (kind, artifact type, digest, cosign tag),
//! and the list's own at the top, nothing when there are none — over HTTP and, expanded, in
//! Chromium at desktop and phone width; the new-list form's referrers box brings them into the
//! target and the list's page says so, and "Add a platform" on such a list brings the added
//! image's too (on PostgreSQL and on SQLite).

use manifold_testkit::Pusher;
use manifold_testkit::TestRegistry;
use manifold_testkit::media_types::ACCEPT_ALL;
use manifold_testkit::referrers::{SPDX, cosign_signature, digest_tag};
use serde_json::Value;

use crate::support::app::TestApp;
use crate::support::browser::{Browser, SCROLLS_SIDEWAYS};
use crate::support::client::ServiceClient;
use crate::support::forms::{csrf, post_form};
use crate::support::on_both_stores;
use crate::support::referrers::{signed_json, signed_sources};
use crate::support::stores::Db;

on_both_stores!(the_referrers_box_brings_them_and_an_append_to_the_list_does_too);

/// The HTML of `path`, asserting 200.
async fn page(app: &ServiceClient, path: &str) -> String {
    let response = app.get(path).await;
    assert_eq!(response.status(), 200, "GET {path}");
    response.text().await.unwrap()
}

/// The inspect page's address for `reference`.
fn inspect_path(reference: &str) -> String {
    let query: String = url::form_urlencoded::byte_serialize(reference.as_bytes()).collect();
    format!("/ui/inspect?ref={query}")
}

/// The block of `html` from the element with `id` to the end of its referrers.
fn block<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in {html}"));
    let end = html[start..]
        .find("</details>")
        .map_or(html.len(), |e| start + e);
    &html[start..end]
}

/// The signed sources pushed with their referrers as `host/demo:v1`, and the list signed there
/// too; the list's signature's digest.
async fn signed_list(app: &TestApp, registry: &TestRegistry) -> String {
    let mut spec = signed_json(&registry.host(), "demo");
    spec["referrers"] = true.into();
    let id = app.submit(&spec).await;
    let list = app.wait_status(&id, "succeeded").await;
    let digest = list["digest"].as_str().unwrap();
    let signature = cosign_signature(digest, "demo", 7);
    Pusher::new(registry)
        .push_artifact("demo", &digest_tag(digest, Some("sig")), &signature)
        .await
        .unwrap();
    signature.digest
}

#[tokio::test(flavor = "multi_thread")]
async fn the_inspect_page_shows_what_refers_to_each_entry_and_to_the_list() {
    let registry = TestRegistry::plain().await;
    let signed = signed_sources(&registry).await;
    let app = TestApp::spawn().await;
    let list_signature = signed_list(&app, &registry).await;
    let plain = app.submit(&signed_json(&registry.host(), "plain")).await;
    app.wait_status(&plain, "succeeded").await;
    let inspect = inspect_path(&format!("{}/demo:v1", registry.host()));

    let html = page(&app, &inspect).await;
    let bare = page(
        &app,
        &inspect_path(&format!("{}/plain:v1", registry.host())),
    )
    .await;

    let own = block(&html, "own-referrers");
    assert!(own.contains("Referrers: 1 signature<"), "{own}");
    assert!(
        own.contains(&format!("title=\"{list_signature}\"")),
        "{own}"
    );
    let amd64 = block(&html, "referrers-1");
    assert!(amd64.contains("Referrers: 1 signature<"), "{amd64}");
    assert!(amd64.contains("data-kind=\"signature\""), "{amd64}");
    assert!(
        amd64.contains(&format!("title=\"{}\"", signed.signature)),
        "{amd64}"
    );
    assert!(amd64.contains(&signed.sig_tag()), "the cosign tag: {amd64}");
    let arm64 = block(&html, "referrers-2");
    assert!(arm64.contains("Referrers: 1 SBOM<"), "{arm64}");
    assert!(
        arm64.contains("data-kind=\"sbom\"") && arm64.contains(SPDX),
        "{arm64}"
    );
    assert!(
        arm64.contains(&format!("title=\"{}\"", signed.sbom)),
        "{arm64}"
    );
    assert!(
        !bare.contains("Referrers:") && !bare.contains("class=\"referrers"),
        "nothing is shown where nothing refers: {bare}"
    );

    let b = Browser::open(1280, 900).await;
    b.goto(&format!("{}{inspect}", app.base)).await;
    let row = "#referrers-1 tr[data-kind='signature']";
    assert!(!b.find(row).await.is_displayed().await.unwrap(), "folded");
    b.click("#referrers-1 details.referrers summary").await;
    assert!(b.find(row).await.is_displayed().await.unwrap());
    assert!(b.text(row).await.contains(&signed.signature[..19]));
    b.screenshot("inspect-referrers").await;
    b.close().await;
    let phone = Browser::open(390, 844).await;
    phone.goto(&format!("{}{inspect}", app.base)).await;
    phone
        .js("document.querySelectorAll('details').forEach(d => d.open = true)")
        .await;
    phone.screenshot("inspect-referrers-phone").await;
    assert_eq!(
        phone.js(SCROLLS_SIDEWAYS).await,
        false,
        "the inspect page scrolls sideways at 390 px"
    );
    phone.close().await;
}

/// Posts the new-list form for `host/target:v1` from amd64 (the referrers box ticked when
/// `referrers`); the queued list's id.
async fn push_through_the_form(app: &TestApp, host: &str, target: &str, referrers: bool) -> String {
    let response = post_the_form(app, host, target, referrers, "push").await;
    assert_eq!(response.status(), 303, "{}", response.text().await.unwrap());
    let location = response.headers()["location"].to_str().unwrap();
    location.trim_start_matches("/ui/lists/").to_owned()
}

/// Posts the new-list form for `target:v1` from the signed amd64 source, the referrers box
/// ticked or not, with the button `action` (`push` or `dry_run`).
async fn post_the_form(
    app: &TestApp,
    host: &str,
    target: &str,
    referrers: bool,
    action: &str,
) -> reqwest::Response {
    let (cookie, token) = csrf(app, "/ui/lists/new").await;
    let target = format!("{host}/{target}:v1");
    let source = format!("{host}/src-amd64:v1");
    let mut form = vec![
        ("csrf", token.as_str()),
        ("target", target.as_str()),
        ("source", source.as_str()),
        ("platform", ""),
        ("action", action),
    ];
    if referrers {
        form.push(("referrers", "true"));
    }
    post_form(app, "/ui/lists", Some(&cookie), &form).await
}

/// Adds arm64 to the list `id` through its page's "Add a platform" form; the queued list's id.
async fn add_arm64(app: &TestApp, host: &str, id: &str) -> String {
    let (cookie, token) = csrf(app, &format!("/ui/lists/{id}")).await;
    let image = format!("{host}/src-arm64:v1");
    let form = [
        ("csrf", token.as_str()),
        ("image", image.as_str()),
        ("platform", ""),
    ];
    let path = format!("/ui/lists/{id}/append");
    let response = post_form(app, &path, Some(&cookie), &form).await;
    assert_eq!(response.status(), 303, "{}", response.text().await.unwrap());
    let location = response.headers()["location"].to_str().unwrap();
    let queued = location.trim_start_matches("/ui/lists/");
    queued.split('?').next().unwrap().to_owned()
}

async fn the_referrers_box_brings_them_and_an_append_to_the_list_does_too(db: Db) {
    let registry = TestRegistry::plain().await;
    let signed = signed_sources(&registry).await;
    let host = registry.host();
    let app = TestApp::spawn_on(db, |_| {}).await;

    let dry = post_the_form(&app, &host, "demo", true, "dry_run").await;
    assert_eq!(dry.status(), 200);
    let dry = dry.text().await.unwrap();
    assert!(
        dry.contains("id=\"dry-run-referrers\">1 signature<"),
        "the dry run says what would come along: {dry}"
    );
    let ticked = push_through_the_form(&app, &host, "demo", true).await;
    let unticked = push_through_the_form(&app, &host, "plain", false).await;

    let ticked = app.wait_status(ticked.as_str(), "succeeded").await;
    assert_eq!(ticked["referrers"], true, "{ticked:#}");
    assert!(
        ticked["spec"]["text"]
            .as_str()
            .unwrap()
            .contains("\"referrers\": true"),
        "{ticked:#}"
    );
    let sig = Pusher::new(&registry)
        .get_manifest("demo", &signed.sig_tag(), ACCEPT_ALL)
        .await
        .unwrap();
    assert_eq!(sig.digest.as_deref(), Some(signed.signature.as_str()));
    let id = ticked["id"].as_str().unwrap();
    let shown = page(&app, &format!("/ui/lists/{id}")).await;
    assert!(shown.contains("id=\"list-referrers\""), "{shown}");
    let unticked: Value = app.wait_status(&unticked, "succeeded").await;
    assert_eq!(unticked["referrers"], false, "{unticked:#}");
    signed.assert_not_carried(&registry, "plain").await;
    let plain_page = page(
        &app,
        &format!("/ui/lists/{}", unticked["id"].as_str().unwrap()),
    )
    .await;
    assert!(!plain_page.contains("id=\"list-referrers\""));

    let appended = add_arm64(&app, &host, id).await;

    let appended = app.wait_status(&appended, "succeeded").await;
    assert_eq!(appended["operation"], "append");
    assert_eq!(appended["referrers"], true, "{appended:#}");
    assert_eq!(appended["entries"].as_array().unwrap().len(), 2);
    signed.assert_carried(&registry, "demo").await;
}

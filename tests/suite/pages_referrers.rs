//! What refers to the images, in the pages, against the real registry: the inspect page counts
//! each entry's referrers by kind and lists each one (kind, artifact type, digest, cosign tag),
//! and the list's own at the top, nothing when there are none — over HTTP and, expanded, in
//! Chromium at desktop and phone width.

use manifold_testkit::Pusher;
use manifold_testkit::TestRegistry;
use manifold_testkit::referrers::{SPDX, cosign_signature, digest_tag};

use crate::support::app::TestApp;
use crate::support::browser::{Browser, SCROLLS_SIDEWAYS};
use crate::support::client::ServiceClient;
use crate::support::referrers::{signed_json, signed_sources};

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

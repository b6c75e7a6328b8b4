//! Registries in the wild, part four: test doubles that each behave as one documented quirk of a
//! registry manifold meets, and what manifold does about it.
//!
//! - Trow cuts a tag listing at `n` without a `Link` header: the listing is asked again from its
//!   last tag (`last=`), so cosign's `.sig` tags past the first page are found.
//! - Trow's TLS layer answers a plain-HTTP request with a TLS alert (not Go's readable 400): a
//!   loopback registry that does so is spoken to over HTTPS.

use manifold::model::Reference;
use manifold::registry::{ClientConfig, RegistryClient};
use manifold_testkit::{TestCa, TestRegistry};
use serde_json::json;
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::cli::{assert_demo_pulls, push_spec, seed_demo};
use crate::support::demo::demo_spec;
use crate::support::tls_only::TlsOnly;

/// Tags a listing page holds (manifold asks for 1000).
const PAGE: usize = 1000;

/// `tag-0000` … in the order a registry lists them (lexical).
fn tags(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("tag-{i:04}")).collect()
}

#[tokio::test]
async fn a_tag_listing_cut_at_n_without_a_link_is_asked_again_from_its_last_tag() {
    let server = MockServer::start().await;
    let (first, second) = (tags(0..PAGE), tags(PAGE..PAGE + 3));
    let listing = "/v2/app/tags/list";
    Mock::given(method("GET"))
        .and(path(listing))
        .and(query_param_is_missing("last"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"name": "app", "tags": first})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(listing))
        .and(query_param("last", first[PAGE - 1].as_str()))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"name": "app", "tags": second})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let client = RegistryClient::new(ClientConfig::default()).unwrap();
    let repo = Reference::parse(&format!("{}/app:v1", server.address())).unwrap();

    let listed = client.list_tags(&repo).await.unwrap();

    assert_eq!(listed.len(), PAGE + 3);
    assert_eq!(listed.last(), second.last());
}

#[tokio::test]
async fn a_registry_that_ignores_last_is_not_asked_forever() {
    let server = MockServer::start().await;
    let first = tags(0..PAGE);
    Mock::given(method("GET"))
        .and(path("/v2/app/tags/list"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"name": "app", "tags": first})),
        )
        .expect(2)
        .mount(&server)
        .await;
    let client = RegistryClient::new(ClientConfig::default()).unwrap();
    let repo = Reference::parse(&format!("{}/app:v1", server.address())).unwrap();

    let listed = client.list_tags(&repo).await.unwrap();

    assert_eq!(listed, first, "the page once, not again");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_loopback_registry_that_answers_plain_http_with_a_tls_alert_is_spoken_to_over_https() {
    let ca = TestCa::new();
    let registry = TestRegistry::https(&ca).await;
    let (s390x, amd64) = seed_demo(&registry).await;
    let front = TlsOnly::start(&registry.host()).await;
    let dir = tempfile::tempdir().unwrap();
    let spec = demo_spec(&front.addr).flow().write(dir.path(), "demo.yaml");
    let ca_path = ca.ca_cert_path().to_str().unwrap();

    let pushed = push_spec(&["--ca-cert", ca_path], &spec).await.ok();

    assert!(
        pushed.stdout.starts_with("Digest: sha256:"),
        "{}",
        pushed.stderr
    );
    assert!(!pushed.stderr.contains("retrying"), "{}", pushed.stderr);
    assert_demo_pulls(&registry, "demo:v0.2", &s390x, &amd64).await;
}

//! Registries in the wild, part four: test doubles that each behave as one documented quirk of a
//! registry manifold meets, and what manifold does about it.
//!
//! - Trow cuts a tag listing at `n` without a `Link` header: the listing is asked again from its
//!   last tag (`last=`), so cosign's `.sig` tags past the first page are found.
//! - Trow's TLS layer answers a plain-HTTP request with a TLS alert (not Go's readable 400): a
//!   loopback registry that does so is spoken to over HTTPS.
//! - Trow over TLS answers a chunk `PATCH` with a wrong `Content-Length`, which breaks the
//!   HTTP/2 stream: the host is spoken to over HTTP/1.1 from then on and the push succeeds.

use manifold::model::Reference;
use manifold::registry::{ClientConfig, RegistryClient};
use manifold_testkit::{Profile, QuirkProxy, TestCa, TestRegistry, run_skopeo};
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::cli::{assert_demo_pulls, push_spec, seed_big_image, seed_demo, write_spec};
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

#[tokio::test(flavor = "multi_thread")]
async fn trow_over_tls_breaking_http2_on_a_chunk_is_spoken_to_over_http1_and_the_push_succeeds() {
    let source = TestRegistry::plain().await;
    let target = TestRegistry::plain().await;
    let ca = TestCa::new();
    let trow = QuirkProxy::start_tls(&target.host(), Profile::Trow, &ca.localhost_cert()).await;
    // 2 MiB layers: more than goes in one PUT, so each is sent in a chunk (PATCH).
    let (_, arm64) = seed_big_image(&source, "app-arm64", "arm64", 2 << 20).await;
    let (_, amd64) = seed_big_image(&source, "app-amd64", "amd64", 2 << 20).await;
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(
        dir.path(),
        "app.yaml",
        &format!(
            "image: {trow}/app:v1\nmanifests:\n  - image: {src}/app-arm64:v1\n  - image: {src}/app-amd64:v1\n",
            trow = trow.host,
            src = source.host()
        ),
    );

    let pushed = push_spec(&["--ca-cert", ca.ca_cert_path().to_str().unwrap()], &spec)
        .await
        .ok();

    let (digest, _) = pushed.digest_line();
    let patches = trow.count("PATCH /v2/app/blobs/uploads/");
    assert!(
        patches >= 3,
        "each 2 MiB layer went in a chunk (one broke HTTP/2): {:?}\n{}",
        trow.seen(),
        pushed.stderr
    );
    let fell_back: Vec<&str> = pushed
        .stderr
        .lines()
        .filter(|l| l.contains("speaking HTTP/1.1 to it"))
        .collect();
    assert_eq!(fell_back.len(), 1, "logged once: {}", pushed.stderr);
    assert!(fell_back[0].contains(&trow.host), "{}", fell_back[0]);
    assert!(
        !fell_back[0].contains("_state"),
        "no upload URL: {}",
        fell_back[0]
    );
    assert!(!pushed.stderr.contains("retrying"), "{}", pushed.stderr);
    let raw = run_skopeo(&[
        "inspect".into(),
        "--raw".into(),
        "--tls-verify=false".into(),
        format!("docker://{}/app:v1", trow.host).into(),
    ])
    .await
    .unwrap();
    assert_eq!(manifold_testkit::sha256_digest(&raw), digest);
    let list: Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(
        list["manifests"].as_array().map(Vec::len),
        Some(2),
        "{list}"
    );
    assert_eq!(list["manifests"][0]["digest"], arm64.as_str());
    assert_eq!(list["manifests"][1]["digest"], amd64.as_str());
}

//! Registries in the wild, part four: test doubles that each behave as one documented quirk of a
//! registry manifold meets, and what manifold does about it.
//!
//! - Trow cuts a tag listing at `n` without a `Link` header: the listing is asked again from its
//!   last tag (`last=`), so cosign's `.sig` tags past the first page are found.

use manifold::model::Reference;
use manifold::registry::{ClientConfig, RegistryClient};
use serde_json::json;
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

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

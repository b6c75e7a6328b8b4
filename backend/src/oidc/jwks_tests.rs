//! The issuers' keys against an issuer double (wiremock): fetched only from the issuer's own host,
//! its discovery document naming it; a failed fetch tried again a minute later, not before.

use std::time::Duration;

use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::super::jwt::tests::Signer;
use super::*;

async fn issuer_double(discovery: serde_json::Value, keys: serde_json::Value) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/.well-known/openid-configuration"))
        .respond_with(ResponseTemplate::new(200).set_body_json(discovery))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/jwks"))
        .respond_with(ResponseTemplate::new(200).set_body_json(keys))
        .mount(&server)
        .await;
    server
}

fn verifier(issuer: &str, clock: Clock) -> Verifier {
    let settings = OidcSettings {
        issuers: vec![IssuerSettings {
            issuer: issuer.to_owned(),
            audience: "manifold".to_owned(),
            jwks_hosts: Vec::new(),
        }],
        rules: Vec::new(),
    };
    Verifier::new(&settings, clock).unwrap()
}

fn token(signer: &Signer, issuer: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    signer.token(
        json!({"alg": "ES256", "kid": "k1"}),
        json!({"iss": issuer, "aud": "manifold", "sub": "s", "exp": now + 600}),
    )
}

#[tokio::test]
async fn keys_come_only_from_the_issuer_s_own_host_named_by_its_own_discovery() {
    let signer = Signer::new();
    let keys = json!({"keys": [signer.jwk("k1")]});
    let elsewhere =
        issuer_double(json!({"jwks_uri": "http://127.0.0.1:9/jwks"}), keys.clone()).await;
    let impostor = issuer_double(json!({"issuer": "https://else.example"}), keys).await;

    let off_host = verifier(&elsewhere.uri(), Clock::system())
        .verify(&token(&signer, &elsewhere.uri()))
        .await
        .unwrap_err();
    let named_other = verifier(&impostor.uri(), Clock::system())
        .verify(&token(&signer, &impostor.uri()))
        .await
        .unwrap_err();

    assert!(
        off_host
            .to_string()
            .contains("another host than the issuer's"),
        "{off_host}"
    );
    assert!(
        named_other
            .to_string()
            .contains("names the issuer https://else.example"),
        "{named_other}"
    );
}

#[tokio::test]
async fn a_failed_fetch_is_tried_again_a_minute_later_and_not_before() {
    let signer = Signer::new();
    let server = MockServer::start().await;
    Mock::given(path("/.well-known/openid-configuration"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(path("/.well-known/openid-configuration"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"jwks_uri": format!("{}/jwks", server.uri())})),
        )
        .mount(&server)
        .await;
    Mock::given(path("/jwks"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"keys": [signer.jwk("k1")]})))
        .mount(&server)
        .await;
    let clock = Clock::manual();
    let verifier = verifier(&server.uri(), clock.clone());
    let token = token(&signer, &server.uri());

    let down = verifier.verify(&token).await.unwrap_err();
    let at_once = verifier.verify(&token).await.unwrap_err();
    let asked_at_once = server.received_requests().await.unwrap().len();
    clock.advance(Duration::from_secs(REFETCH_SECS as u64));
    let later = verifier.verify(&token).await;

    assert!(down.to_string().contains("503"), "{down}");
    assert_eq!(at_once, down);
    assert_eq!(asked_at_once, 1, "not asked again at once");
    assert_eq!(later.unwrap().claims["sub"], "s");
}

//! Self-test of TLS registries: HTTPS with a certificate from the test CA, trusted by clients
//! that have the CA and refused by those that do not; TLS and token mode together.

use manifold_testkit::{
    ImageFixture, Pusher, RegistryAuth, TestCa, TestRegistry, TokenServer, skopeo_inspect,
};
use reqwest::{Client, StatusCode};

/// A client with no proxy and the system's roots.
fn client() -> Client {
    manifold_testkit::http_client().build().unwrap()
}

#[tokio::test]
async fn tls_registry_with_the_test_ca() {
    let ca = TestCa::new();
    let registry = TestRegistry::https(&ca).await;
    assert!(registry.url().starts_with("https://127.0.0.1:"));
    assert!(registry.is_tls());
    let ca_copy = registry.ca_cert_path().unwrap();
    assert_eq!(std::fs::read(ca_copy).unwrap(), ca.ca_cert_pem().unwrap());

    // A client trusting the CA gets through; the system's roots or another CA do not.
    let pusher = Pusher::new(&registry);
    let image = ImageFixture::new("linux", "amd64", None).oci().build();
    pusher.push_image("secure", "v1", &image).await.unwrap();
    let trusting = Pusher::for_url(&registry.url(), None)
        .unwrap()
        .with_ca(ca.ca_cert_path())
        .unwrap();
    assert_eq!(trusting.get_tags("secure").await.unwrap(), ["v1"]);
    let url = format!("{}/v2/", registry.url());
    let err = client().get(&url).send().await.unwrap_err();
    assert!(format!("{err:?}").contains("UnknownIssuer"), "{err:?}");
    let stranger = TestCa::new();
    let other = Pusher::for_url(&registry.url(), None)
        .unwrap()
        .with_ca(stranger.ca_cert_path())
        .unwrap();
    let err = other.get_tags("secure").await.unwrap_err();
    assert!(format!("{err:#}").contains("UnknownIssuer"), "{err:#}");
    let plain = format!("http://{}/v2/", registry.host());
    assert_ne!(
        client().get(&plain).send().await.map(|r| r.status()).ok(),
        Some(StatusCode::OK)
    );

    let seen = skopeo_inspect(&registry, "secure:v1", "linux", "amd64", None)
        .await
        .unwrap();
    assert_eq!(seen["Digest"], image.manifest_digest.as_str());

    // TLS and token mode together.
    let server = TokenServer::start();
    let (user, password) = server.admin_credentials().unwrap();
    let both = TestRegistry::builder()
        .tls_cert(&ca.issue_server_cert(&["localhost"], &["127.0.0.1".parse().unwrap()]))
        .auth(RegistryAuth::token(&server))
        .client_credentials(&user, &password)
        .start()
        .await;
    Pusher::new(&both)
        .push_image("both", "v1", &image)
        .await
        .unwrap();
    let seen = skopeo_inspect(&both, "both:v1", "linux", "amd64", None)
        .await
        .unwrap();
    assert_eq!(seen["Digest"], image.manifest_digest.as_str());
}

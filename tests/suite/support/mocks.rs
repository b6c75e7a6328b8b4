//! What wiremock servers in the tests serve alike: registries, and a callback receiver.

use manifold_testkit::BuiltImage;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Serves `image` as `repo:tag` (its manifest, with its digest) and its config blob.
pub async fn serve_image(server: &MockServer, repo: &str, tag: &str, image: &BuiltImage) {
    Mock::given(method("GET"))
        .and(path(format!("/v2/{repo}/manifests/{tag}")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(image.manifest.clone(), &image.media_type)
                .insert_header("Docker-Content-Digest", image.manifest_digest.as_str()),
        )
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v2/{repo}/blobs/{}", image.config.digest)))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(image.config.data.clone(), &image.config.media_type),
        )
        .mount(server)
        .await;
}

/// A callback receiver at `/hook` that fails the first delivery (`503`) and accepts the others.
pub async fn receiver_failing_once() -> MockServer {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&receiver)
        .await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&receiver)
        .await;
    receiver
}

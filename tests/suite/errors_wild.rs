//! Errors that used to mislead: a short or corrupt source blob (from a wiremock source, into the
//! real registry) is the source's fault; an anonymous push that the registry refuses asks for
//! credentials; a list source without the platform asked for says which it has;
//! `DOCKER_CONFIG=""` means `~/.docker`, as docker takes it.

use manifold_testkit::{BuiltImage, ImageFixture, Pusher, TestRegistry, TokenServer};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::cli::{manifold_env, push_spec, seed, seed_two_arch_index, write_spec};
use crate::support::credentials::{basic_auth, docker_config};
use crate::support::mocks::serve_image;

/// A source registry serving `src:v1` as `image` does, but its layer as `layer` (other bytes).
async fn source_serving(image: &BuiltImage, layer: Vec<u8>) -> MockServer {
    let server = MockServer::start().await;
    serve_image(&server, "src", "v1", image).await;
    Mock::given(method("GET"))
        .and(path(format!("/v2/src/blobs/{}", image.layers[0].digest)))
        .respond_with(ResponseTemplate::new(200).set_body_raw(layer, "application/octet-stream"))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn a_corrupt_or_short_source_blob_is_blamed_on_the_source_and_nothing_is_linked_in_the_target()
 {
    let image = ImageFixture::new("linux", "amd64", None).layers(1).build();
    let good = image.layers[0].data.clone();
    let mut corrupt = good.clone();
    corrupt[0] ^= 0xff;
    let short = good[..good.len() / 2].to_vec();
    let target = TestRegistry::plain().await;
    let dir = tempfile::tempdir().unwrap();

    for (case, bytes, expected) in [
        ("corrupt", corrupt, "digest mismatch"),
        ("short", short, "short"),
    ] {
        let source = source_serving(&image, bytes).await;
        let spec = write_spec(
            dir.path(),
            &format!("{case}.yaml"),
            &format!(
                "image: {}/dst:{case}\nmanifests:\n  - image: {}/src:v1\n",
                target.host(),
                source.address()
            ),
        );

        let run = push_spec(&[], &spec).await.failed();

        let err = &run.stderr;
        let blamed = format!(
            "GET blob {} from {}/src",
            image.layers[0].digest,
            source.address()
        );
        assert!(err.contains(&blamed), "{case}: {err}");
        assert!(err.contains(expected), "{case}: {err}");
        assert!(!err.contains("upload blob"), "{case}: {err}");
        let pusher = Pusher::new(&target);
        let linked = pusher.blob_exists("dst", &image.layers[0].digest).await;
        assert!(!linked.unwrap(), "{case}");
    }
}

#[tokio::test]
async fn an_anonymous_push_refused_asks_for_credentials_rather_than_blaming_them() {
    let server = TokenServer::builder()
        .grant_anonymous("src-*", &["pull"])
        .start();
    let tokens = TestRegistry::token(&server).await;
    let basic = TestRegistry::basic("ci", "ci-Pa55word").await;
    let dir = tempfile::tempdir().unwrap();

    for registry in [&tokens, &basic] {
        seed(
            registry,
            "src-amd64",
            "v1",
            ImageFixture::new("linux", "amd64", None),
        )
        .await;
        let host = registry.host();
        let spec = write_spec(
            dir.path(),
            "anon.yaml",
            &format!("image: {host}/dst:v1\nmanifests:\n  - image: {host}/src-amd64:v1\n"),
        );

        let run = push_spec(&[], &spec).await.failed();

        let err = &run.stderr;
        assert!(
            err.contains(&format!("no credentials were given for {host}")),
            "{err}"
        );
        assert!(err.contains("--username"), "{err}");
        assert!(!err.contains("the credentials do not grant"), "{err}");
        assert_eq!(
            err.matches("UNAUTHORIZED").count(),
            1,
            "each code once: {err}"
        );
    }
}

#[tokio::test]
async fn a_list_source_without_the_platform_asked_for_says_which_platforms_it_has() {
    let registry = TestRegistry::plain().await;
    seed_two_arch_index(&registry, "multi", "v1").await;
    let host = registry.host();
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(
        dir.path(),
        "pick.yaml",
        &format!(
            "image: {host}/dst:v1\nmanifests:\n  - image: {host}/multi:v1\n    platform: {{os: linux, architecture: s390x}}\n"
        ),
    );

    let run = push_spec(&[], &spec).await.failed();

    let err = &run.stderr;
    assert!(err.contains("no entry for linux/s390x"), "{err}");
    assert!(err.contains("it has linux/amd64, linux/arm64"), "{err}");
}

#[tokio::test]
async fn an_empty_docker_config_variable_means_the_docker_directory_in_home() {
    let registry = TestRegistry::basic("ci", "ci-Pa55word").await;
    seed(
        &registry,
        "src-amd64",
        "v1",
        ImageFixture::new("linux", "amd64", None),
    )
    .await;
    let home = tempfile::tempdir().unwrap();
    let dot_docker = home.path().join(".docker");
    std::fs::create_dir(&dot_docker).unwrap();
    let auths = json!({"auths": {registry.host(): {"auth": basic_auth("ci", "ci-Pa55word")}}});
    docker_config(&dot_docker, &auths);
    let host = registry.host();
    let spec = write_spec(
        home.path(),
        "list.yaml",
        &format!("image: {host}/dst:v1\nmanifests:\n  - image: {host}/src-amd64:v1\n"),
    );
    let home_path = home.path().to_str().unwrap();

    let run = manifold_env(
        &["push", "from-spec", spec.to_str().unwrap()],
        &[("HOME", home_path), ("DOCKER_CONFIG", "")],
    )
    .await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    let tags = Pusher::new(&registry).get_tags("dst").await.unwrap();
    assert_eq!(tags, ["v1"]);
}

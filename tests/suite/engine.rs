//! Engine behaviour that needs more than one registry or a refused mount.

use manifold_testkit::media_types::ACCEPT_ALL;
use manifold_testkit::{ImageFixture, Pusher, TestRegistry};

use crate::support::cli::{assert_pulls, manifold, seed, write_spec};

#[tokio::test]
async fn sources_on_another_registry_are_copied_into_the_target() {
    let source = TestRegistry::plain().await;
    let target = TestRegistry::plain().await;
    let amd64 = seed(
        &source,
        "far-amd64",
        "v1",
        ImageFixture::new("linux", "amd64", None).layers(3),
    )
    .await;
    let s390x = seed(
        &source,
        "far-s390x",
        "v1",
        ImageFixture::new("linux", "s390x", None),
    )
    .await;
    let spec = format!(
        "image: {t}/near:v1\nmanifests:\n  - image: {s}/far-amd64:v1\n  - image: {s}/far-s390x:v1\n",
        t = target.host(),
        s = source.host()
    );
    let dir = tempfile::tempdir().unwrap();
    let path = write_spec(dir.path(), "x.yaml", &spec);

    manifold(&["push", "from-spec", path.to_str().unwrap()])
        .await
        .ok();

    let pusher = Pusher::new(&target);
    for blob in amd64.blobs() {
        assert!(
            pusher.blob_exists("near", &blob.digest).await.unwrap(),
            "{} copied",
            blob.digest
        );
    }
    assert_pulls(
        &target,
        "near:v1",
        &[
            ("linux", "amd64", None, &amd64.manifest_digest),
            ("linux", "s390x", None, &s390x.manifest_digest),
        ],
    )
    .await;
}

#[tokio::test]
async fn a_blob_missing_from_the_source_repository_is_reported_with_its_digest() {
    let registry = TestRegistry::plain().await;
    let image = seed(
        &registry,
        "broken",
        "v1",
        ImageFixture::new("linux", "amd64", None),
    )
    .await;
    // Remove one layer's link from the source repository: the mount is refused (202) and the copy
    // that follows finds nothing to read.
    let layer = &image.layers[0].digest;
    let link = registry
        .storage_dir()
        .join("docker/registry/v2/repositories/broken/_layers/sha256")
        .join(layer.trim_start_matches("sha256:"));
    std::fs::remove_dir_all(&link).unwrap();
    let spec = format!(
        "image: {h}/fixed:v1\nmanifests:\n  - image: {h}/broken:v1\n    platform: {{os: linux, architecture: amd64}}\n",
        h = registry.host()
    );
    let dir = tempfile::tempdir().unwrap();
    let path = write_spec(dir.path(), "b.yaml", &spec);

    let run = manifold(&["push", "from-spec", path.to_str().unwrap()])
        .await
        .failed();

    assert!(run.stderr.contains(layer.as_str()), "{}", run.stderr);
    assert!(
        Pusher::new(&registry)
            .get_manifest("fixed", "v1", ACCEPT_ALL)
            .await
            .is_err()
    );
}

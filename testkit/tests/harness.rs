//! Self-test of the testkit: a real registry, fixtures pushed through the raw API, and skopeo
//! agreeing with what was pushed.

use manifold_testkit::media_types::{self as mt, ACCEPT_ALL};
use manifold_testkit::{
    Format, ImageFixture, IndexFixture, Pusher, TestRegistry, sha256_digest, skopeo_inspect,
    skopeo_inspect_raw, skopeo_pick,
};

#[test]
fn fixtures_are_deterministic_and_distinct() {
    let a = ImageFixture::new("linux", "amd64", None).build();
    let b = ImageFixture::new("linux", "amd64", None).build();
    assert_eq!(a, b);
    let seeded = ImageFixture::new("linux", "amd64", None).seed(7).build();
    assert_ne!(a.manifest_digest, seeded.manifest_digest);
    assert!(
        a.layers
            .iter()
            .zip(&seeded.layers)
            .all(|(x, y)| x.digest != y.digest)
    );
    let s390x = ImageFixture::new("linux", "s390x", None).build();
    assert_ne!(a.layers[0].digest, s390x.layers[0].digest);

    let config = ImageFixture::new("windows", "amd64", None)
        .os_version("10.0.17763.1879")
        .oci()
        .layers(3)
        .build();
    assert_eq!(config.media_type, mt::OCI_MANIFEST);
    let json = config.config_json();
    assert_eq!(json["os"], "windows");
    assert_eq!(json["os.version"], "10.0.17763.1879");
    assert_eq!(json["rootfs"]["diff_ids"].as_array().unwrap().len(), 3);
    let manifest: serde_json::Value = serde_json::from_slice(&config.manifest).unwrap();
    assert_eq!(manifest["mediaType"], mt::OCI_MANIFEST);
    assert_eq!(manifest["config"]["mediaType"], mt::OCI_CONFIG);
    assert_eq!(manifest["layers"][0]["mediaType"], mt::OCI_LAYER);

    let arm = ImageFixture::new("linux", "arm", Some("v7")).build();
    assert_eq!(arm.config_json()["variant"], "v7");
    assert_eq!(arm.descriptor()["platform"]["variant"], "v7");
}

#[test]
fn layers_are_gzip_tars_matching_diff_ids() {
    use std::io::Read;
    let image = ImageFixture::new("linux", "riscv64", None).seed(3).build();
    for (layer, diff_id) in image.layers.iter().zip(&image.diff_ids) {
        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(&layer.data[..])
            .read_to_end(&mut tar)
            .unwrap();
        assert_eq!(&sha256_digest(&tar), diff_id);
        let mut archive = tar::Archive::new(&tar[..]);
        let mut entries = archive.entries().unwrap();
        let mut entry = entries.next().unwrap().unwrap();
        let mut content = String::new();
        entry.read_to_string(&mut content).unwrap();
        assert!(content.contains("platform=linux/riscv64"), "{content}");
        assert!(content.contains("seed=3"), "{content}");
        assert!(entries.next().is_none());
    }
}

#[tokio::test]
async fn push_and_inspect_with_skopeo() {
    let registry = TestRegistry::plain().await;
    let pusher = Pusher::new(&registry);

    let docker_amd64 = ImageFixture::new("linux", "amd64", None).build();
    let docker_s390x = ImageFixture::new("linux", "s390x", None).build();
    let oci_amd64 = ImageFixture::new("linux", "amd64", None).oci().build();
    let oci_s390x = ImageFixture::new("linux", "s390x", None).oci().build();
    for (repo, image) in [
        ("docker-amd64", &docker_amd64),
        ("docker-s390x", &docker_s390x),
        ("oci-amd64", &oci_amd64),
        ("oci-s390x", &oci_s390x),
    ] {
        let digest = pusher.push_image(repo, "v1", image).await.unwrap();
        assert_eq!(digest, image.manifest_digest);
        for blob in image.blobs() {
            assert!(pusher.blob_exists(repo, &blob.digest).await.unwrap());
        }
        let fetched = pusher.get_manifest(repo, "v1", ACCEPT_ALL).await.unwrap();
        assert_eq!(fetched.bytes, image.manifest);
        assert_eq!(fetched.media_type, image.media_type);
        assert_eq!(
            fetched.digest.as_deref(),
            Some(image.manifest_digest.as_str())
        );
        assert_eq!(pusher.get_tags(repo).await.unwrap(), ["v1"]);

        let seen = skopeo_inspect(&registry, &format!("{repo}:v1"), "linux", "amd64", None)
            .await
            .unwrap();
        assert_eq!(seen["Digest"], image.manifest_digest.as_str());
        assert_eq!(seen["Architecture"], image.platform.architecture.as_str());
        assert_eq!(seen["Layers"].as_array().unwrap().len(), 2);
    }
    // Pushing again skips the blobs and gives the same digest.
    let again = pusher.push_image("docker-amd64", "v2", &docker_amd64).await;
    assert_eq!(again.unwrap(), docker_amd64.manifest_digest);
    assert_eq!(pusher.get_tags("docker-amd64").await.unwrap(), ["v1", "v2"]);
    assert!(pusher.get_tags("nothing-here").await.unwrap().is_empty());

    // An OCI index over two images, with a buildx-style attestation for each.
    let index = IndexFixture::new()
        .oci()
        .image(&oci_amd64)
        .image(&oci_s390x)
        .attestation_for(&oci_amd64)
        .attestation_for(&oci_s390x)
        .annotation(
            "org.opencontainers.image.source",
            "https://example.com/demo",
        )
        .build();
    assert_eq!(index.format, Format::Oci);
    assert_eq!(index.attestations().count(), 2);
    let digest = pusher.push_index("multi", "v1", &index).await.unwrap();
    assert_eq!(digest, index.digest);

    // skopeo 1.9.3 `inspect` reports the list's digest, with the picked child's arch and layers.
    let s390x = skopeo_inspect(&registry, "multi:v1", "linux", "s390x", None)
        .await
        .unwrap();
    assert_eq!(s390x["Digest"], index.digest.as_str());
    assert_eq!(s390x["Architecture"], "s390x");
    let layers: Vec<&str> = oci_s390x.layers.iter().map(|l| l.digest.as_str()).collect();
    assert_eq!(s390x["Layers"], serde_json::json!(layers));
    let picked = skopeo_pick(&registry, "multi:v1", "linux", "s390x", None).await;
    assert_eq!(picked.unwrap(), oci_s390x.manifest_digest);
    let picked = skopeo_pick(&registry, "multi:v1", "linux", "amd64", None).await;
    assert_eq!(picked.unwrap(), oci_amd64.manifest_digest);
    assert!(
        skopeo_pick(&registry, "multi:v1", "linux", "ppc64le", None)
            .await
            .is_err()
    );
    let raw = skopeo_inspect_raw(&registry, "multi:v1").await.unwrap();
    assert_eq!(raw, index.manifest);

    let served = pusher
        .get_manifest("multi", "v1", ACCEPT_ALL)
        .await
        .unwrap();
    assert_eq!(served.media_type, mt::OCI_INDEX);
    let json = served.json().unwrap();
    let attestation = &json["manifests"][2];
    assert_eq!(attestation["platform"]["architecture"], "unknown");
    assert_eq!(
        attestation["annotations"][mt::REFERENCE_TYPE_ANNOTATION],
        mt::ATTESTATION_MANIFEST
    );
    assert_eq!(
        attestation["annotations"][mt::REFERENCE_DIGEST_ANNOTATION],
        oci_amd64.manifest_digest.as_str()
    );
    let attestation_digest = attestation["digest"].as_str().unwrap();
    let child = pusher
        .get_manifest("multi", attestation_digest, ACCEPT_ALL)
        .await
        .unwrap();
    assert_eq!(child.json().unwrap()["layers"][0]["mediaType"], mt::IN_TOTO);

    // A Docker list over the Docker images and two arm variants, indented JSON.
    let arm_v6 = ImageFixture::new("linux", "arm", Some("v6")).build();
    let arm_v7 = ImageFixture::new("linux", "arm", Some("v7")).build();
    let list = IndexFixture::new()
        .image(&docker_amd64)
        .image(&docker_s390x)
        .image(&arm_v6)
        .image(&arm_v7)
        .pretty()
        .build();
    assert_eq!(list.media_type, mt::DOCKER_LIST);
    pusher
        .push_index("docker-multi", "v1", &list)
        .await
        .unwrap();
    let raw = skopeo_inspect_raw(&registry, "docker-multi:v1")
        .await
        .unwrap();
    assert_eq!(raw, list.manifest);
    for (arch, variant, expected) in [
        ("s390x", None, &docker_s390x),
        ("amd64", None, &docker_amd64),
        ("arm", Some("v7"), &arm_v7),
        ("arm", Some("v6"), &arm_v6),
    ] {
        let picked = skopeo_pick(&registry, "docker-multi:v1", "linux", arch, variant).await;
        assert_eq!(
            picked.unwrap(),
            expected.manifest_digest,
            "{arch} {variant:?}"
        );
    }
}

#[tokio::test]
async fn basic_auth_registry() {
    let registry = TestRegistry::basic("tester", "s3cret").await;
    assert_eq!(
        registry.credentials(),
        Some(("tester".to_owned(), "s3cret".to_owned()))
    );
    let anonymous = reqwest::get(format!("{}/v2/", registry.url()))
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let challenge = anonymous.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("Basic "), "{challenge}");

    let wrong = Pusher::new(&registry).with_credentials(Some(("tester", "nope")));
    assert!(wrong.get_tags("app").await.is_err());

    let pusher = Pusher::new(&registry);
    let image = ImageFixture::new("linux", "arm64", Some("v8")).build();
    let digest = pusher.push_image("app", "v1", &image).await.unwrap();
    assert_eq!(digest, image.manifest_digest);
    assert_eq!(pusher.get_tags("app").await.unwrap(), ["v1"]);
    let seen = skopeo_inspect(&registry, "app:v1", "linux", "arm64", Some("v8"))
        .await
        .unwrap();
    assert_eq!(seen["Digest"], image.manifest_digest.as_str());
    assert_eq!(seen["Architecture"], "arm64");
    let picked = skopeo_pick(&registry, "app:v1", "linux", "arm64", Some("v8")).await;
    assert_eq!(picked.unwrap(), image.manifest_digest);
}

#[tokio::test]
async fn registries_run_side_by_side_and_stop_on_drop() {
    let (a, b) = tokio::join!(TestRegistry::plain(), TestRegistry::plain());
    assert_ne!(a.port(), b.port());
    let url = a.url();
    let storage = a.storage_dir().to_owned();
    assert!(a.log().contains("listening on"));
    drop(a);
    assert!(reqwest::get(format!("{url}/v2/")).await.is_err());
    assert!(!storage.exists());
    assert_eq!(
        reqwest::get(format!("{}/v2/", b.url()))
            .await
            .unwrap()
            .status(),
        200
    );
}

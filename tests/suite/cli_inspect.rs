//! `manifold inspect` against content pushed by the tests: human layout, `--raw-bytes`, `--json`
//! (manifest-tool's `--raw` document and `--expand-config` are in `inspect_raw`).

use manifold_testkit::media_types::ACCEPT_ALL;
use manifold_testkit::{ImageFixture, IndexFixture, Pusher, TestRegistry};
use serde_json::Value;

use crate::support::cli::{manifold, seed};

#[tokio::test]
async fn inspecting_a_list_shows_every_entry_with_platform_and_layers() {
    let registry = TestRegistry::plain().await;
    let amd64 = ImageFixture::new("linux", "amd64", None)
        .oci()
        .layers(3)
        .build();
    let arm = ImageFixture::new("linux", "arm", Some("v7")).oci().build();
    let index = IndexFixture::new()
        .oci()
        .image(&amd64)
        .image(&arm)
        .attestation_for(&amd64)
        .build();
    Pusher::new(&registry)
        .push_index("multi", "v1", &index)
        .await
        .unwrap();
    let name = format!("{}/multi:v1", registry.host());

    let run = manifold(&["inspect", &name]).await.ok();

    let out = &run.stdout;
    assert!(
        out.contains(&format!(
            "Name:   {name} (Type: application/vnd.oci.image.index.v1+json)"
        )),
        "{out}"
    );
    assert!(out.contains(&format!("Digest: {}", index.digest)), "{out}");
    assert!(
        out.contains(" * Contains 3 manifest references (2 images, 1 attestation):"),
        "{out}"
    );
    assert!(
        out.contains(&format!("[1]   Digest: {}", amd64.manifest_digest)),
        "{out}"
    );
    assert!(
        out.contains(&format!("[1]   Length: {}", amd64.manifest.len())),
        "{out}"
    );
    assert!(
        out.contains("[2]    -    Arch: arm") && out.contains("[2]    - Variant: v7"),
        "{out}"
    );
    assert!(out.contains("[1] # Layers: 3"), "{out}");
    for layer in &amd64.layers {
        assert!(out.contains(&format!("digest = {}", layer.digest)), "{out}");
        assert!(
            out.contains(&format!("size = {}", layer.data.len())),
            "{out}"
        );
    }
    assert!(
        out.contains(&format!(
            ">>> Attestation for digest: {}",
            amd64.manifest_digest
        )),
        "{out}"
    );
}

#[tokio::test]
async fn inspect_raw_bytes_prints_the_exact_bytes_the_registry_stored() {
    let registry = TestRegistry::plain().await;
    let a = ImageFixture::new("linux", "amd64", None).build();
    let b = ImageFixture::new("linux", "s390x", None).build();
    // An indented document: any re-serialisation would change the bytes.
    let index = IndexFixture::new().image(&a).image(&b).pretty().build();
    Pusher::new(&registry)
        .push_index("pretty", "v1", &index)
        .await
        .unwrap();

    let by_tag = manifold(&[
        "inspect",
        "--raw-bytes",
        &format!("{}/pretty:v1", registry.host()),
    ])
    .await
    .ok();
    let by_digest = manifold(&[
        "inspect",
        "--raw-bytes",
        &format!("{}/pretty@{}", registry.host(), index.digest),
    ])
    .await
    .ok();

    assert_eq!(by_tag.raw_stdout, index.manifest);
    assert_eq!(by_digest.raw_stdout, index.manifest);
}

#[tokio::test]
async fn inspect_json_gives_every_descriptor_and_every_childs_layers() {
    let registry = TestRegistry::plain().await;
    let a = ImageFixture::new("linux", "amd64", None).layers(2).build();
    let b = ImageFixture::new("linux", "arm64", Some("v8"))
        .layers(1)
        .build();
    let index = IndexFixture::new()
        .oci()
        .image_annotated(&a, &[("org.example.k", "v")])
        .image(&b)
        .annotation("org.example.index", "yes")
        .build();
    Pusher::new(&registry)
        .push_index("js", "v1", &index)
        .await
        .unwrap();

    let run = manifold(&["inspect", "--json", &format!("{}/js:v1", registry.host())])
        .await
        .ok();

    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["digest"], index.digest.as_str());
    assert_eq!(doc["is_list"], true);
    assert_eq!(doc["annotations"]["org.example.index"], "yes");
    let entries = doc["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(
        entries[0]["descriptor"]["annotations"]["org.example.k"],
        "v"
    );
    assert_eq!(entries[1]["descriptor"]["platform"]["variant"], "v8");
    let layers: Vec<&str> = entries[0]["image"]["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap())
        .collect();
    let expected: Vec<&str> = a.layers.iter().map(|l| l.digest.as_str()).collect();
    assert_eq!(layers, expected);
    assert_eq!(
        entries[1]["image"]["config"]["digest"],
        b.config.digest.as_str()
    );
}

#[tokio::test]
async fn inspecting_a_single_image_reads_its_platform_from_the_config() {
    let registry = TestRegistry::plain().await;
    let image = seed(
        &registry,
        "single",
        "v1",
        ImageFixture::new("linux", "ppc64le", None).layers(2),
    )
    .await;
    let name = format!("{}/single@{}", registry.host(), image.manifest_digest);

    let run = manifold(&["inspect", &name]).await.ok();

    let out = &run.stdout;
    assert!(
        out.contains(&format!("Digest: {}", image.manifest_digest)),
        "{out}"
    );
    assert!(
        out.contains("OS: linux") && out.contains("Arch: ppc64le"),
        "{out}"
    );
    assert!(out.contains("# Layers: 2"), "{out}");
    let stored = Pusher::new(&registry)
        .get_manifest("single", "v1", ACCEPT_ALL)
        .await
        .unwrap();
    assert!(
        out.contains(&format!("Size: {}", stored.bytes.len())),
        "{out}"
    );
}

#[tokio::test]
async fn inspecting_a_reference_that_does_not_exist_says_so() {
    let registry = TestRegistry::plain().await;

    let run = manifold(&["inspect", &format!("{}/nothing:here", registry.host())])
        .await
        .failed();

    assert!(
        run.stderr.contains("nothing:here") && run.stderr.contains("404"),
        "{}",
        run.stderr
    );
}

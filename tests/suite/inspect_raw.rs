//! `manifold inspect --raw` as manifest-tool v2 prints it — its own JSON document, not the
//! registry's bytes (those are `--raw-bytes`) — and `--expand-config`, each image's config in the
//! `--raw`, `--json` and text forms, against images and lists pushed by the tests.

use manifold_testkit::media_types::ACCEPT_ALL;
use manifold_testkit::{BuiltImage, ImageFixture, IndexFixture, Pusher, TestRegistry};
use serde_json::Value;

use crate::support::cli::{manifold, seed};

/// The keys of a JSON object, in the order printed.
fn keys(doc: &Value) -> Vec<&str> {
    doc.as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect()
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

/// An OCI index of linux/amd64 (two layers) and linux/arm/v7 images and an attestation of the
/// first, pushed as `multi:v1`.
struct SeededList {
    name: String,
    index: Vec<u8>,
    digest: String,
    amd64: BuiltImage,
    arm: BuiltImage,
    /// Every child's manifest as stored, in the list's order.
    children: Vec<Vec<u8>>,
}

async fn seed_list(registry: &TestRegistry) -> SeededList {
    let amd64 = ImageFixture::new("linux", "amd64", None)
        .oci()
        .layers(2)
        .build();
    let arm = ImageFixture::new("linux", "arm", Some("v7")).oci().build();
    let index = IndexFixture::new()
        .oci()
        .image(&amd64)
        .image(&arm)
        .attestation_for(&amd64)
        .build();
    let pusher = Pusher::new(registry);
    pusher.push_index("multi", "v1", &index).await.unwrap();
    let mut children = Vec::new();
    for entry in json(&index.manifest)["manifests"].as_array().unwrap() {
        let digest = entry["digest"].as_str().unwrap();
        let child = pusher
            .get_manifest("multi", digest, ACCEPT_ALL)
            .await
            .unwrap();
        children.push(child.bytes.to_vec());
    }
    SeededList {
        name: format!("{}/multi:v1", registry.host()),
        index: index.manifest,
        digest: index.digest,
        amd64,
        arm,
        children,
    }
}

#[tokio::test]
async fn raw_prints_manifest_tool_s_document_of_a_list_with_every_childs_manifest() {
    let registry = TestRegistry::plain().await;
    let SeededList {
        name,
        index,
        digest,
        children,
        ..
    } = seed_list(&registry).await;

    let run = manifold(&["inspect", "--raw", &name]).await.ok();

    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    let stored = json(&index);
    let mut expected_keys = vec!["name", "digest", "schemaVersion"];
    if stored.get("mediaType").is_some() {
        expected_keys.push("mediaType");
    }
    expected_keys.push("manifests");
    assert_eq!(keys(&doc), expected_keys, "{doc:#}");
    assert_eq!(doc["name"], name.as_str(), "the name as given");
    assert_eq!(doc["digest"], digest.as_str());
    assert_eq!(doc["schemaVersion"], 2);
    assert_eq!(doc.get("mediaType"), stored.get("mediaType"));
    let manifests = doc["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 3, "attestations included: {doc:#}");
    for (shown, child) in manifests.iter().zip(&children) {
        assert_eq!(*shown, json(child), "each child's manifest in full");
    }
    assert!(
        run.stdout.starts_with("{\n    \"name\": ") && run.stdout.ends_with("}\n"),
        "indented by four spaces, as manifest-tool prints it: {}",
        run.stdout
    );
    assert_ne!(run.raw_stdout, index, "not the registry's bytes");
}

#[tokio::test]
async fn raw_of_an_image_puts_name_digest_os_and_architecture_before_its_manifest() {
    let registry = TestRegistry::plain().await;
    let image = seed(
        &registry,
        "single",
        "v1",
        ImageFixture::new("linux", "arm64", Some("v8")).layers(2),
    )
    .await;
    let name = format!("{}/single:v1", registry.host());

    let run = manifold(&["inspect", "--raw", &name]).await.ok();

    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    let manifest = json(&image.manifest);
    assert_eq!(
        keys(&doc),
        [
            "name",
            "digest",
            "os",
            "architecture",
            "schemaVersion",
            "mediaType",
            "config",
            "layers"
        ],
        "{doc:#}"
    );
    assert_eq!(doc["name"], name.as_str());
    assert_eq!(doc["digest"], image.manifest_digest.as_str());
    assert_eq!(
        (doc["os"].as_str(), doc["architecture"].as_str()),
        (Some("linux"), Some("arm64"))
    );
    for key in ["schemaVersion", "mediaType", "config", "layers"] {
        assert_eq!(doc[key], manifest[key], "{key}");
    }
}

#[tokio::test]
async fn expand_config_shows_the_image_config_in_manifest_tool_s_expanded_form() {
    let registry = TestRegistry::plain().await;
    let image = seed(
        &registry,
        "single",
        "v1",
        ImageFixture::new("linux", "ppc64le", None),
    )
    .await;
    let name = format!("{}/single:v1", registry.host());

    let run = manifold(&["inspect", "--raw", "--expand-config", &name])
        .await
        .ok();
    let refused = manifold(&["inspect", "--raw-bytes", "--expand-config", &name]).await;

    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        keys(&doc),
        [
            "schemaVersion",
            "name",
            "digest",
            "os",
            "architecture",
            "mediaType",
            "config",
            "layers"
        ],
        "{doc:#}"
    );
    let config = &doc["config"];
    assert_eq!(config["architecture"], "ppc64le", "{doc:#}");
    assert_eq!(config["os"], "linux", "{doc:#}");
    assert_eq!(config["rootfs"]["type"], "layers", "{doc:#}");
    assert_eq!(
        config["rootfs"]["diff_ids"],
        serde_json::json!(image.diff_ids)
    );
    assert_eq!(doc["layers"], json(&image.manifest)["layers"]);
    assert_eq!(
        refused.code, 1,
        "the bytes have no config: {}",
        refused.stderr
    );
}

#[tokio::test]
async fn expand_config_shows_each_childs_config_in_raw_json_and_text() {
    let registry = TestRegistry::plain().await;
    let SeededList {
        name, amd64, arm, ..
    } = seed_list(&registry).await;

    let raw = manifold(&["inspect", "--raw", "--expand-config", &name])
        .await
        .ok();
    let expanded = manifold(&["inspect", "--json", "--expand-config", &name])
        .await
        .ok();
    let plain = manifold(&["inspect", "--json", &name]).await.ok();
    let text = manifold(&["inspect", "--expand-config", &name]).await.ok();

    let raw: Value = serde_json::from_str(&raw.stdout).unwrap();
    assert_eq!(
        raw["manifests"][0]["config"]["architecture"], "amd64",
        "{raw:#}"
    );
    assert_eq!(raw["manifests"][1]["config"]["variant"], "v7", "{raw:#}");
    assert_eq!(raw["manifests"][1]["layers"], json(&arm.manifest)["layers"]);
    let expanded: Value = serde_json::from_str(&expanded.stdout).unwrap();
    assert_eq!(
        expanded["manifests"][0]["image"]["config_document"],
        json(&amd64.config.data),
        "the config as stored: {expanded:#}"
    );
    let plain: Value = serde_json::from_str(&plain.stdout).unwrap();
    assert!(
        plain["manifests"][0]["image"]
            .get("config_document")
            .is_none()
    );
    let out = &text.stdout;
    assert!(
        out.contains(&format!("[1]   Config: {}", amd64.config.digest)),
        "{out}"
    );
    assert!(
        out.contains(&format!("[2]   Config: {}", arm.config.digest)),
        "{out}"
    );
    assert!(out.contains("\"architecture\": \"arm\""), "{out}");
}

//! What consumers really pull, against the real registry: a multi-version Windows list verifies
//! and each Windows build resolves to its own child; manifest-tool's pushml shape (plain
//! `windows/amd64` entries told apart by their configs' `os.version`) pushes; `verify` fails the
//! lists a pull breaks on, naming the entry; a re-push restores a child deleted from the target;
//! an arm64 image without a variant is written `arm64/v8` (`arm64` in manifest-tool's format).

use manifold_testkit::media_types::ACCEPT_ALL;
use manifold_testkit::{BuiltImage, ImageFixture, Pusher, TestRegistry, sha256_digest};
use serde_json::{Value, json};

use crate::support::cli::{assert_demo_pulls, manifold, seed, seed_demo, write_spec};
use crate::support::demo::demo_spec;

const LTSC2019: &str = "10.0.17763.5820";
const LTSC2022: &str = "10.0.20348.2461";

/// `push --json from-spec` of this spec; the report.
async fn push(spec: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let file = write_spec(dir.path(), "spec.yaml", spec);
    let run = manifold(&["push", "--json", "from-spec", file.to_str().unwrap()])
        .await
        .ok();
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);
    serde_json::from_str(&run.stdout).unwrap()
}

/// The list stored under `repo:tag`, parsed.
async fn stored(registry: &TestRegistry, repo: &str, tag: &str) -> Value {
    let manifest = Pusher::new(registry)
        .get_manifest(repo, tag, ACCEPT_ALL)
        .await
        .unwrap();
    serde_json::from_slice(&manifest.bytes).unwrap()
}

/// The child `inspect --platform PLATFORM --raw-bytes REF` prints: its digest.
async fn picked(reference: &str, platform: &str) -> String {
    let run = manifold(&["inspect", "--platform", platform, "--raw-bytes", reference])
        .await
        .ok();
    sha256_digest(&run.raw_stdout)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pushml_shaped_windows_list_takes_its_versions_from_the_configs_and_verifies() {
    let registry = TestRegistry::plain().await;
    let host = registry.host();
    let mut images = Vec::new();
    let mut spec = format!("image: {host}/win:v1\nmanifests:\n");
    for (name, version) in [("ltsc2019", LTSC2019), ("ltsc2022", LTSC2022)] {
        let fixture = ImageFixture::new("windows", "amd64", None).os_version(version);
        images.push(seed(&registry, &format!("win-{name}"), "v1", fixture).await);
        spec.push_str(&format!(
            "  - image: {host}/win-{name}:v1\n    platform:\n      architecture: amd64\n      os: windows\n"
        ));
    }

    let report = push(&spec).await;
    let name = format!("{host}/win:v1");
    let verified = manifold(&["verify", "--json", &name]).await.ok();

    let list = stored(&registry, "win", "v1").await;
    let versions: Vec<&str> = list["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["os.version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, [LTSC2019, LTSC2022], "{list:#}");
    assert_eq!(report["platforms"].as_array().unwrap().len(), 2);
    let verified: Value = serde_json::from_str(&verified.stdout).unwrap();
    for (check, image) in verified["platforms"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&images)
    {
        assert_eq!(
            check["resolves_to"],
            image.manifest_digest.as_str(),
            "{check}"
        );
        assert!(check.get("problem").is_none(), "{check}");
    }
    assert_eq!(
        picked(&name, "windows(10.0.20348.3000)/amd64").await,
        images[1].manifest_digest,
        "a 2022 host pulls the 2022 build, not the first windows/amd64 entry"
    );
    assert_eq!(
        picked(&name, "windows(10.0.17763.1)/amd64").await,
        images[0].manifest_digest
    );
    let none = manifold(&["inspect", "--platform", "windows(10.0.14393)/amd64", &name])
        .await
        .failed();
    assert!(none.stderr.contains("no child"), "{}", none.stderr);
}

/// Pushes `images` by digest into `repo` and a Docker list over `entries` (descriptors) as `tag`.
async fn hand_made_list(
    registry: &TestRegistry,
    repo: &str,
    images: &[&BuiltImage],
    entries: Vec<Value>,
) {
    let pusher = Pusher::new(registry);
    for image in images {
        pusher
            .push_image(repo, &image.manifest_digest, image)
            .await
            .unwrap();
    }
    let list = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
        "manifests": entries,
    });
    let bytes = serde_json::to_vec(&list).unwrap();
    pusher
        .push_manifest(repo, "v1", &bytes, list["mediaType"].as_str().unwrap())
        .await
        .unwrap();
}

/// `verify --json` of `repo:v1`, which must fail; the problems of entry `entry`.
async fn verify_fails(registry: &TestRegistry, repo: &str, entry: usize) -> Vec<String> {
    let name = format!("{}/{repo}:v1", registry.host());
    let human = manifold(&["verify", &name]).await.failed();
    assert!(
        human.stdout.contains(&format!("[{}] sha256:", entry + 1)),
        "{}",
        human.stdout
    );
    let json = manifold(&["verify", "--json", &name]).await.failed();
    let verification: Value = serde_json::from_str(&json.stdout).unwrap();
    let entries = verification["entries"].as_array().unwrap();
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e.get("problems").is_some(), i == entry, "{verification:#}");
    }
    entries[entry]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_fails_a_missing_child_a_wrong_size_and_a_wrong_label_naming_the_entry() {
    let registry = TestRegistry::plain().await;
    let amd64 = ImageFixture::new("linux", "amd64", None).build();
    let s390x = ImageFixture::new("linux", "s390x", None).build();
    let both = [&amd64, &s390x];

    hand_made_list(
        &registry,
        "gone",
        &both,
        vec![amd64.descriptor(), s390x.descriptor()],
    )
    .await;
    Pusher::new(&registry)
        .delete_manifest("gone", &s390x.manifest_digest)
        .await
        .unwrap();
    let mut sized = s390x.descriptor();
    sized["size"] = json!(s390x.size() + 7);
    hand_made_list(&registry, "sized", &both, vec![amd64.descriptor(), sized]).await;
    let mut labelled = amd64.descriptor();
    labelled["platform"] = json!({"os": "linux", "architecture": "arm64", "variant": "v8"});
    hand_made_list(
        &registry,
        "labelled",
        &both,
        vec![s390x.descriptor(), labelled],
    )
    .await;

    let gone = verify_fails(&registry, "gone", 1).await;
    assert!(gone[0].contains("is not in"), "{gone:?}");
    let sized = verify_fails(&registry, "sized", 1).await;
    assert!(sized[0].contains("gives size"), "{sized:?}");
    let labelled = verify_fails(&registry, "labelled", 1).await;
    assert!(
        labelled[0].contains("labelled linux/arm64/v8 but its config says linux/amd64"),
        "{labelled:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_deep_asks_for_every_blob_and_names_a_missing_layer() {
    let registry = TestRegistry::plain().await;
    let amd64 = ImageFixture::new("linux", "amd64", None).layers(2).build();
    let s390x = ImageFixture::new("linux", "s390x", None).build();
    hand_made_list(
        &registry,
        "app",
        &[&amd64, &s390x],
        vec![amd64.descriptor(), s390x.descriptor()],
    )
    .await;
    let name = format!("{}/app:v1", registry.host());
    let shallow = manifold(&["verify", "--json", &name]).await.ok();
    let deep = manifold(&["--debug", "verify", "--deep", &name]).await.ok();
    // The list; each child and its config; deep, also each config and layer HEAD.
    let requests = deep.stderr.matches("registry request").count();
    let blobs: usize = [&amd64, &s390x].iter().map(|i| 1 + i.layers.len()).sum();
    assert_eq!(requests, 1 + 2 * 2 + blobs, "{}", deep.stderr);
    let shallow: Value = serde_json::from_str(&shallow.stdout).unwrap();
    assert_eq!(shallow["deep"], false);
    assert_eq!(shallow["entries"].as_array().unwrap().len(), 2);

    let layer = &amd64.layers[1].digest;
    let url = format!("http://{}/v2/app/blobs/{layer}", registry.host());
    let deleted = manifold_testkit::http_client()
        .build()
        .unwrap()
        .delete(url)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 202);
    manifold(&["verify", &name]).await.ok();
    let broken = manifold(&["verify", "--deep", &name]).await.failed();
    assert!(
        broken.stdout.contains(&format!(
            "[1] {}: its layer {layer} is not in",
            amd64.manifest_digest
        )),
        "{}",
        broken.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_re_push_restores_a_child_deleted_from_the_target_and_the_tag_pulls_again() {
    let registry = TestRegistry::plain().await;
    let (s390x, amd64) = seed_demo(&registry).await;
    let spec = demo_spec(&registry.host()).target("demo:v0.2").yaml();
    let first = push(&spec).await;
    Pusher::new(&registry)
        .delete_manifest("demo", &s390x.manifest_digest)
        .await
        .unwrap();
    let broken =
        manifold_testkit::skopeo_pick(&registry, "demo:v0.2", "linux", "s390x", None).await;
    assert!(broken.is_err(), "the deleted child no longer pulls");

    let again = push(&spec).await;

    assert_eq!(again["unchanged"], true, "{again:#}");
    assert_eq!(again["digest"], first["digest"]);
    assert_eq!(
        again["restored"],
        json!([s390x.manifest_digest]),
        "{again:#}"
    );
    assert_demo_pulls(&registry, "demo:v0.2", &s390x, &amd64).await;
    let whole = push(&spec).await;
    assert!(whole.get("restored").is_none(), "{whole:#}");
    assert_eq!(
        whole["requests"],
        2 * 2 + 1,
        "an unchanged, whole list: 2N+1"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_arm64_image_without_a_variant_is_written_arm64_v8() {
    let registry = TestRegistry::plain().await;
    let host = registry.host();
    seed(
        &registry,
        "app-arm64",
        "v1",
        ImageFixture::new("linux", "arm64", None),
    )
    .await;
    seed(
        &registry,
        "app-amd64",
        "v1",
        ImageFixture::new("linux", "amd64", None),
    )
    .await;
    let spec = format!(
        "image: {host}/app:v1\nmanifests:\n  - image: {host}/app-arm64:v1\n    platform: {{os: linux, architecture: arm64}}\n  - image: {host}/app-amd64:v1\n"
    );

    push(&spec).await;
    let as_manifest_tool = spec.replace("/app:v1", "/app:mt");
    let dir = tempfile::tempdir().unwrap();
    let file = write_spec(dir.path(), "mt.yaml", &as_manifest_tool);
    let file = file.to_str().unwrap();
    manifold(&["push", "--format", "manifest-tool", "from-spec", file])
        .await
        .ok();

    let list = stored(&registry, "app", "v1").await;
    assert_eq!(
        list["manifests"][0]["platform"]["variant"], "v8",
        "{list:#}"
    );
    assert!(list["manifests"][1]["platform"].get("variant").is_none());
    let manifest_tool = stored(&registry, "app", "mt").await;
    let arm64 = &manifest_tool["manifests"][0]["platform"];
    assert_eq!(arm64["architecture"], "arm64", "{manifest_tool:#}");
    assert!(arm64.get("variant").is_none(), "as manifest-tool writes it");
}

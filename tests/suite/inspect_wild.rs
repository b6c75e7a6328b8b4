//! `inspect` of what registries in the wild hold: a sparse index (a child deleted after the list
//! was pushed, on the real registry) and a Docker schema 1 manifest (from a wiremock registry:
//! distribution 2.8 no longer takes schema 1 pushes).

use manifold_testkit::{Pusher, TestRegistry};
use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::cli::{manifold, seed_two_arch_index};

/// A list of two images whose second child the registry no longer has; its bytes and the
/// missing child's digest.
async fn sparse_list(registry: &TestRegistry) -> (Vec<u8>, String) {
    let (index, _, arm64) = seed_two_arch_index(registry, "sparse", "v1").await;
    let pusher = Pusher::new(registry);
    pusher
        .delete_manifest("sparse", &arm64.manifest_digest)
        .await
        .unwrap();
    (index.manifest, arm64.manifest_digest)
}

#[tokio::test]
async fn a_sparse_index_is_printed_raw_in_one_request_and_inspected_with_its_missing_child_marked()
{
    let registry = TestRegistry::plain().await;
    let (bytes, missing) = sparse_list(&registry).await;
    let name = format!("{}/sparse:v1", registry.host());

    let raw = manifold(&["inspect", "--raw-bytes", &name]).await.ok();
    let raw_log = registry.log();
    let human = manifold(&["inspect", &name]).await.ok();
    let json = manifold(&["inspect", "--json", &name]).await.ok();
    let shaped = manifold(&["inspect", "--raw", &name]).await.failed();

    assert_eq!(raw.raw_stdout, bytes);
    let requests: Vec<&str> = raw_log
        .lines()
        .filter(|l| l.contains(" HTTP/1.1\" ") && l.contains("\"manifold/"))
        .collect();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    assert!(
        requests[0].contains("\"GET /v2/sparse/manifests/v1 "),
        "{requests:#?}"
    );
    let out = &human.stdout;
    assert!(out.contains(&format!("Digest: {missing}")), "{out}");
    assert!(
        out.contains("(missing: the registry does not have this manifest"),
        "{out}"
    );
    assert!(
        out.contains("# Layers: 2"),
        "the present child is shown in full: {out}"
    );
    let doc: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(doc["manifests"][1]["missing"], true, "{doc:#}");
    assert_eq!(
        doc["manifests"][1]["descriptor"]["digest"],
        missing.as_str()
    );
    assert!(doc["manifests"][0].get("missing").is_none(), "{doc:#}");
    assert!(doc["manifests"][0]["image"]["layers"].is_array(), "{doc:#}");
    assert!(
        shaped.stderr.contains(&missing) && shaped.stderr.contains("--raw-bytes"),
        "manifest-tool's --raw form cannot hold a missing child: {}",
        shaped.stderr
    );
}

/// A signed schema 1 manifest, as old registries still serve them.
const SCHEMA1: &str = r#"{
   "schemaVersion": 1,
   "name": "old/app",
   "tag": "v1",
   "architecture": "amd64",
   "fsLayers": [{"blobSum": "sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4"}],
   "history": [{"v1Compatibility": "{\"id\":\"e45a5af57b00862e5ef5782a9925979a02ba2b12dff832fd0991335f4a11e5c5\"}"}],
   "signatures": [{"header": {"alg": "ES256"}, "signature": "c2lnbmF0dXJl", "protected": "e30"}]
}"#;

#[tokio::test]
async fn a_schema_1_manifest_is_printed_raw_and_otherwise_named_for_what_it_is() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/old/app/manifests/v1"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            SCHEMA1.as_bytes().to_vec(),
            "application/vnd.docker.distribution.manifest.v1+prettyjws",
        ))
        .mount(&server)
        .await;
    let name = format!("{}/old/app:v1", server.address());

    let raw = manifold(&["inspect", "--raw-bytes", &name]).await.ok();
    let human = manifold(&["inspect", &name]).await.failed();

    assert_eq!(raw.raw_stdout, SCHEMA1.as_bytes());
    let asked = server.received_requests().await.unwrap();
    let accept = asked[0].headers.get("accept").unwrap().to_str().unwrap();
    assert!(accept.contains("manifest.v1+prettyjws"), "{accept}");
    assert!(
        accept.starts_with("application/vnd.oci.image.index.v1+json"),
        "{accept}"
    );
    let err = &human.stderr;
    assert!(err.contains("Docker schema 1 manifest"), "{err}");
    assert!(err.contains("inspect --raw-bytes"), "{err}");
}

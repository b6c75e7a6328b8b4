//! Registries in the wild, part five: a real list pushed with the CLI through a double of each
//! registry ([`QuirkProxy`] with its [`Profile`], in front of a real `docker-registry`, so that
//! everything but the quirk is real), and what the user sees — the registry's content behind the
//! double, the error text and its code.
//!
//! - GHCR and Artifact Registry redirect the referrers API to an HTML page (Artifact Registry off
//!   the registry, which the service does not follow), GitLab answers it with
//!   an HTML 404, ECR has none but sends `OCI-Subject`: the tag schema is used.
//! - ECR with the referrers API answers `405` for an index only: that subject's referrers are read
//!   from its tag schema, the images' still from the API.
//! - ECR and Trow answer a mount with an upload session: the blob is streamed into it.
//! - ECR's immutable tags: `TAG_IMMUTABLE` with advice, and the same list again is no failure.
//! - Artifact Registry refuses a Docker list with annotations: refused before the push, with
//!   `--type oci` named; `auto` makes an OCI index there.
//! - Gitea refuses an OCI index: a Docker list instead when every entry can be one, else a clear
//!   error.
//! - Harbor refuses a list naming one child twice: an error naming both entries; it answers a
//!   mount from a project it does not know with 401: an upload in a session of its own.
//! - Nexus answers a list PUT with `BLOB_UNKNOWN` for a moment after its children: sent again.
//! - Any registry: a list over 4 MiB (here once its sources are flattened) is refused before
//!   anything is written, with advice.
//! - Quay answers schema 1 to a narrow `Accept`: the full one gets the image; a schema-1-only
//!   source is a clear error.

use manifold::model::{Digest, Reference};
use manifold::registry::{Allow, ClientConfig, RegistryClient};
use manifold_testkit::media_types::ACCEPT_ALL;
use manifold_testkit::referrers::{cosign_signature, digest_tag, sbom};
use manifold_testkit::{ImageFixture, IndexFixture, Profile, Pusher, QuirkProxy, TestRegistry};
use serde_json::Value;

use crate::support::cli::{
    Run, assert_demo_pulls, manifold, seed, seed_demo, seed_two_arch_index, write_spec,
};
use crate::support::demo::demo_spec;
use crate::support::referrers::{signed_sources, signed_yaml};
use crate::support::referrers_api::ReferrersFront;

const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// `manifold push --json [push...] from-spec` of `yaml`; the run and the document it printed
/// (the report, or the error).
async fn push_yaml(yaml: &str, push: &[&str]) -> (Run, Value) {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(dir.path(), "spec.yaml", yaml);
    let mut args = vec!["push", "--json"];
    args.extend(push);
    args.extend(["from-spec", spec.to_str().unwrap()]);
    let run = manifold(&args).await;
    let doc = serde_json::from_str(&run.stdout).unwrap_or(Value::Null);
    (run, doc)
}

/// Asserts that `run` failed, without a panic, with `code` in its error document; the message.
fn failed_with<'a>(run: Run, error: &'a Value, code: &str) -> &'a str {
    let run = run.failed();
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert_eq!(error["error"]["code"], code, "{error:#}");
    error["error"]["message"].as_str().unwrap_or_default()
}

/// The media type `repo:tag` is stored as in `registry`.
async fn stored_type(registry: &TestRegistry, repo: &str, tag: &str) -> String {
    let pusher = Pusher::new(registry);
    pusher
        .get_manifest(repo, tag, ACCEPT_ALL)
        .await
        .unwrap()
        .media_type
}

/// Pushes the signed sources with `referrers: true` through a double of `profile`; checks that
/// the signature and the SBOM reached the target by the tag schema and that the double was
/// asked the referrers API.
async fn referrers_carried_through(profile: Profile) {
    let registry = TestRegistry::plain().await;
    let signed = signed_sources(&registry).await;
    let double = QuirkProxy::start(&registry.host(), profile).await;

    let (run, _) = push_yaml(&signed_yaml(&double.host, "target", true), &[]).await;

    let run = run.ok();
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    signed.assert_carried(&registry, "target").await;
    let asked = double.seen().iter().any(|l| l.contains("/referrers/"));
    assert!(asked, "the referrers API was asked: {:?}", double.seen());
}

#[tokio::test]
async fn a_referrers_api_redirected_to_an_html_page_as_ghcr_does_leaves_the_tag_schema_to_use() {
    referrers_carried_through(Profile::Ghcr).await;
}

#[tokio::test]
async fn a_referrers_api_redirected_to_a_sign_in_page_as_artifact_registry_does_is_no_api() {
    referrers_carried_through(Profile::Gcr).await;
}

#[tokio::test]
async fn a_referrers_api_answered_with_gitlabs_html_404_page_is_no_api() {
    referrers_carried_through(Profile::GitLab).await;
}

#[tokio::test]
async fn ecrs_oci_subject_without_a_referrers_api_does_not_keep_the_tag_schema_from_being_written()
{
    referrers_carried_through(Profile::Ecr { immutable: false }).await;
}

#[tokio::test]
async fn a_referrers_api_redirected_off_the_registry_is_no_api_where_redirects_stay_on_it() {
    let registry = TestRegistry::plain().await;
    let image = seed(
        &registry,
        "app",
        "v1",
        ImageFixture::new("linux", "amd64", None),
    )
    .await;
    let double = QuirkProxy::start(&registry.host(), Profile::Gcr).await;
    let confined = ClientConfig {
        allow: Allow::Only(vec![double.host.clone()]),
        ..ClientConfig::default()
    };
    let client = RegistryClient::new(confined).unwrap();
    let repo = Reference::parse(&format!("{}/app:v1", double.host)).unwrap();
    let digest = Digest::parse(&image.manifest_digest).unwrap();

    let listed = client.referrers(&repo, &digest).await.unwrap();

    assert_eq!(listed, None);
    let seen = double.seen();
    assert!(seen.iter().any(|l| l.contains("/referrers/")), "{seen:?}");
    assert!(!seen.iter().any(|l| l.contains("/login")), "{seen:?}");
}

/// Pushes the demo through a double of `profile`; checks that it landed and that each platform
/// pulls its own child. The registry, the double and what manifold printed on stderr.
async fn demo_through(profile: Profile) -> (TestRegistry, QuirkProxy, String) {
    let registry = TestRegistry::plain().await;
    let (s390x, amd64) = seed_demo(&registry).await;
    let double = QuirkProxy::start(&registry.host(), profile).await;

    let (run, _) = push_yaml(&demo_spec(&double.host).yaml(), &[]).await;

    let stderr = run.ok().stderr;
    assert_demo_pulls(&registry, "demo:v0.2", &s390x, &amd64).await;
    (registry, double, stderr)
}

/// Pushes the demo through a double of `profile`; every mount the double was asked for was
/// answered with an upload session the blob was streamed into.
async fn demo_streamed_through(profile: Profile) {
    let (_registry, double, _) = demo_through(profile).await;
    let seen = double.seen();
    let mounts = seen.iter().filter(|l| l.contains("mount=")).count();
    let uploads = seen
        .iter()
        .filter(|l| l.starts_with("PUT /v2/demo/blobs/uploads/"));
    assert!(mounts > 0, "{seen:?}");
    assert_eq!(
        uploads.count(),
        mounts,
        "each refused mount streamed: {seen:?}"
    );
}

#[tokio::test]
async fn a_mount_ecr_answers_with_an_upload_session_is_streamed_into_that_session() {
    demo_streamed_through(Profile::Ecr { immutable: false }).await;
}

#[tokio::test]
async fn a_mount_trow_answers_with_a_new_session_is_streamed_into_that_session() {
    demo_streamed_through(Profile::Trow).await;
}

#[tokio::test]
async fn an_immutable_tag_holding_another_list_is_tag_immutable_with_advice_and_the_same_list_passes()
 {
    let registry = TestRegistry::plain().await;
    seed_demo(&registry).await;
    let double = QuirkProxy::start(&registry.host(), Profile::Ecr { immutable: true }).await;
    let host = &double.host;
    let demo = demo_spec(host)
        .yaml()
        .replace("manifests:", "tags: [stable]\nmanifests:");
    let (first, report) = push_yaml(&demo, &[]).await;
    first.ok();
    let digest = report["digest"].as_str().unwrap().to_owned();

    let (again, repeated) = push_yaml(&demo, &[]).await;
    let other = format!(
        "image: {host}/demo:v0.2\nmanifests:\n  - image: {host}/demo-amd64:v0.2\n    platform: {{os: linux, architecture: amd64}}\n"
    );
    let (moved, error) = push_yaml(&other, &[]).await;

    again.ok();
    assert_eq!(
        repeated["digest"],
        digest.as_str(),
        "the same list again passes"
    );
    let message = failed_with(moved, &error, "TAG_IMMUTABLE");
    assert!(message.contains("immutable"), "{message}");
    assert!(message.contains("push under a new tag"), "{message}");
    let pusher = Pusher::new(&registry);
    let held = pusher
        .get_manifest("demo", "v0.2", ACCEPT_ALL)
        .await
        .unwrap();
    assert_eq!(held.digest.as_deref(), Some(digest.as_str()));
}

#[tokio::test]
async fn a_docker_list_with_annotations_is_refused_before_artifact_registry_sees_it_and_auto_makes_an_index()
 {
    let registry = TestRegistry::plain().await;
    seed_demo(&registry).await;
    let double = QuirkProxy::start(&registry.host(), Profile::Gcr).await;
    let annotated = demo_spec(&double.host).yaml().replace(
        "manifests:",
        "annotations:\n  org.opencontainers.image.source: https://example.com/demo\nmanifests:",
    );

    let (docker, error) = push_yaml(&annotated, &["--type", "docker"]).await;
    let puts_before_auto = double.count("PUT /v2/demo/manifests/");
    let (auto, _) = push_yaml(&annotated, &["--type", "auto"]).await;

    docker.failed();
    let message = error["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("--type oci"), "{message}");
    assert_eq!(puts_before_auto, 0, "nothing was PUT: {:?}", double.seen());
    auto.ok();
    assert_eq!(stored_type(&registry, "demo", "v0.2").await, OCI_INDEX);
}

#[tokio::test]
async fn an_oci_index_gitea_refuses_is_pushed_as_a_docker_list_when_every_entry_can_be_one() {
    let registry = TestRegistry::plain().await;
    let (s390x, amd64) = seed_demo(&registry).await;
    let double = QuirkProxy::start(&registry.host(), Profile::Gitea).await;

    let (run, _) = push_yaml(&demo_spec(&double.host).yaml(), &["--type", "oci"]).await;

    let run = run.ok();
    assert!(
        run.stderr.contains("Docker manifest list instead"),
        "{}",
        run.stderr
    );
    assert_eq!(stored_type(&registry, "demo", "v0.2").await, DOCKER_LIST);
    assert_demo_pulls(&registry, "demo:v0.2", &s390x, &amd64).await;
}

#[tokio::test]
async fn an_oci_index_gitea_refuses_that_holds_oci_images_is_a_clear_error_naming_one() {
    let registry = TestRegistry::plain().await;
    let oci = |arch| ImageFixture::new("linux", arch, None).oci();
    seed(&registry, "app-amd64", "v1", oci("amd64")).await;
    seed(&registry, "app-arm64", "v1", oci("arm64")).await;
    let double = QuirkProxy::start(&registry.host(), Profile::Gitea).await;
    let host = &double.host;
    let yaml = format!(
        "image: {host}/app:v1\nmanifests:\n  - image: {host}/app-amd64:v1\n  - image: {host}/app-arm64:v1\n"
    );

    let (run, error) = push_yaml(&yaml, &[]).await;

    let message = failed_with(run, &error, "INVALID_LIST");
    assert!(message.contains("refused the OCI image index"), "{message}");
    assert!(
        message.contains("app-amd64:v1 is application/vnd.oci"),
        "{message}"
    );
}

#[tokio::test]
async fn a_list_naming_one_image_twice_that_harbor_refuses_is_an_error_naming_both_entries() {
    let registry = TestRegistry::plain().await;
    seed_demo(&registry).await;
    let double = QuirkProxy::start(&registry.host(), Profile::Harbor).await;
    let host = &double.host;
    let yaml = format!(
        "image: {host}/demo:v0.2\ntrust_platforms: true\nmanifests:\n  - image: {host}/demo-amd64:v0.2\n    platform: {{os: linux, architecture: amd64}}\n  - image: {host}/demo-amd64:v0.2\n    platform: {{os: linux, architecture: arm64}}\n"
    );

    let (run, error) = push_yaml(&yaml, &[]).await;

    let message = failed_with(run, &error, "INVALID_LIST");
    assert!(message.contains("names sha256:"), "{message}");
    assert!(
        message.contains("manifests[0] (linux/amd64) and manifests[1] (linux/arm64/v8)"),
        "{message}"
    );
    assert!(
        message.contains("Give each platform an image of its own"),
        "{message}"
    );
}

#[tokio::test]
async fn quay_answering_schema_1_to_a_narrow_accept_gets_the_full_one_and_a_schema_1_source_is_named()
 {
    let registry = TestRegistry::plain().await;
    let (s390x, amd64) = seed_demo(&registry).await;
    let quay = QuirkProxy::start(&registry.host(), Profile::Quay { legacy: None }).await;
    let legacy = Profile::Quay {
        legacy: Some("demo-s390x".to_owned()),
    };
    let old = QuirkProxy::start(&registry.host(), legacy).await;

    let (pushed, _) = push_yaml(&demo_spec(&quay.host).yaml(), &[]).await;
    let (refused, error) = push_yaml(&demo_spec(&old.host).target("old:v1").yaml(), &[]).await;

    pushed.ok();
    assert_demo_pulls(&registry, "demo:v0.2", &s390x, &amd64).await;
    let refused = refused.failed();
    assert!(!refused.stderr.contains("panicked"), "{}", refused.stderr);
    let message = error["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("demo-s390x"), "{message}");
    assert!(message.contains("schema 1"), "{message}");
}

#[tokio::test]
async fn a_mount_harbor_answers_401_for_a_project_it_does_not_know_is_an_upload_of_its_own() {
    let (_registry, double, _) = demo_through(Profile::Harbor).await;

    let seen = double.seen();
    let mounts = seen.iter().filter(|l| l.contains("mount=")).count();
    let sessions = seen
        .iter()
        .filter(|l| *l == "POST /v2/demo/blobs/uploads/")
        .count();
    assert!(mounts > 0, "{seen:?}");
    assert_eq!(
        sessions, mounts,
        "a session of its own per refused mount: {seen:?}"
    );
}

#[tokio::test]
async fn a_mount_answered_created_without_the_blob_is_followed_by_a_copy_of_what_is_missing() {
    let (_registry, double, stderr) = demo_through(Profile::PhantomMount).await;

    assert!(stderr.contains("is not there; copying it"), "{stderr}");
    let streamed = double.count("PUT /v2/demo/blobs/uploads/");
    assert!(streamed > 0, "{:?}", double.seen());
}

#[tokio::test]
async fn a_list_nexus_does_not_see_the_children_of_yet_is_put_again_until_it_does() {
    let (_registry, double, stderr) = demo_through(Profile::Nexus { late: 2 }).await;

    assert!(
        stderr.contains("does not see what it references yet"),
        "{stderr}"
    );
    let puts = double.count("PUT /v2/demo/manifests/v0.2");
    assert_eq!(puts, 3, "{:?}", double.seen());
}

#[tokio::test]
async fn a_list_that_flattens_to_over_four_mebibytes_is_refused_before_anything_is_written() {
    let registry = TestRegistry::plain().await;
    let note = "x".repeat(2_200_000);
    for arch in ["amd64", "arm64"] {
        let image = ImageFixture::new("linux", arch, None).oci().build();
        let index = IndexFixture::new()
            .oci()
            .image_annotated(&image, &[("org.example.note", note.as_str())])
            .build();
        let repo = format!("src-{arch}");
        Pusher::new(&registry)
            .push_index(&repo, "v1", &index)
            .await
            .unwrap();
    }
    let host = registry.host();
    let yaml = format!(
        "image: {host}/big:v1\nmanifests:\n  - image: {host}/src-amd64:v1\n  - image: {host}/src-arm64:v1\n"
    );

    let (run, error) = push_yaml(&yaml, &[]).await;

    let message = failed_with(run, &error, "INVALID_LIST");
    assert!(
        message.contains("4 MiB"),
        "{}",
        &message[..message.len().min(300)]
    );
    assert!(message.contains("split it into several lists"), "{message}");
    let log = registry.log();
    let writes: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("\"PUT /v2/big/") || l.contains("\"POST /v2/big/"))
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
}

#[tokio::test]
async fn ecrs_405_to_the_referrers_of_an_index_is_no_api_and_the_lists_signature_is_found_by_tag() {
    let registry = TestRegistry::plain().await;
    let (index, _, _) = seed_two_arch_index(&registry, "demo", "v1").await;
    let list_digest = index.digest.clone();
    let signature = cosign_signature(&list_digest, "demo", 7);
    Pusher::new(&registry)
        .push_artifact("demo", &digest_tag(&list_digest, Some("sig")), &signature)
        .await
        .unwrap();
    let double = QuirkProxy::start(&registry.host(), Profile::Ecr { immutable: false }).await;

    let run = manifold(&["inspect", "--json", &format!("{}/demo:v1", double.host)])
        .await
        .ok();

    let asked = format!("/referrers/{list_digest}");
    assert!(
        double.seen().iter().any(|l| l.contains(&asked)),
        "the referrers API was asked about the index, and answered 405: {:?}",
        double.seen()
    );
    assert!(
        run.stdout.contains(&signature.digest),
        "the list's signature, found by its cosign tag: {}",
        run.stdout
    );
}

#[tokio::test]
async fn ecrs_405_to_an_index_reads_that_subjects_tag_schema_while_the_api_lists_the_images() {
    let registry = TestRegistry::plain().await;
    let front = ReferrersFront::start(&registry.host()).await;
    let ecr = QuirkProxy::start(&front.host, Profile::EcrReferrers).await;
    let (index, amd64, _) = seed_two_arch_index(&registry, "demo", "v1").await;
    // The image's SBOM registered through the API only; the index's in its tag schema, as a
    // client that met the 405 writes it.
    let image_bom = sbom(&amd64.descriptor(), 1);
    Pusher::for_url(&format!("http://{}", front.host), None)
        .unwrap()
        .push_artifact("demo", &image_bom.digest, &image_bom)
        .await
        .unwrap();
    let index_descriptor = serde_json::json!({
        "mediaType": OCI_INDEX, "digest": index.digest, "size": index.manifest.len(),
    });
    let index_bom = sbom(&index_descriptor, 2);
    Pusher::new(&registry)
        .attach("demo", &index.digest, &index_bom)
        .await
        .unwrap();

    let run = manifold(&["inspect", "--json", &format!("{}/demo:v1", ecr.host)])
        .await
        .ok();

    let asked = |digest: &str| ecr.count(&format!("GET /v2/demo/referrers/{digest}"));
    assert_eq!(
        asked(&index.digest),
        1,
        "the index, refused: {:?}",
        ecr.seen()
    );
    assert_eq!(asked(&amd64.manifest_digest), 1, "{:?}", ecr.seen());
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    let digests = |referrers: &Value| -> Vec<String> {
        let all = referrers.as_array().cloned().unwrap_or_default();
        all.iter()
            .map(|r| r["digest"].as_str().unwrap().to_owned())
            .collect()
    };
    let (index_bom, image_bom) = (index_bom.digest, image_bom.digest);
    assert_eq!(digests(&doc["referrers"]), [index_bom], "{doc:#}");
    let entry = doc["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["descriptor"]["digest"] == amd64.manifest_digest.as_str())
        .unwrap_or_else(|| panic!("{doc:#}"));
    assert_eq!(digests(&entry["referrers"]), [image_bom], "{doc:#}");
}

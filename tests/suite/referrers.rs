//! Signatures and SBOMs travel with the images: `push --referrers` and `copy` against the real
//! registry (distribution 2.8, which has no referrers API, so the tag schema is used), the
//! fixtures built in code (a cosign-layout signature at `sha256-<hex>.sig`, an SPDX artifact with
//! `subject` registered in the source's tag-schema index), and inspect listing both. The
//! referrers API path runs against a front in the test code before the real registry
//! ([`ReferrersFront`]), since no registry with that API can be installed here.

use manifold_testkit::referrers::{SPDX, cosign_signature, digest_tag, sbom};
use manifold_testkit::{ImageFixture, Pusher, TestRegistry};
use serde_json::Value;

use crate::support::cli::{manifold, seed, write_spec};
use crate::support::referrers::{signed_sources, signed_yaml};
use crate::support::referrers_api::ReferrersFront;

/// The spec of `target:v1` on `registry` from the signed sources.
fn spec(registry: &TestRegistry, target: &str, referrers: bool) -> String {
    signed_yaml(&registry.host(), target, referrers)
}

/// The digests the tag-schema index of `subject` in `repo` lists.
async fn schema_digests(pusher: &Pusher, repo: &str, subject: &str) -> Vec<String> {
    let entries = pusher.tag_schema(repo, subject).await.unwrap();
    entries
        .iter()
        .map(|d| d["digest"].as_str().unwrap().to_owned())
        .collect()
}

fn tags_listed(registry: &TestRegistry) -> usize {
    registry
        .log()
        .lines()
        .filter(|l| l.contains("/tags/list"))
        .count()
}

#[tokio::test]
async fn a_push_with_referrers_brings_the_signature_and_the_sbom_and_inspect_lists_them() {
    let registry = TestRegistry::plain().await;
    let signed = signed_sources(&registry).await;
    let (amd64, arm64, sig, bom) = (signed.amd64, signed.arm64, signed.signature, signed.sbom);
    let pusher = Pusher::new(&registry);
    let dir = tempfile::tempdir().unwrap();

    // Without the flag: nothing comes along, and no tag listing is asked for.
    let plain = write_spec(dir.path(), "plain.yaml", &spec(&registry, "plain", false));
    manifold(&["push", "from-spec", plain.to_str().unwrap()])
        .await
        .ok();
    assert_eq!(
        tags_listed(&registry),
        0,
        "no request for referrers without the flag"
    );
    assert!(
        !pusher
            .manifest_exists("plain", &digest_tag(&amd64, Some("sig")))
            .await
            .unwrap()
    );

    // The target already lists another artifact for arm64: it stays.
    let other = sbom(
        &serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": arm64, "size": 1}),
        2,
    );
    pusher.attach("demo", &arm64, &other).await.unwrap();
    let with = write_spec(dir.path(), "with.yaml", &spec(&registry, "demo", true));
    let run = manifold(&["push", "from-spec", with.to_str().unwrap()])
        .await
        .ok();
    assert!(run.stderr.contains("1 signature, 1 SBOM"), "{}", run.stderr);

    let sig_tag = digest_tag(&amd64, Some("sig"));
    let held = pusher
        .get_manifest("demo", &sig_tag, manifold_testkit::media_types::ACCEPT_ALL)
        .await
        .unwrap();
    assert_eq!(
        held.digest.as_deref(),
        Some(sig.as_str()),
        "the .sig tag keeps its digest"
    );
    assert!(pusher.manifest_exists("demo", &bom).await.unwrap());
    let listed = schema_digests(&pusher, "demo", &arm64).await;
    assert!(
        listed.contains(&bom) && listed.contains(&other.digest),
        "merged, none dropped: {listed:?}"
    );

    let json = manifold(&["inspect", "--json", &format!("{}/demo:v1", registry.host())])
        .await
        .ok();
    let doc: Value = serde_json::from_str(&json.stdout).unwrap();
    let of = |digest: &str| -> Vec<Value> {
        doc["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["descriptor"]["digest"] == digest)
            .unwrap()["referrers"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    let amd = of(&amd64);
    assert_eq!(amd.len(), 1, "{amd:?}");
    assert_eq!(amd[0]["kind"], "signature");
    assert_eq!(amd[0]["digest"], sig.as_str());
    assert_eq!(amd[0]["tag"], sig_tag.as_str());
    let arm = of(&arm64);
    assert!(
        arm.iter().any(|r| r["kind"] == "sbom"
            && r["digest"] == bom.as_str()
            && r["artifact_type"] == SPDX),
        "{arm:?}"
    );
    let text = manifold(&["inspect", &format!("{}/demo:v1", registry.host())])
        .await
        .ok();
    assert!(
        text.stdout.contains("Referrers: 1 signature") && text.stdout.contains(&sig),
        "{}",
        text.stdout
    );
}

#[tokio::test]
async fn a_copy_to_another_registry_brings_the_list_signature_and_the_childrens_unless_told_not_to()
{
    let source = TestRegistry::plain().await;
    let dest = TestRegistry::plain().await;
    let signed = signed_sources(&source).await;
    let (amd64, arm64, sig, bom) = (signed.amd64, signed.arm64, signed.signature, signed.sbom);
    let dir = tempfile::tempdir().unwrap();
    let spec_path = write_spec(dir.path(), "s.yaml", &spec(&source, "demo", true));
    manifold(&[
        "push",
        "from-spec",
        "--type",
        "oci",
        spec_path.to_str().unwrap(),
    ])
    .await
    .ok();
    let pusher = Pusher::new(&source);
    let all = manifold_testkit::media_types::ACCEPT_ALL;
    let list = pusher.get_manifest("demo", "v1", all).await.unwrap();
    let list_digest = list.digest.clone().unwrap();
    let list_sig = cosign_signature(&list_digest, "demo", 7);
    let list_sig_tag = digest_tag(&list_digest, Some("sig"));
    pusher
        .push_artifact("demo", &list_sig_tag, &list_sig)
        .await
        .unwrap();
    let from = format!("{}/demo:v1", source.host());
    let to = Pusher::new(&dest);

    let skip = manifold(&[
        "copy",
        "--no-referrers",
        &from,
        &format!("{}/bare:v1", dest.host()),
    ])
    .await
    .ok();
    assert!(!skip.stderr.contains("refers"), "{}", skip.stderr);
    assert!(!to.manifest_exists("bare", &list_sig_tag).await.unwrap());
    assert!(!to.manifest_exists("bare", &bom).await.unwrap());

    let run = manifold(&["copy", &from, &format!("{}/demo:v1", dest.host())])
        .await
        .ok();
    assert!(
        run.stderr.contains("2 signatures, 1 SBOM"),
        "{}",
        run.stderr
    );
    let held = to.get_manifest("demo", &list_sig_tag, all).await.unwrap();
    assert_eq!(
        held.digest.as_deref(),
        Some(list_sig.digest.as_str()),
        "the list's signature"
    );
    let child_sig = to
        .get_manifest("demo", &digest_tag(&amd64, Some("sig")), all)
        .await
        .unwrap();
    assert_eq!(
        child_sig.digest.as_deref(),
        Some(sig.as_str()),
        "the child's signature"
    );
    assert!(to.manifest_exists("demo", &bom).await.unwrap());
    let listed = to.tag_schema("demo", &arm64).await.unwrap();
    assert!(
        listed
            .iter()
            .any(|d| d["digest"] == bom.as_str() && d["artifactType"] == SPDX),
        "{listed:?}"
    );

    // Again: everything is there already, so nothing is written.
    let puts_before = dest.log().lines().filter(|l| l.contains("\"PUT ")).count();
    manifold(&["copy", &from, &format!("{}/demo:v1", dest.host())])
        .await
        .ok();
    let puts_after = dest.log().lines().filter(|l| l.contains("\"PUT ")).count();
    assert_eq!(puts_after - puts_before, 0, "nothing is written again");
}

#[tokio::test]
async fn an_attestation_and_a_signature_of_the_sbom_come_along_too() {
    let registry = TestRegistry::plain().await;
    let signed = signed_sources(&registry).await;
    let pusher = Pusher::new(&registry);
    let attestation = cosign_signature(&signed.amd64, "src-amd64", 8);
    let att_tag = digest_tag(&signed.amd64, Some("att"));
    pusher
        .push_artifact("src-amd64", &att_tag, &attestation)
        .await
        .unwrap();
    // A referrer of a referrer: the SBOM itself is signed.
    let bom_sig = cosign_signature(&signed.sbom, "src-arm64", 9);
    let bom_sig_tag = digest_tag(&signed.sbom, Some("sig"));
    pusher
        .push_artifact("src-arm64", &bom_sig_tag, &bom_sig)
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let path = write_spec(dir.path(), "s.yaml", &spec(&registry, "nest", true));
    let run = manifold(&["push", "from-spec", path.to_str().unwrap()])
        .await
        .ok();
    assert!(run.stderr.contains("1 attestation"), "{}", run.stderr);
    let all = manifold_testkit::media_types::ACCEPT_ALL;
    for (tag, digest) in [
        (&att_tag, &attestation.digest),
        (&bom_sig_tag, &bom_sig.digest),
    ] {
        let held = pusher.get_manifest("nest", tag, all).await.unwrap();
        assert_eq!(held.digest.as_deref(), Some(digest.as_str()), "{tag}");
    }
    signed.assert_carried(&registry, "nest").await;

    let json = manifold(&["inspect", "--json", &format!("{}/nest:v1", registry.host())])
        .await
        .ok();
    let doc: Value = serde_json::from_str(&json.stdout).unwrap();
    let kinds: Vec<String> = doc["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| e["referrers"].as_array().cloned().unwrap_or_default())
        .map(|r| r["kind"].as_str().unwrap().to_owned())
        .collect();
    assert!(kinds.iter().any(|k| k == "attestation"), "{kinds:?}");
    assert_eq!(
        kinds.iter().filter(|k| *k == "signature").count(),
        2,
        "the image's and the SBOM's signatures: {kinds:?}"
    );
}

#[tokio::test]
async fn a_tag_schema_entry_whose_manifest_was_deleted_is_dropped_and_the_others_kept() {
    let registry = TestRegistry::plain().await;
    let signed = signed_sources(&registry).await;
    let pusher = Pusher::new(&registry);
    let subject = serde_json::json!({"mediaType": manifold_testkit::media_types::OCI_MANIFEST, "digest": signed.arm64, "size": 1});
    let (kept, deleted) = (sbom(&subject, 4), sbom(&subject, 5));
    pusher.attach("demo", &signed.arm64, &kept).await.unwrap();
    pusher
        .attach("demo", &signed.arm64, &deleted)
        .await
        .unwrap();
    pusher
        .delete_manifest("demo", &deleted.digest)
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let path = write_spec(dir.path(), "s.yaml", &spec(&registry, "demo", true));
    let run = manifold(&["push", "from-spec", path.to_str().unwrap()])
        .await
        .ok();
    assert!(
        run.stderr.contains(&deleted.digest),
        "the dropped entry is named: {}",
        run.stderr
    );
    let listed = schema_digests(&pusher, "demo", &signed.arm64).await;
    assert!(
        listed.contains(&signed.sbom) && listed.contains(&kept.digest),
        "{listed:?}"
    );
    assert!(!listed.contains(&deleted.digest), "{listed:?}");
}

#[tokio::test]
async fn where_the_registry_has_the_referrers_api_they_are_found_and_registered_through_it() {
    let (source, dest) = (TestRegistry::plain().await, TestRegistry::plain().await);
    let from = ReferrersFront::start(&source.host()).await;
    let to = ReferrersFront::start(&dest.host()).await;
    let arm64 = seed(
        &source,
        "src-arm64",
        "v1",
        ImageFixture::new("linux", "arm64", None).oci(),
    )
    .await;
    seed(
        &source,
        "src-amd64",
        "v1",
        ImageFixture::new("linux", "amd64", None).oci(),
    )
    .await;
    // Registered through the API only: there is no tag-schema index to find it by.
    let bom = sbom(&arm64.descriptor(), 3);
    Pusher::for_url(&format!("http://{}", from.host), None)
        .unwrap()
        .push_artifact("src-arm64", &bom.digest, &bom)
        .await
        .unwrap();
    let schema_tag = digest_tag(&arm64.manifest_digest, None);
    let tags = |registry: &TestRegistry, repo: &'static str| {
        let pusher = Pusher::new(registry);
        async move { pusher.get_tags(repo).await.unwrap_or_default() }
    };
    assert!(!tags(&source, "src-arm64").await.contains(&schema_tag));

    let dir = tempfile::tempdir().unwrap();
    let text = signed_yaml(&from.host, "demo", true);
    let spec_path = write_spec(dir.path(), "api.yaml", &text);
    let run = manifold(&["push", "from-spec", spec_path.to_str().unwrap()])
        .await
        .ok();
    assert!(run.stderr.contains("1 SBOM"), "{}", run.stderr);
    let asked = |front: &ReferrersFront| {
        front
            .seen()
            .iter()
            .filter(|l| l.starts_with("GET") && l.contains("/referrers/"))
            .count()
    };
    assert!(asked(&from) > 0, "the source's API was asked");
    assert_eq!(
        from.listed("demo", &arm64.manifest_digest),
        vec![bom.digest.clone()],
        "the target's API lists the SBOM"
    );
    assert!(
        !tags(&source, "demo").await.contains(&schema_tag),
        "no tag-schema index where the API serves"
    );

    manifold(&[
        "copy",
        &format!("{}/demo:v1", from.host),
        &format!("{}/demo:v1", to.host),
    ])
    .await
    .ok();
    assert!(asked(&to) > 0, "the target's API was asked");
    assert_eq!(
        to.listed("demo", &arm64.manifest_digest),
        vec![bom.digest.clone()]
    );
    assert!(
        Pusher::new(&dest)
            .manifest_exists("demo", &bom.digest)
            .await
            .unwrap()
    );
    assert_eq!(tags(&dest, "demo").await, vec!["v1".to_owned()]);

    let json = manifold(&["inspect", "--json", &format!("{}/demo:v1", to.host)])
        .await
        .ok();
    let doc: Value = serde_json::from_str(&json.stdout).unwrap();
    let entry = doc["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["descriptor"]["digest"] == arm64.manifest_digest.as_str())
        .unwrap();
    assert_eq!(entry["referrers"][0]["digest"], bom.digest.as_str());
    assert_eq!(entry["referrers"][0]["kind"], "sbom");
    assert_eq!(entry["referrers"][0]["artifact_type"], SPDX);
}

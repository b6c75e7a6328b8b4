//! Signed sources for the referrers tests (CLI, service and pages alike): two images in their own
//! repositories, amd64 signed with cosign (`sha256-<hex>.sig`), arm64 with an SBOM registered in
//! the referrers tag schema; their spec; and what a target holds once they were (or were not)
//! brought along.

use manifold_testkit::media_types::ACCEPT_ALL;
use manifold_testkit::referrers::{cosign_signature, digest_tag, sbom};
use manifold_testkit::{ImageFixture, Pusher, TestRegistry};
use serde_json::{Value, json};

use super::cli::seed;

/// What [`signed_sources`] pushed: the two images and what refers to each.
#[derive(Debug, Clone)]
pub struct Signed {
    /// `src-amd64:v1`'s digest.
    pub amd64: String,
    /// `src-arm64:v1`'s digest.
    pub arm64: String,
    /// The cosign signature of amd64, at `sha256-<amd64 hex>.sig`.
    pub signature: String,
    /// The SBOM of arm64, in its tag-schema index.
    pub sbom: String,
}

/// Pushes `src-amd64:v1` (signed with cosign) and `src-arm64:v1` (with an SBOM in the tag
/// schema), OCI images both.
pub async fn signed_sources(registry: &TestRegistry) -> Signed {
    let pusher = Pusher::new(registry);
    let image = |arch| ImageFixture::new("linux", arch, None).oci();
    let amd64 = seed(registry, "src-amd64", "v1", image("amd64")).await;
    let arm64 = seed(registry, "src-arm64", "v1", image("arm64")).await;
    let signature = cosign_signature(&amd64.manifest_digest, "src-amd64", 1);
    let sig_tag = digest_tag(&amd64.manifest_digest, Some("sig"));
    pusher
        .push_artifact("src-amd64", &sig_tag, &signature)
        .await
        .unwrap();
    let bom = sbom(&arm64.descriptor(), 1);
    pusher
        .attach("src-arm64", &arm64.manifest_digest, &bom)
        .await
        .unwrap();
    Signed {
        amd64: amd64.manifest_digest,
        arm64: arm64.manifest_digest,
        signature: signature.digest,
        sbom: bom.digest,
    }
}

/// The YAML spec of `host/target:v1` from the two signed sources, with `referrers: {referrers}`.
pub fn signed_yaml(host: &str, target: &str, referrers: bool) -> String {
    format!(
        "image: {host}/{target}:v1\nreferrers: {referrers}\nmanifests:\n  - image: {host}/src-amd64:v1\n  - image: {host}/src-arm64:v1\n"
    )
}

/// The JSON spec of `host/target:v1` from the two signed sources (no `referrers` key).
pub fn signed_json(host: &str, target: &str) -> Value {
    json!({
        "image": format!("{host}/{target}:v1"),
        "manifests": [
            {"image": format!("{host}/src-amd64:v1")},
            {"image": format!("{host}/src-arm64:v1")},
        ],
    })
}

impl Signed {
    /// The cosign tag of amd64's signature.
    pub fn sig_tag(&self) -> String {
        digest_tag(&self.amd64, Some("sig"))
    }

    /// Asserts that `repo` in `registry` holds amd64's signature under its cosign tag (same
    /// digest) and lists arm64's SBOM in its tag-schema index.
    pub async fn assert_carried(&self, registry: &TestRegistry, repo: &str) {
        let pusher = Pusher::new(registry);
        let held = pusher
            .get_manifest(repo, &self.sig_tag(), ACCEPT_ALL)
            .await
            .unwrap();
        assert_eq!(
            held.digest.as_deref(),
            Some(self.signature.as_str()),
            "the .sig tag keeps its digest in {repo}"
        );
        let listed = pusher.tag_schema(repo, &self.arm64).await.unwrap();
        assert!(
            listed.iter().any(|d| d["digest"] == self.sbom.as_str()),
            "the SBOM is listed for arm64 in {repo}: {listed:?}"
        );
    }

    /// Asserts that `repo` in `registry` holds neither the signature nor the SBOM.
    pub async fn assert_not_carried(&self, registry: &TestRegistry, repo: &str) {
        let pusher = Pusher::new(registry);
        assert!(
            !pusher.manifest_exists(repo, &self.sig_tag()).await.unwrap(),
            "no .sig tag in {repo}"
        );
        assert!(
            !pusher.manifest_exists(repo, &self.sbom).await.unwrap(),
            "no SBOM in {repo}"
        );
    }
}

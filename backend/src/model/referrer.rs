//! What refers to an image: a signature, an attestation, an SBOM or another artifact, found by the
//! registry's referrers API, the referrers tag schema or a cosign tag, and what kind it is —
//! judged from its artifact type, the cosign tag's suffix and the annotations sigstore puts on a
//! bundle.

use serde::Serialize;
use utoipa::ToSchema;

use super::Digest;

/// What kind of thing refers to an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReferrerKind {
    /// A signature (cosign, notation, a sigstore bundle of a signature).
    Signature,
    /// An attestation (in-toto, DSSE, provenance).
    Attestation,
    /// A software bill of materials (SPDX, CycloneDX).
    Sbom,
    /// Anything else that names the image as its subject.
    Other,
}

/// The annotation a sigstore bundle carries with the predicate type it holds.
pub const SIGSTORE_PREDICATE_ANNOTATION: &str = "dev.sigstore.bundle.predicateType";
/// The predicate type of a sigstore bundle that is a plain signature.
const SIGSTORE_SIGNATURE_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";

impl ReferrerKind {
    /// The kind of a cosign tag's suffix: `sig`, `att` or `sbom`.
    pub fn of_cosign_suffix(suffix: &str) -> Option<Self> {
        match suffix {
            "sig" => Some(Self::Signature),
            "att" => Some(Self::Attestation),
            "sbom" => Some(Self::Sbom),
            _ => None,
        }
    }

    /// The kind an artifact type says (with a sigstore bundle's predicate type, when it has one).
    pub fn of_artifact(artifact_type: Option<&str>, predicate_type: Option<&str>) -> Self {
        let Some(t) = artifact_type.map(str::to_ascii_lowercase) else {
            return Self::Other;
        };
        if t.contains("sigstore.bundle") {
            return match predicate_type {
                None => Self::Signature,
                Some(p) if p == SIGSTORE_SIGNATURE_PREDICATE => Self::Signature,
                Some(p) if is_sbom(&p.to_ascii_lowercase()) => Self::Sbom,
                Some(_) => Self::Attestation,
            };
        }
        if is_sbom(&t) {
            Self::Sbom
        } else if t.contains("signature") || t.contains("cosign.artifact.sig") {
            Self::Signature
        } else if ["in-toto", "dsse", "attestation", "provenance", "slsa"]
            .iter()
            .any(|w| t.contains(w))
        {
            Self::Attestation
        } else {
            Self::Other
        }
    }

    /// The word for it, as the JSON and the pages write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Signature => "signature",
            Self::Attestation => "attestation",
            Self::Sbom => "sbom",
            Self::Other => "other",
        }
    }
}

fn is_sbom(t: &str) -> bool {
    ["spdx", "cyclonedx", "sbom", "syft"]
        .iter()
        .any(|w| t.contains(w))
}

/// One thing that refers to an image (or to another referrer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Referrer {
    /// Signature, attestation, SBOM or other.
    pub kind: ReferrerKind,
    /// The artifact type: the manifest's `artifactType`, else its config's media type when that
    /// is not an image config, else its first layer's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The referrer manifest's media type.
    pub media_type: String,
    /// The referrer manifest's digest.
    #[schema(value_type = String)]
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// The digest it refers to: the image, or another referrer (a signature of an SBOM).
    #[schema(value_type = String)]
    pub subject: Digest,
    /// The cosign tag it was found under (`sha256-<hex>.sig`), when it was found by one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

/// The tag the referrers tag schema keeps the referrers of a digest under (`sha256-<hex>`), and
/// with a suffix, the cosign tag of that kind (`sha256-<hex>.sig`).
pub fn digest_tag(digest: &Digest, suffix: Option<&str>) -> String {
    let tag = digest.as_str().replacen(':', "-", 1);
    match suffix {
        Some(s) => format!("{tag}.{s}"),
        None => tag,
    }
}

/// How many of each kind, in words: `2 signatures, 1 SBOM`.
pub fn tally(referrers: &[Referrer]) -> String {
    let kinds = [
        (ReferrerKind::Signature, "signature", "signatures"),
        (ReferrerKind::Attestation, "attestation", "attestations"),
        (ReferrerKind::Sbom, "SBOM", "SBOMs"),
        (ReferrerKind::Other, "other referrer", "other referrers"),
    ];
    let parts: Vec<String> = kinds
        .iter()
        .filter_map(|(kind, one, many)| {
            let n = referrers.iter().filter(|r| r.kind == *kind).count();
            (n > 0).then(|| format!("{n} {}", if n == 1 { one } else { many }))
        })
        .collect();
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_types_are_told_apart() {
        let kind = |t: &str| ReferrerKind::of_artifact(Some(t), None);
        assert_eq!(kind("application/spdx+json"), ReferrerKind::Sbom);
        assert_eq!(kind("application/vnd.cyclonedx+json"), ReferrerKind::Sbom);
        assert_eq!(
            kind("application/vnd.cncf.notary.signature"),
            ReferrerKind::Signature
        );
        assert_eq!(
            kind("application/vnd.dev.cosign.artifact.sig.v1+json"),
            ReferrerKind::Signature
        );
        assert_eq!(
            kind("application/vnd.in-toto+json"),
            ReferrerKind::Attestation
        );
        assert_eq!(
            kind("application/vnd.dsse.envelope.v1+json"),
            ReferrerKind::Attestation
        );
        assert_eq!(kind("application/vnd.example.thing"), ReferrerKind::Other);
        assert_eq!(ReferrerKind::of_artifact(None, None), ReferrerKind::Other);
    }

    #[test]
    fn a_sigstore_bundle_is_what_its_predicate_says() {
        let bundle = Some("application/vnd.dev.sigstore.bundle.v0.3+json");
        let kind = |p| ReferrerKind::of_artifact(bundle, p);
        assert_eq!(kind(None), ReferrerKind::Signature);
        assert_eq!(
            kind(Some("https://sigstore.dev/cosign/sign/v1")),
            ReferrerKind::Signature
        );
        assert_eq!(
            kind(Some("https://slsa.dev/provenance/v1")),
            ReferrerKind::Attestation
        );
        assert_eq!(kind(Some("https://spdx.dev/Document")), ReferrerKind::Sbom);
    }

    #[test]
    fn cosign_suffixes_and_digest_tags() {
        assert_eq!(
            ReferrerKind::of_cosign_suffix("att"),
            Some(ReferrerKind::Attestation)
        );
        assert_eq!(ReferrerKind::of_cosign_suffix("latest"), None);
        let d = Digest::parse(&format!("sha256:{}", "ab".repeat(32))).unwrap();
        assert_eq!(digest_tag(&d, None), format!("sha256-{}", "ab".repeat(32)));
        assert_eq!(
            digest_tag(&d, Some("sig")),
            format!("sha256-{}.sig", "ab".repeat(32))
        );
        let r = |kind| Referrer {
            kind,
            artifact_type: None,
            media_type: String::new(),
            digest: d.clone(),
            size: 0,
            subject: d.clone(),
            tag: None,
        };
        let all = [
            r(ReferrerKind::Signature),
            r(ReferrerKind::Signature),
            r(ReferrerKind::Sbom),
        ];
        assert_eq!(tally(&all), "2 signatures, 1 SBOM");
        assert_eq!(tally(&[]), "");
    }
}

//! Media types and the manifest documents of the distribution and OCI image specs.
//!
//! Owns parsing of manifests received from a registry (keeping the exact bytes, whose sha256 is the
//! digest) and the descriptor type lists are built from. No I/O.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{Digest, Platform};

/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list, schema 2.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker schema 1 (signed), which manifold does not handle.
pub const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";
/// Docker schema 1 (unsigned).
pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
/// OCI image config.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Docker image config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

/// The Accept header every manifest request sends. Without all four types, distribution converts
/// to schema 1 or answers with one child of a list.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// Annotation buildx puts on attestation entries of an index.
pub const REFERENCE_TYPE_ANNOTATION: &str = "vnd.docker.reference.type";
/// The annotation of an attestation entry naming the image it is about.
pub const REFERENCE_DIGEST_ANNOTATION: &str = "vnd.docker.reference.digest";
/// The value of [`REFERENCE_TYPE_ANNOTATION`] on attestation entries.
pub const ATTESTATION_MANIFEST: &str = "attestation-manifest";

/// Whether a media type is a list (Docker manifest list or OCI index).
pub fn is_list(media_type: &str) -> bool {
    media_type == DOCKER_LIST || media_type == OCI_INDEX
}

/// Whether a media type is an OCI one (manifest or index).
pub fn is_oci(media_type: &str) -> bool {
    media_type.starts_with("application/vnd.oci.")
}

/// Layers that registries may not hold (Windows base layers with `urls`): never copied or mounted.
pub fn is_non_distributable(media_type: &str) -> bool {
    media_type.contains("foreign") || media_type.contains("nondistributable")
}

/// A content descriptor: what a list entry, a config or a layer is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the referenced content.
    pub media_type: String,
    /// Digest of the referenced content.
    pub digest: Digest,
    /// Size in bytes of the referenced content.
    pub size: u64,
    /// Where the content may also be fetched from (foreign layers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    /// The platform of a list entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Descriptor annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// The artifact type (OCI 1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

impl Descriptor {
    /// Whether buildx marked this entry as an attestation of another entry.
    pub fn is_attestation(&self) -> bool {
        self.annotations
            .get(REFERENCE_TYPE_ANNOTATION)
            .is_some_and(|v| v == ATTESTATION_MANIFEST)
    }
}

/// An image manifest (Docker schema 2 or OCI).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    /// Always 2.
    pub schema_version: u32,
    /// Media type, when the document names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The config blob.
    pub config: Descriptor,
    /// The layer blobs, base first.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// Manifest annotations (OCI).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// The artifact type of an artifact manifest (OCI 1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The manifest this one refers to (OCI 1.1 referrers: a signature's image).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Box<Descriptor>>,
}

/// A manifest list or image index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexManifest {
    /// Always 2.
    pub schema_version: u32,
    /// Media type of the list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The entries.
    pub manifests: Vec<Descriptor>,
    /// Index annotations (OCI).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// The artifact type of an index that is an artifact (OCI 1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The manifest this one refers to (OCI 1.1 referrers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Box<Descriptor>>,
}

/// A manifest as the registry stored it: exact bytes, media type and digest, and its parsed form.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The exact bytes received; their sha256 is `digest`.
    pub bytes: bytes::Bytes,
    /// The media type (from `Content-Type`, else the document).
    pub media_type: String,
    /// `sha256:` of `bytes`.
    pub digest: Digest,
    /// The parsed document.
    pub body: ManifestBody,
}

/// The two shapes a manifest takes.
#[derive(Debug, Clone)]
pub enum ManifestBody {
    /// A single-platform image.
    Image(Box<ImageManifest>),
    /// A list of manifests.
    Index(IndexManifest),
}

/// Why bytes received as a manifest can't be used.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ManifestError {
    /// Schema 1 manifests are deprecated and not supported.
    #[error(
        "it is a Docker schema 1 manifest (the format before manifest lists, deprecated since \
         2017), which manifold does not read: `manifold inspect --raw-bytes` prints its bytes; push the \
         image again with a current docker or buildx to use it in a list"
    )]
    Schema1,
    /// An unknown media type.
    #[error("media type \"{0}\" is not a Docker or OCI manifest or list")]
    UnknownType(String),
    /// The JSON does not fit the media type.
    #[error("it is not a valid {media_type} document: {reason}")]
    Invalid {
        /// The declared media type.
        media_type: String,
        /// The JSON error.
        reason: String,
    },
}

impl Manifest {
    /// Parses manifest bytes; `content_type` is the registry's header, if any.
    pub fn parse(bytes: bytes::Bytes, content_type: Option<&str>) -> Result<Self, ManifestError> {
        let declared = content_type
            .map(|c| c.split(';').next().unwrap_or(c).trim().to_owned())
            .filter(|c| {
                !c.is_empty() && c != "application/json" && c != "application/octet-stream"
            });
        let media_type = match declared {
            Some(t) => t,
            None => sniff_media_type(&bytes)?,
        };
        let invalid = |e: serde_json::Error| ManifestError::Invalid {
            media_type: media_type.clone(),
            reason: e.to_string(),
        };
        let body = match media_type.as_str() {
            DOCKER_MANIFEST | OCI_MANIFEST => {
                ManifestBody::Image(Box::new(serde_json::from_slice(&bytes).map_err(invalid)?))
            }
            DOCKER_LIST | OCI_INDEX => {
                ManifestBody::Index(serde_json::from_slice(&bytes).map_err(invalid)?)
            }
            DOCKER_SCHEMA1 | DOCKER_SCHEMA1_SIGNED => return Err(ManifestError::Schema1),
            other => return Err(ManifestError::UnknownType(other.to_owned())),
        };
        let digest = Digest::of(&bytes);
        Ok(Self {
            bytes,
            media_type,
            digest,
            body,
        })
    }

    /// The descriptor of this manifest, as a list entry would carry it (no platform yet).
    pub fn descriptor(&self) -> Descriptor {
        Descriptor {
            media_type: self.media_type.clone(),
            digest: self.digest.clone(),
            size: self.bytes.len() as u64,
            urls: Vec::new(),
            platform: None,
            annotations: BTreeMap::new(),
            artifact_type: None,
        }
    }
}

/// Guesses the media type of a document that came without a useful `Content-Type`.
fn sniff_media_type(bytes: &[u8]) -> Result<String, ManifestError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Probe {
        schema_version: Option<u32>,
        media_type: Option<String>,
        manifests: Option<serde_json::Value>,
        config: Option<serde_json::Value>,
    }
    let probe: Probe = serde_json::from_slice(bytes).map_err(|e| ManifestError::Invalid {
        media_type: "manifest".to_owned(),
        reason: e.to_string(),
    })?;
    if probe.schema_version == Some(1) {
        return Err(ManifestError::Schema1);
    }
    match (probe.media_type, probe.manifests, probe.config) {
        (Some(t), _, _) => Ok(t),
        (None, Some(_), _) => Ok(OCI_INDEX.to_owned()),
        (None, None, Some(_)) => Ok(OCI_MANIFEST.to_owned()),
        _ => Err(ManifestError::UnknownType("(none)".to_owned())),
    }
}

/// The part of an image config that says which platform the image is for.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ConfigPlatform {
    /// CPU architecture.
    #[serde(default)]
    pub architecture: String,
    /// Operating system.
    #[serde(default)]
    pub os: String,
    /// CPU variant.
    #[serde(default)]
    pub variant: Option<String>,
    /// OS version (Windows).
    #[serde(default, rename = "os.version")]
    pub os_version: Option<String>,
    /// OS features (Windows).
    #[serde(default, rename = "os.features")]
    pub os_features: Vec<String>,
}

impl ConfigPlatform {
    /// The platform this config declares.
    pub fn platform(self) -> Platform {
        Platform {
            architecture: self.architecture,
            os: self.os,
            os_version: self.os_version.filter(|v| !v.is_empty()),
            os_features: self.os_features,
            variant: self.variant.filter(|v| !v.is_empty()),
            features: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_without_content_type_is_recognised_by_its_fields() {
        let bytes = bytes::Bytes::from_static(
            br#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","size":2},"layers":[]}"#,
        );
        let m = Manifest::parse(bytes.clone(), None).unwrap();
        assert_eq!(m.media_type, OCI_MANIFEST);
        assert_eq!(m.digest, Digest::of(&bytes));
        assert!(matches!(m.body, ManifestBody::Image(_)));
    }

    #[test]
    fn schema_1_is_refused_with_advice() {
        let bytes = bytes::Bytes::from_static(br#"{"schemaVersion":1,"name":"x"}"#);
        let err = Manifest::parse(bytes, Some("application/json")).unwrap_err();
        assert!(err.to_string().contains("schema 1"));
    }

    #[test]
    fn the_content_type_header_wins_and_parameters_are_ignored() {
        let bytes = bytes::Bytes::from_static(br#"{"schemaVersion":2,"manifests":[]}"#);
        let m = Manifest::parse(
            bytes,
            Some("application/vnd.docker.distribution.manifest.list.v2+json; charset=utf-8"),
        )
        .unwrap();
        assert_eq!(m.media_type, DOCKER_LIST);
    }

    #[test]
    fn descriptors_round_trip_without_empty_fields() {
        let d = Descriptor {
            media_type: OCI_MANIFEST.into(),
            digest: Digest::parse(&format!("sha256:{}", "ab".repeat(32))).unwrap(),
            size: 7,
            urls: vec![],
            platform: None,
            annotations: BTreeMap::new(),
            artifact_type: None,
        };
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(
            json,
            r#"{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:abababababababababababababababababababababababababababababababab","size":7}"#
        );
    }
}

//! Building the list document: choosing Docker list or OCI index, and serialising it
//! deterministically (entries in spec order, compact JSON, annotations sorted).

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::Serialize;

use super::error::AssembleError;
use super::resolve::Resolved;
use crate::model::ListType;
use crate::registry::Descriptor;
use crate::registry::media::{self, DOCKER_LIST, OCI_INDEX};
use crate::spec::MAX_LIST_BYTES;

/// A serialised list, ready to PUT.
#[derive(Debug, Clone)]
pub struct ListDocument {
    /// The exact bytes.
    pub bytes: Bytes,
    /// `sha256:` of the bytes.
    pub digest: String,
    /// Docker manifest list or OCI index.
    pub media_type: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Document<'a> {
    schema_version: u32,
    media_type: &'a str,
    manifests: Vec<&'a Descriptor>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: &'a BTreeMap<String, String>,
}

/// Picks the list type and drops what it cannot hold. Docker lists never hold OCI images and carry
/// no annotations; attestations (OCI artifacts) are left out of a Docker list with a warning.
pub(crate) fn choose_type(
    output: ListType,
    annotations: &BTreeMap<String, String>,
    entries: &mut Vec<Resolved>,
) -> Result<&'static str, AssembleError> {
    let has_annotations = !annotations.is_empty()
        || entries
            .iter()
            .any(|e| !e.attestation && !e.descriptor.annotations.is_empty());
    let has_oci = entries
        .iter()
        .any(|e| media::is_oci(&e.descriptor.media_type));
    let docker = match output {
        ListType::Docker => true,
        ListType::Oci => false,
        ListType::Auto => !has_oci && !has_annotations,
    };
    if !docker {
        return Ok(OCI_INDEX);
    }
    if has_annotations {
        return Err(AssembleError::Invalid(
            "a Docker manifest list does not support annotations; use --type oci (or type: oci)"
                .to_owned(),
        ));
    }
    let dropped = entries.iter().filter(|e| e.attestation).count();
    if dropped > 0 {
        tracing::warn!(
            "leaving {dropped} attestation(s) out of the Docker manifest list; use --type oci to keep them"
        );
        entries.retain(|e| !e.attestation);
    }
    if let Some(oci) = entries
        .iter()
        .find(|e| media::is_oci(&e.descriptor.media_type))
    {
        return Err(AssembleError::Invalid(format!(
            "{} is an OCI image, which a Docker manifest list cannot hold; use --type oci or auto",
            oci.source
        )));
    }
    Ok(DOCKER_LIST)
}

/// Serialises the list; fails when it is over the registry's 4 MiB limit.
pub(crate) fn serialise(
    media_type: &str,
    annotations: &BTreeMap<String, String>,
    entries: &[Resolved],
) -> Result<ListDocument, AssembleError> {
    let empty = BTreeMap::new();
    let doc = Document {
        schema_version: 2,
        media_type,
        manifests: entries.iter().map(|e| &e.descriptor).collect(),
        annotations: if media_type == OCI_INDEX {
            annotations
        } else {
            &empty
        },
    };
    let bytes = serde_json::to_vec(&doc).expect("a list serialises");
    if bytes.len() > MAX_LIST_BYTES {
        return Err(AssembleError::Invalid(format!(
            "the list would be {} bytes, over the registry limit of {MAX_LIST_BYTES}",
            bytes.len()
        )));
    }
    Ok(ListDocument {
        digest: crate::model::Digest::of(&bytes).to_string(),
        bytes: bytes.into(),
        media_type: media_type.to_owned(),
    })
}

//! Inspect: what a reference holds — for a list, every entry with its platform and layers (an
//! entry whose child the registry does not have is marked missing: a sparse index); for an
//! image, its platform (from the config), config and layers; with `expand_config`, each image's
//! config document too; with `referrers`, what refers to it and to each child (signatures,
//! attestations, SBOMs). Read only.

use std::collections::BTreeMap;

use bytes::Bytes;
use futures::{StreamExt as _, TryStreamExt as _};
use serde::Serialize;

use super::error::EngineError;
use crate::model::Reference;
use crate::model::{Digest, Platform, Referrer};
use crate::registry::media::ConfigPlatform;
use crate::registry::{Descriptor, Manifest, ManifestBody, RegistryClient};

/// Children fetched at once when inspecting a list.
const CONCURRENCY: usize = 8;

/// What a reference holds.
#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    /// The reference inspected, normalised.
    pub name: String,
    /// The manifest's digest.
    pub digest: Digest,
    /// Its media type.
    pub media_type: String,
    /// Its size in bytes.
    pub size: u64,
    /// Whether it is a list (manifest list or index).
    pub is_list: bool,
    /// Manifest or index annotations.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// For a list: its entries, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub manifests: Vec<InspectEntry>,
    /// For an image: its details.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageDetails>,
    /// What refers to the reference itself (a signed list's signature), and to those.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub referrers: Vec<Referrer>,
    /// The exact bytes the registry stored.
    #[serde(skip)]
    pub raw: Bytes,
}

/// One entry of an inspected list.
#[derive(Debug, Clone, Serialize)]
pub struct InspectEntry {
    /// The descriptor as the list holds it (platform and annotations kept).
    pub descriptor: Descriptor,
    /// Whether it is an attestation of another entry.
    pub attestation: bool,
    /// Whether the registry does not have the child (a sparse index): the entry is shown as the
    /// list describes it, without its content.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub missing: bool,
    /// The child's config and layers (none when the child is itself a list).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageDetails>,
    /// What refers to the child (signatures, attestations, SBOMs), and to those.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub referrers: Vec<Referrer>,
    /// The child's manifest, the exact bytes the registry stored (empty when it is missing).
    #[serde(skip)]
    pub raw: Bytes,
}

/// An image manifest's content.
#[derive(Debug, Clone, Serialize)]
pub struct ImageDetails {
    /// The platform from the config (for a single image) — lists carry it in the descriptor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// The config descriptor.
    pub config: Descriptor,
    /// The layers, base first.
    pub layers: Vec<Descriptor>,
    /// Manifest annotations.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// The config document itself, as the registry stored it (only when asked to expand it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_document: Option<serde_json::Value>,
}

impl ImageDetails {
    /// Total size of the layers.
    pub fn layers_size(&self) -> u64 {
        self.layers.iter().map(|l| l.size).sum()
    }
}

/// Inspects any reference, by tag or digest, list or image; with `expand_config`, every image's
/// config document is read too (one more request per child of a list); with `referrers`, also
/// what refers to it and to each child (one tag listing of its repository, and a request or so
/// a subject).
pub async fn inspect(
    client: &RegistryClient,
    reference: &Reference,
    expand_config: bool,
    referrers: bool,
) -> Result<Inspection, EngineError> {
    let fail = |e| EngineError::registry(reference, e);
    let manifest = client.get_manifest(reference).await.map_err(fail)?;
    let mut inspection = Inspection {
        name: reference.to_string(),
        digest: manifest.digest.clone(),
        media_type: manifest.media_type.clone(),
        size: manifest.bytes.len() as u64,
        is_list: false,
        annotations: BTreeMap::new(),
        manifests: Vec::new(),
        image: None,
        referrers: Vec::new(),
        raw: manifest.bytes.clone(),
    };
    match &manifest.body {
        ManifestBody::Image(image) => {
            let config = client
                .get_blob(reference, &image.config.digest)
                .await
                .map_err(fail)?;
            let platform = serde_json::from_slice::<ConfigPlatform>(&config)
                .ok()
                .map(ConfigPlatform::platform);
            inspection.annotations = image.annotations.clone();
            inspection.image = Some(ImageDetails {
                platform,
                config: image.config.clone(),
                layers: image.layers.clone(),
                annotations: BTreeMap::new(),
                config_document: match expand_config {
                    true => Some(config_document(reference, &image.config, &config)?),
                    false => None,
                },
            });
        }
        ManifestBody::Index(index) => {
            inspection.is_list = true;
            inspection.annotations = index.annotations.clone();
            let pending: Vec<_> = index
                .manifests
                .iter()
                .map(|d| inspect_child(client, reference, d, expand_config))
                .collect();
            inspection.manifests = futures::stream::iter(pending)
                .buffered(CONCURRENCY)
                .try_collect()
                .await?;
        }
    }
    if referrers {
        attach_referrers(client, reference, &mut inspection).await;
    }
    Ok(inspection)
}

/// Finds what refers to the inspected manifest and its children. A registry that will not list
/// them (no tag listing allowed, say) leaves them out with a warning: the inspection stands.
async fn attach_referrers(
    client: &RegistryClient,
    reference: &Reference,
    inspection: &mut Inspection,
) {
    let subjects: Vec<Digest> = std::iter::once(inspection.digest.clone())
        .chain(
            inspection
                .manifests
                .iter()
                .map(|e| e.descriptor.digest.clone()),
        )
        .collect();
    match super::referrers::find(client, reference, &subjects).await {
        Ok(found) => {
            inspection.referrers = super::referrers::reachable(&found, &inspection.digest);
            for entry in &mut inspection.manifests {
                entry.referrers = super::referrers::reachable(&found, &entry.descriptor.digest);
            }
        }
        Err(e) => tracing::warn!("could not look for what refers to {reference}: {e}"),
    }
}

async fn inspect_child(
    client: &RegistryClient,
    list: &Reference,
    descriptor: &Descriptor,
    expand_config: bool,
) -> Result<InspectEntry, EngineError> {
    let pinned = list.with_digest(&descriptor.digest);
    let manifest: Manifest = match client.get_manifest(&pinned).await {
        Ok(manifest) => manifest,
        Err(e) if e.is_not_found() => {
            return Ok(InspectEntry {
                descriptor: descriptor.clone(),
                attestation: descriptor.is_attestation(),
                missing: true,
                image: None,
                referrers: Vec::new(),
                raw: Bytes::new(),
            });
        }
        Err(e) => return Err(EngineError::registry(&pinned, e)),
    };
    let image = match manifest.body {
        ManifestBody::Image(image) => {
            let config_document = match expand_config {
                true => {
                    let fail = |e| EngineError::registry(&pinned, e);
                    let bytes = client
                        .get_blob(&pinned, &image.config.digest)
                        .await
                        .map_err(fail)?;
                    Some(config_document(&pinned, &image.config, &bytes)?)
                }
                false => None,
            };
            Some(ImageDetails {
                platform: None,
                config: image.config,
                layers: image.layers,
                annotations: image.annotations,
                config_document,
            })
        }
        ManifestBody::Index(_) => None,
    };
    Ok(InspectEntry {
        descriptor: descriptor.clone(),
        attestation: descriptor.is_attestation(),
        missing: false,
        image,
        referrers: Vec::new(),
        raw: manifest.bytes,
    })
}

/// The config blob of `image` as a JSON document; a config that is not JSON is an error naming it.
fn config_document(
    image: &Reference,
    config: &Descriptor,
    bytes: &[u8],
) -> Result<serde_json::Value, EngineError> {
    serde_json::from_slice(bytes).map_err(|e| {
        EngineError::Invalid(format!(
            "{image}: its config {} ({}) is not a JSON document: {e}",
            config.digest, config.media_type
        ))
    })
}

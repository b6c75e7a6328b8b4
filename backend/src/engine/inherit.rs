//! `inherit_annotations`: the index's `org.opencontainers.image.*` annotations — the ones
//! registries show on a package's page (description, source, licenses, version, revision, url,
//! title, vendor) — taken from its image children where every one of them agrees (for an append,
//! the children of the merged list: what the current list took before is taken again). A child's value
//! is its manifest's annotation, else its config's label of the same name; a key that any image
//! child lacks or gives another value is not taken. The spec's own annotations win.
//!
//! Owns that rule and the reads it needs: a child's manifest when resolving did not keep it, its
//! config unless the platform check read it already (one request each).

use std::collections::BTreeMap;

use futures::{StreamExt as _, TryStreamExt as _};

use super::error::EngineError;
use super::resolve::Resolved;
use crate::model::Digest;
use crate::registry::{ManifestBody, RegistryClient};

/// The annotations taken from the children.
pub(crate) const INHERITED: [&str; 8] = [
    "org.opencontainers.image.description",
    "org.opencontainers.image.source",
    "org.opencontainers.image.licenses",
    "org.opencontainers.image.version",
    "org.opencontainers.image.revision",
    "org.opencontainers.image.url",
    "org.opencontainers.image.title",
    "org.opencontainers.image.vendor",
];

/// Drops the keys children give from `annotations` (a current list's, before they are taken
/// again from the entries an append merges).
pub(crate) fn forget(annotations: &mut BTreeMap<String, String>) {
    annotations.retain(|key, _| !INHERITED.contains(&key.as_str()));
}

/// Adds to `annotations` what every image child of `resolved` agrees on and `annotations` does
/// not set already; returns what it took.
pub(crate) async fn take(
    client: &RegistryClient,
    resolved: &[Resolved],
    annotations: &mut BTreeMap<String, String>,
    concurrency: usize,
) -> Result<BTreeMap<String, String>, EngineError> {
    let images: Vec<&Resolved> = resolved.iter().filter(|r| !r.attestation).collect();
    let images = &images;
    let each: Vec<BTreeMap<String, String>> = futures::stream::iter(0..images.len())
        .map(|i| said_by(client, images[i]))
        .buffered(concurrency.max(1))
        .try_collect()
        .await?;
    let mut taken = BTreeMap::new();
    let Some((first, rest)) = each.split_first() else {
        return Ok(taken);
    };
    for (key, value) in first {
        let agreed = rest.iter().all(|other| other.get(key) == Some(value));
        if agreed && !annotations.contains_key(key) {
            taken.insert(key.clone(), value.clone());
        }
    }
    annotations.extend(taken.clone());
    if !taken.is_empty() {
        let names: Vec<&str> = taken.keys().map(String::as_str).collect();
        tracing::info!("took from the children: {}", names.join(", "));
    }
    Ok(taken)
}

/// What one image child says of the inherited keys: its manifest's annotations, else its
/// config's labels.
async fn said_by(
    client: &RegistryClient,
    child: &Resolved,
) -> Result<BTreeMap<String, String>, EngineError> {
    let fetched;
    let manifest = match &child.manifest {
        Some(manifest) => manifest,
        None => {
            fetched = client
                .get_manifest(&child.source.with_digest(&child.descriptor.digest))
                .await
                .map_err(|e| EngineError::registry(&child.source, e))?;
            &fetched
        }
    };
    let ManifestBody::Image(image) = &manifest.body else {
        return Ok(BTreeMap::new());
    };
    let labels = labels(client, child, &image.config.digest).await?;
    let mut said = BTreeMap::new();
    for key in INHERITED {
        let value = image.annotations.get(key).or_else(|| labels.get(key));
        if let Some(value) = value {
            said.insert(key.to_owned(), value.clone());
        }
    }
    Ok(said)
}

/// A config's labels (`config.Labels`), read once per client.
async fn labels(
    client: &RegistryClient,
    child: &Resolved,
    config: &Digest,
) -> Result<BTreeMap<String, String>, EngineError> {
    let bytes = match client.small_blobs.get(config) {
        Some(bytes) => bytes,
        None => client
            .get_blob(&child.source, config)
            .await
            .map_err(|e| EngineError::registry(&child.source, e))?,
    };
    #[derive(serde::Deserialize, Default)]
    struct Config {
        #[serde(default)]
        config: Inner,
    }
    #[derive(serde::Deserialize, Default)]
    struct Inner {
        #[serde(default, rename = "Labels")]
        labels: Option<BTreeMap<String, String>>,
    }
    let parsed: Config = serde_json::from_slice(&bytes).unwrap_or_default();
    Ok(parsed.config.labels.unwrap_or_default())
}

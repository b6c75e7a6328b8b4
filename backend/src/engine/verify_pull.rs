//! What a pull of each child checks, done against the registry: the child is in the list's
//! repository, it is the size and media type its descriptor says, and its config declares the
//! platform its entry is labelled with; deep, its config and layers are there too. Each problem
//! names the entry.

use futures::{StreamExt, TryStreamExt, stream};
use serde::Serialize;

use super::error::EngineError;
use super::platform::config_platform;
use crate::model::{Digest, Platform, Reference};
use crate::registry::{Descriptor, ImageManifest, ManifestBody, RegistryClient};

/// Children checked at once.
const AT_ONCE: usize = 8;

/// What a pull of one child finds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntryCheck {
    /// The entry's position in the list (0-based).
    pub entry: usize,
    /// Its digest.
    pub digest: Digest,
    /// What a pull of it meets, if anything.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

/// Checks every entry of the list at `list` (its repository is where a pull looks), up to
/// [`AT_ONCE`] at a time; `deep` also asks for each image's config and layers.
pub(super) async fn check_entries(
    client: &RegistryClient,
    list: &Reference,
    descriptors: &[Descriptor],
    deep: bool,
) -> Result<Vec<EntryCheck>, EngineError> {
    stream::iter(descriptors.iter().enumerate())
        .map(|(entry, descriptor)| async move {
            let problems = check_entry(client, list, descriptor, deep).await?;
            Ok::<_, EngineError>(EntryCheck {
                entry,
                digest: descriptor.digest.clone(),
                problems,
            })
        })
        .buffered(AT_ONCE)
        .try_collect()
        .await
}

async fn check_entry(
    client: &RegistryClient,
    list: &Reference,
    descriptor: &Descriptor,
    deep: bool,
) -> Result<Vec<String>, EngineError> {
    let child = list.with_digest(&descriptor.digest);
    let manifest = match client.get_manifest(&child).await {
        Ok(manifest) => manifest,
        Err(e) if e.is_not_found() => {
            return Ok(vec![format!(
                "{} is not in {}: a pull of this entry fails",
                descriptor.digest,
                list.name()
            )]);
        }
        Err(e) => return Err(EngineError::registry(&child, e)),
    };
    let mut problems = Vec::new();
    let size = manifest.bytes.len() as u64;
    if size != descriptor.size {
        problems.push(format!(
            "the list gives size {} but the child is {size} bytes: a pull refuses it",
            descriptor.size
        ));
    }
    if manifest.media_type != descriptor.media_type {
        problems.push(format!(
            "the list gives media type {} but the child is {}",
            descriptor.media_type, manifest.media_type
        ));
    }
    if let ManifestBody::Image(image) = &manifest.body {
        if let Some(label) = descriptor
            .platform
            .as_ref()
            .filter(|_| !descriptor.is_attestation())
        {
            problems.extend(platform_problem(client, &child, label, image).await?);
        }
        if deep {
            problems.extend(missing_blobs(client, list, image).await?);
        }
    }
    Ok(problems)
}

/// Whether the image's config contradicts the platform its entry is labelled with.
async fn platform_problem(
    client: &RegistryClient,
    child: &Reference,
    label: &Platform,
    image: &ImageManifest,
) -> Result<Option<String>, EngineError> {
    let declared = match config_platform(client, child, &image.config).await {
        Ok(platform) => platform,
        Err(EngineError::Invalid(message)) => return Ok(Some(message)),
        Err(e) => return Err(e),
    };
    let versions = (label.os_version.as_deref(), declared.os_version.as_deref());
    let other_version = matches!(versions, (Some(a), Some(b)) if a != b);
    if label.contradicts(&declared) || other_version {
        return Ok(Some(format!(
            "labelled {label} but its config says {}: a {label} machine would pull it and \
             not run it",
            declared.normalized()
        )));
    }
    Ok(None)
}

/// The config and layers of an image that its list's repository does not have.
async fn missing_blobs(
    client: &RegistryClient,
    list: &Reference,
    image: &ImageManifest,
) -> Result<Vec<String>, EngineError> {
    let blobs = std::iter::once(("config", &image.config))
        .chain(image.layers.iter().map(|l| ("layer", l)))
        .filter(|(_, blob)| blob.urls.is_empty());
    let mut missing = Vec::new();
    for (what, blob) in blobs {
        let there = client
            .blob_exists(list, &blob.digest)
            .await
            .map_err(|e| EngineError::registry(list, e))?;
        if !there {
            missing.push(format!(
                "its {what} {} is not in {}",
                blob.digest,
                list.name()
            ));
        }
    }
    Ok(missing)
}

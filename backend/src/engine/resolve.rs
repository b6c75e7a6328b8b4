//! Resolving a spec's sources: one manifest GET each (concurrently, bounded, in spec order), a config
//! GET where the spec gives no complete platform, and flattening of sources that are lists.

use futures::{StreamExt as _, TryStreamExt as _};

use serde::Serialize;

use super::error::EngineError;
use super::platform::{Platforms, child_platform};
use crate::model::Reference;
use crate::model::{Digest, Entry, SourcePin};
use crate::registry::{Descriptor, Manifest, ManifestBody, RegistryClient};
use crate::spec::{ListSpec, SourceEntry};

/// One entry of the list to write, with where its content comes from.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    /// Where the child lives: the spec's reference, or for a child of a list, that list's
    /// repository pinned to the child's digest.
    pub source: Reference,
    /// The descriptor as the list will hold it (platform and annotations set).
    pub descriptor: Descriptor,
    /// The child's manifest, when it was fetched while resolving.
    pub manifest: Option<Manifest>,
    /// An attestation entry (kept after the images).
    pub attestation: bool,
}

/// A source left out because it does not exist (`--ignore-missing`).
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    /// The source reference.
    pub image: String,
    /// What the registry said.
    pub reason: String,
}

impl Resolved {
    /// The entry a stage of a release brought into `target`'s repository, as the release's list
    /// holds it again (an attestation's platform as buildx writes it: `unknown/unknown`).
    pub(crate) fn staged(target: &Reference, entry: &Entry) -> Self {
        let platform = if entry.attestation {
            Some(crate::model::Platform {
                architecture: "unknown".to_owned(),
                os: "unknown".to_owned(),
                ..Default::default()
            })
        } else {
            entry.platform.clone()
        };
        Resolved {
            source: target.with_digest(&entry.digest),
            descriptor: Descriptor {
                media_type: entry.media_type.clone(),
                digest: entry.digest.clone(),
                size: entry.size,
                urls: Vec::new(),
                platform,
                annotations: entry.annotations.clone(),
                artifact_type: None,
            },
            manifest: None,
            attestation: entry.attestation,
        }
    }

    /// The entry the list holds for this child.
    pub(crate) fn entry(&self) -> Entry {
        let d = &self.descriptor;
        Entry {
            image: self.source.to_string(),
            digest: d.digest.clone(),
            media_type: d.media_type.clone(),
            size: d.size,
            platform: if self.attestation {
                None
            } else {
                d.platform.clone()
            },
            annotations: d.annotations.clone(),
            attestation: self.attestation,
        }
    }
}

/// What one spec entry resolved to.
enum Outcome {
    Entries(Vec<Resolved>, Option<SourcePin>),
    Missing(Skipped),
}

/// A spec's sources, resolved.
pub(crate) struct Sources {
    /// The list entries: images in spec order, then attestations.
    pub resolved: Vec<Resolved>,
    /// The sources skipped as missing.
    pub skipped: Vec<Skipped>,
    /// The digest each source named by tag resolved to.
    pub pins: Vec<SourcePin>,
}

/// The pin of a source named by tag (one named by digest cannot move).
pub(crate) fn pin(source: &Reference, digest: &Digest) -> Option<SourcePin> {
    (source.digest().is_none()).then(|| SourcePin {
        image: source.to_string(),
        digest: digest.clone(),
    })
}

/// Resolves every source.
pub(crate) async fn resolve_all(
    client: &RegistryClient,
    spec: &ListSpec,
    platforms: Platforms<'_>,
    (ignore_missing, concurrency): (bool, usize),
) -> Result<Sources, EngineError> {
    // Futures are built first: a closure kept inside the stream would make it not `Send`.
    let pending: Vec<_> = spec
        .manifests
        .iter()
        .enumerate()
        .map(|entry| resolve_one(client, entry, platforms, ignore_missing))
        .collect();
    let outcomes: Vec<Outcome> = futures::stream::iter(pending)
        .buffered(concurrency.max(1))
        .try_collect()
        .await?;
    let mut images = Vec::new();
    let mut attestations = Vec::new();
    let mut skipped = Vec::new();
    let mut pins = Vec::new();
    for outcome in outcomes {
        match outcome {
            Outcome::Missing(s) => skipped.push(s),
            Outcome::Entries(entries, pin) => {
                pins.extend(pin);
                for e in entries {
                    if e.attestation {
                        attestations.push(e);
                    } else {
                        images.push(e);
                    }
                }
            }
        }
    }
    check_unique_platforms(&images)?;
    images.extend(attestations);
    Ok(Sources {
        resolved: images,
        skipped,
        pins,
    })
}

async fn resolve_one(
    client: &RegistryClient,
    (index, entry): (usize, &SourceEntry),
    platforms: Platforms<'_>,
    ignore_missing: bool,
) -> Result<Outcome, EngineError> {
    let manifest = match client.get_manifest(&entry.image).await {
        Ok(m) => m,
        Err(e) if ignore_missing && e.is_not_found() => {
            tracing::warn!(
                "skipping {}: it does not exist (--ignore-missing)",
                entry.image
            );
            return Ok(Outcome::Missing(Skipped {
                image: entry.image.to_string(),
                reason: e.to_string(),
            }));
        }
        Err(e) => return Err(EngineError::registry(&entry.image, e)),
    };
    tracing::info!(
        "resolved {} to {} ({})",
        entry.image,
        manifest.digest,
        manifest.media_type
    );
    let pinned = pin(&entry.image, &manifest.digest);
    let entries = match &manifest.body {
        ManifestBody::Image(image) => {
            let platform = platforms
                .of_image(client, (index, entry), &manifest.digest, &image.config)
                .await?;
            let mut descriptor = manifest.descriptor();
            descriptor.platform = Some(platform);
            descriptor.annotations = entry.annotations.clone();
            vec![Resolved {
                source: entry.image.clone(),
                descriptor,
                manifest: Some(manifest),
                attestation: false,
            }]
        }
        ManifestBody::Index(index) => flatten(client, entry, &index.manifests).await?,
    };
    Ok(Outcome::Entries(entries, pinned))
}

/// The children of a source that is a list: all of them, or those matching the spec's platform.
async fn flatten(
    client: &RegistryClient,
    entry: &SourceEntry,
    children: &[Descriptor],
) -> Result<Vec<Resolved>, EngineError> {
    let mut images = Vec::new();
    let mut attestations = Vec::new();
    for child in children {
        let source = entry.image.with_digest(&child.digest);
        let mut descriptor = child.clone();
        let attestation = child.is_attestation();
        if !attestation {
            descriptor.annotations.extend(
                entry
                    .annotations
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone())),
            );
        }
        let mut manifest = None;
        if !attestation && descriptor.platform.is_none() {
            let (platform, fetched) = child_platform(client, &source).await?;
            descriptor.platform = Some(platform);
            manifest = Some(fetched);
        }
        let resolved = Resolved {
            source,
            descriptor,
            manifest,
            attestation,
        };
        if attestation {
            attestations.push(resolved);
        } else {
            images.push(resolved);
        }
    }
    if let Some(wanted) = &entry.platform {
        let offered: Vec<String> = images
            .iter()
            .filter_map(|r| r.descriptor.platform.as_ref().map(ToString::to_string))
            .collect();
        let matching: Vec<Resolved> = images
            .into_iter()
            .filter(|r| {
                let have = r.descriptor.platform.as_ref().expect("set above");
                wanted.fill_from(have).same_as(have)
            })
            .collect();
        if matching.is_empty() {
            return Err(EngineError::Invalid(format!(
                "{} is a list with no entry for {}, the platform the spec gives; it has {}",
                entry.image,
                spec_platform(wanted),
                if offered.is_empty() {
                    "no image entries".to_owned()
                } else {
                    offered.join(", ")
                }
            )));
        }
        if matching.len() > 1 {
            let found: Vec<String> = matching
                .iter()
                .map(|r| r.descriptor.platform.as_ref().expect("set").to_string())
                .collect();
            return Err(EngineError::Invalid(format!(
                "{} has several entries matching the spec's platform ({}); give the variant too",
                entry.image,
                found.join(", ")
            )));
        }
        let kept: Vec<&str> = matching
            .iter()
            .map(|r| r.descriptor.digest.as_str())
            .collect();
        attestations.retain(|a| {
            a.descriptor
                .annotations
                .get("vnd.docker.reference.digest")
                .is_some_and(|d| kept.contains(&d.as_str()))
        });
        images = matching;
    }
    images.extend(attestations);
    Ok(images)
}

/// A spec's platform as `os/arch[/variant]`, `?` for a part it leaves out.
fn spec_platform(p: &crate::spec::platform::PlatformSpec) -> String {
    let part = |v: &Option<String>| v.clone().unwrap_or_else(|| "?".to_owned());
    let mut text = format!("{}/{}", part(&p.os), part(&p.architecture));
    if let Some(variant) = &p.variant {
        text.push('/');
        text.push_str(variant);
    }
    text
}

/// Two images with the same platform would make a pull ambiguous.
fn check_unique_platforms(images: &[Resolved]) -> Result<(), EngineError> {
    for (i, a) in images.iter().enumerate() {
        for b in &images[..i] {
            let (pa, pb) = (&a.descriptor.platform, &b.descriptor.platform);
            if let (Some(pa), Some(pb)) = (pa, pb)
                && pa.same_as(pb)
            {
                return Err(EngineError::Invalid(format!(
                    "{} and {} both provide platform {pa}; a list holds one image per platform",
                    b.source, a.source
                )));
            }
        }
    }
    Ok(())
}

//! The push: resolve, check, make children present, PUT the list and its extra tags.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Serialize;

use super::error::AssembleError;
use super::list::{self, ListDocument};
use super::present::Presenter;
use super::resolve::{self, Resolved};
use crate::model::{ListType, Platform};
use crate::registry::RegistryClient;
use crate::spec::ListSpec;

/// How to push.
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// Docker list, OCI index, or chosen from the children.
    pub output: ListType,
    /// Skip sources that do not exist instead of failing.
    pub ignore_missing: bool,
    /// Resolve everything and build the list, but write nothing.
    pub dry_run: bool,
    /// Sources worked on at once.
    pub concurrency: usize,
}

impl Default for PushOptions {
    fn default() -> Self {
        Self {
            output: ListType::Auto,
            ignore_missing: false,
            dry_run: false,
            concurrency: 8,
        }
    }
}

/// A source left out because it does not exist (`--ignore-missing`).
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    /// The source reference.
    pub image: String,
    /// What the registry said.
    pub reason: String,
}

/// One entry of the pushed list.
#[derive(Debug, Clone, Serialize)]
pub struct EntryReport {
    /// Where the entry came from.
    pub image: String,
    /// The child's digest.
    pub digest: String,
    /// The child's media type.
    pub media_type: String,
    /// The child manifest's size in bytes.
    pub size: u64,
    /// The platform the list gives it (none for attestations).
    pub platform: Option<Platform>,
    /// The descriptor's annotations.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Whether it is an attestation of another entry.
    pub attestation: bool,
}

/// What a push did.
#[derive(Debug, Clone, Serialize)]
pub struct PushReport {
    /// The target reference.
    pub target: String,
    /// Extra tags the list was pushed under.
    pub tags: Vec<String>,
    /// The list's digest (as computed, and as the registry confirmed unless a dry run).
    pub digest: String,
    /// Docker manifest list or OCI index.
    pub media_type: String,
    /// The list's size in bytes.
    pub size: u64,
    /// The entries, in list order.
    pub entries: Vec<EntryReport>,
    /// Sources skipped as missing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Skipped>,
    /// Whether nothing was written.
    pub dry_run: bool,
    /// HTTP requests made.
    pub requests: u64,
    /// Wall time in milliseconds.
    pub elapsed_ms: u64,
    /// The list document.
    #[serde(skip)]
    pub list: ListDocument,
}

/// Pushes the list a spec describes.
pub async fn push(
    client: &RegistryClient,
    spec: &ListSpec,
    options: &PushOptions,
) -> Result<PushReport, AssembleError> {
    let started = Instant::now();
    let requests_before = client.requests();
    let (mut entries, skipped) = resolve::resolve_all(client, spec, options).await?;
    if entries.is_empty() {
        return Err(AssembleError::Invalid(
            "every source was skipped as missing; there is no list to push".to_owned(),
        ));
    }
    let media_type = list::choose_type(options.output, &spec.annotations, &mut entries)?;
    let document = list::serialise(media_type, &spec.annotations, &entries)?;
    let target = &spec.image;
    if !options.dry_run {
        let presenter = Presenter::new(client, target);
        presenter.ensure_all(&entries, options.concurrency).await?;
        let references =
            std::iter::once(target.clone()).chain(spec.tags.iter().map(|t| target.with_tag(t)));
        futures::future::try_join_all(references.map(|reference| {
            let bytes = document.bytes.clone();
            let media_type = document.media_type.as_str();
            async move {
                client
                    .put_manifest(&reference, bytes, media_type)
                    .await
                    .map_err(|e| AssembleError::registry(&reference, e))
            }
        }))
        .await?;
        tracing::info!("pushed {target} as {}", document.digest);
    }
    Ok(PushReport {
        target: target.to_string(),
        tags: spec.tags.clone(),
        digest: document.digest.clone(),
        media_type: document.media_type.clone(),
        size: document.bytes.len() as u64,
        entries: entries.iter().map(entry_report).collect(),
        skipped,
        dry_run: options.dry_run,
        requests: client.requests() - requests_before,
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        list: document,
    })
}

fn entry_report(entry: &Resolved) -> EntryReport {
    let d = &entry.descriptor;
    EntryReport {
        image: entry.source.to_string(),
        digest: d.digest.to_string(),
        media_type: d.media_type.clone(),
        size: d.size,
        platform: if entry.attestation {
            None
        } else {
            d.platform.clone()
        },
        annotations: d.annotations.clone(),
        attestation: entry.attestation,
    }
}

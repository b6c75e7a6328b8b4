//! The plan: what the target holds now read, every source resolved (its platform checked), the list
//! type chosen and the list document serialised — everything a push will write, known before
//! anything is written. A dry run is a plan that is
//! reported instead of pushed.
//!
//! The document is deterministic: entries in spec order (attestations after the images), compact
//! JSON, annotations sorted — or, with `format: manifest-tool`, byte for byte as manifest-tool
//! writes it (`manifest_tool.rs`).

use std::collections::BTreeMap;
use std::time::Instant;

use bytes::Bytes;
use serde::Serialize;

use super::current::{Current, CurrentList};
use super::edit;
use super::error::EngineError;
use super::inherit;
use super::manifest_tool;
use super::platform::Platforms;
use super::resolve::{self, Resolved, Skipped};
use crate::model::{Digest, Entry, ListFormat, ListOptions, ListType, SourcePin};
use crate::model::{MAX_LIST_BYTES, Reference};
use crate::registry::media::{self, DOCKER_LIST, OCI_INDEX};
use crate::registry::{Descriptor, RegistryClient};
use crate::spec::{ListSpec, Removal};

/// How to plan (and push) a list: what the submission asks for, and how many sources are worked on
/// at once (a setting of the command line or the service, not of the submission).
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// The submission's options.
    pub list: ListOptions,
    /// Sources worked on at once.
    pub concurrency: usize,
}

/// Sources worked on at once unless told otherwise.
pub const DEFAULT_CONCURRENCY: usize = 8;

impl Default for PushOptions {
    fn default() -> Self {
        Self {
            list: ListOptions::default(),
            concurrency: DEFAULT_CONCURRENCY,
        }
    }
}

impl PushOptions {
    /// The options `list` asks for, `concurrency` sources at a time.
    pub fn new(list: ListOptions, concurrency: usize) -> Self {
        Self {
            list,
            concurrency: concurrency.max(1),
        }
    }
}

/// A serialised list, ready to PUT.
#[derive(Debug, Clone)]
pub struct ListDocument {
    /// The exact bytes.
    pub bytes: Bytes,
    /// `sha256:` of the bytes.
    pub digest: Digest,
    /// Docker manifest list or OCI index.
    pub media_type: String,
}

/// Everything a push will write.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The target reference (a tag).
    pub target: Reference,
    /// Extra tags the list goes under.
    pub tags: Vec<String>,
    /// The list document.
    pub document: ListDocument,
    /// Sources skipped as missing.
    pub skipped: Vec<Skipped>,
    /// The digest each source named by tag resolved to.
    pub pins: Vec<SourcePin>,
    /// The entries, in list order, with where each child comes from.
    pub(crate) resolved: Vec<Resolved>,
    /// What the target held when planning started.
    pub(crate) current: Current,
    /// When planning started.
    pub(crate) started: Instant,
    /// The client's request count when planning started.
    pub(crate) requests_before: u64,
    /// Where the list document itself comes from, for a copy: its referrers (a signed list's
    /// signature) travel with it.
    pub(crate) origin: Option<Reference>,
    /// The annotations taken from the children (`inherit_annotations`).
    pub inherited: BTreeMap<String, String>,
}

impl Plan {
    /// Whether the target holds this very list already (a push writes nothing but extra tags).
    pub fn unchanged(&self) -> bool {
        self.current.is(&self.document.digest)
    }

    /// The list's entries, in order.
    pub fn entries(&self) -> Vec<Entry> {
        self.resolved.iter().map(Resolved::entry).collect()
    }
}

/// Resolves a spec's sources and builds the list document; writes nothing.
#[tracing::instrument(name = "plan", skip_all, fields(target = %spec.image))]
pub async fn plan(
    client: &RegistryClient,
    spec: &ListSpec,
    options: &PushOptions,
) -> Result<Plan, EngineError> {
    let started = Instant::now();
    let requests_before = client.requests();
    let current = Current::read(client, &spec.image).await?;
    let platforms = Platforms {
        current: &current,
        trust_spec: options.list.trust_platforms,
        as_manifest_tool: options.list.format == ListFormat::ManifestTool,
    };
    let resolve::Sources {
        resolved,
        skipped,
        pins,
    } = resolve::resolve_all(
        client,
        spec,
        platforms,
        (options.list.ignore_missing, options.concurrency),
    )
    .await?;
    if resolved.is_empty() {
        return Err(EngineError::Invalid(
            "every source was skipped as missing; there is no list to push".to_owned(),
        ));
    }
    let planned = Planned {
        resolved,
        skipped,
        pins,
        current,
        started,
        requests_before,
    };
    compose(client, spec, options, planned).await
}

/// What a plan found before its document is written: the entries, what the target holds, and
/// what resolving them skipped and pinned.
struct Planned {
    resolved: Vec<Resolved>,
    skipped: Vec<Skipped>,
    pins: Vec<SourcePin>,
    current: Current,
    started: Instant,
    requests_before: u64,
}

/// Where the children of a list pushed again from its recorded entries are taken from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildrenFrom {
    /// The target repository (a staged release: its stages brought them there).
    Target,
    /// The source each came from, pinned to its digest (a repair: a child gone from the target
    /// repository is copied again from there).
    Sources,
}

/// The plan of a list pushed again from `entries` (recorded when they landed): `spec`'s
/// target, tags and annotations over them, read from nothing but what the target holds now;
/// nothing is resolved again. A staged release's children are in the target repository
/// already; a repair's are taken from their sources.
#[tracing::instrument(name = "plan", skip_all, fields(target = %spec.image))]
pub async fn release(
    client: &RegistryClient,
    spec: &ListSpec,
    entries: &[Entry],
    options: &PushOptions,
    from: ChildrenFrom,
) -> Result<Plan, EngineError> {
    let resolved = entries
        .iter()
        .map(|e| {
            let mut child = Resolved::staged(&spec.image, e);
            if from == ChildrenFrom::Sources
                && let Ok(source) = crate::model::Reference::parse(&e.image)
            {
                child.source = source.with_digest(&e.digest);
            }
            child
        })
        .collect();
    from_entries(client, spec, resolved, options).await
}

/// The plan of children known already (`resolved`), against what the target holds now.
async fn from_entries(
    client: &RegistryClient,
    spec: &ListSpec,
    resolved: Vec<Resolved>,
    options: &PushOptions,
) -> Result<Plan, EngineError> {
    let started = Instant::now();
    let requests_before = client.requests();
    let current = Current::read(client, &spec.image).await?;
    let planned = Planned {
        resolved,
        skipped: Vec::new(),
        pins: Vec::new(),
        current,
        started,
        requests_before,
    };
    let mut options = options.clone();
    options.list.append = false;
    compose(client, spec, &options, planned).await
}

/// Writes the document of what was planned: an append's entries merged into the current list,
/// the annotations taken from the children, the list type chosen.
async fn compose(
    client: &RegistryClient,
    spec: &ListSpec,
    options: &PushOptions,
    planned: Planned,
) -> Result<Plan, EngineError> {
    let Planned {
        mut resolved,
        skipped,
        pins,
        current,
        started,
        requests_before,
    } = planned;
    let (mut output, mut annotations) = (options.list.list_type, spec.annotations.clone());
    let inherit = options.list.inherit_annotations;
    if options.list.append
        && let Some(list) = &current.list
    {
        resolved = edit::append(&spec.image, list, resolved);
        if output == ListType::Auto {
            output = type_of(list);
        }
        if annotations.is_empty() {
            annotations = list.annotations.clone();
            // What the list took from its children before is taken again from the merged ones.
            if inherit {
                inherit::forget(&mut annotations);
            }
        }
    }
    // Over the entries the list will hold: an append's merged ones.
    let inherited = if inherit {
        inherit::take(client, &resolved, &mut annotations, options.concurrency).await?
    } else {
        BTreeMap::new()
    };
    let document = match options.list.format {
        ListFormat::Manifold => {
            let media_type = choose_type(output, &annotations, &mut resolved)?;
            serialise(media_type, &annotations, &resolved)?
        }
        ListFormat::ManifestTool => {
            let media_type = manifest_tool::choose_type(output, &annotations, &resolved)?;
            let bytes = manifest_tool::serialise(media_type, &annotations, &resolved)?;
            sealed(media_type, bytes)?
        }
    };
    Ok(Plan {
        target: spec.image.clone(),
        tags: spec.tags.clone(),
        document,
        skipped,
        pins,
        resolved,
        current,
        started,
        requests_before,
        origin: None,
        inherited,
    })
}

/// The plan of the list a tag holds without the entries of the removal's platforms or digests
/// (one request: the read of the list).
#[tracing::instrument(name = "plan", skip_all, fields(target = %removal.image))]
pub(crate) async fn removal(
    client: &RegistryClient,
    removal: &Removal,
) -> Result<Plan, EngineError> {
    let Removal {
        image: target,
        platforms,
        digests,
    } = removal;
    let started = Instant::now();
    let requests_before = client.requests();
    let current = Current::read(client, target).await?;
    let Some(list) = &current.list else {
        return Err(EngineError::Invalid(format!(
            "{target} holds no list to remove entries from"
        )));
    };
    let mut resolved = edit::remove(target, list, platforms, digests)?;
    let media_type = choose_type(type_of(list), &list.annotations, &mut resolved)?;
    let document = serialise(media_type, &list.annotations, &resolved)?;
    Ok(Plan {
        target: target.clone(),
        tags: Vec::new(),
        document,
        skipped: Vec::new(),
        pins: Vec::new(),
        resolved,
        current,
        started,
        requests_before,
        origin: None,
        inherited: BTreeMap::new(),
    })
}

/// The list type a current list has.
fn type_of(list: &CurrentList) -> ListType {
    if list.media_type == DOCKER_LIST {
        ListType::Docker
    } else {
        ListType::Oci
    }
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
fn choose_type(
    list_type: ListType,
    annotations: &BTreeMap<String, String>,
    entries: &mut Vec<Resolved>,
) -> Result<&'static str, EngineError> {
    let has_annotations = !annotations.is_empty()
        || entries
            .iter()
            .any(|e| !e.attestation && !e.descriptor.annotations.is_empty());
    let has_oci = entries
        .iter()
        .any(|e| media::is_oci(&e.descriptor.media_type));
    let docker = match list_type {
        ListType::Docker => true,
        ListType::Oci => false,
        ListType::Auto => !has_oci && !has_annotations,
    };
    if !docker {
        return Ok(OCI_INDEX);
    }
    if has_annotations {
        return Err(EngineError::Invalid(
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
        return Err(EngineError::Invalid(format!(
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
) -> Result<ListDocument, EngineError> {
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
    let bytes = serde_json::to_vec(&doc).map_err(|e| EngineError::Invalid(e.to_string()))?;
    sealed(media_type, bytes)
}

/// The document of `bytes`; fails when it is over the registry's 4 MiB limit.
fn sealed(media_type: &str, bytes: Vec<u8>) -> Result<ListDocument, EngineError> {
    if bytes.len() > MAX_LIST_BYTES {
        return Err(EngineError::Invalid(format!(
            "the list would be {} bytes, over the registry limit of {MAX_LIST_BYTES} bytes (4 \
             MiB): registries take larger ones that clients then cannot pull; split it into \
             several lists",
            bytes.len()
        )));
    }
    Ok(ListDocument {
        digest: Digest::of(&bytes),
        bytes: bytes.into(),
        media_type: media_type.to_owned(),
    })
}

//! Bringing referrers into a push's target repository with the images they refer to.
//!
//! A referrer a listing names is PUT by digest (its blobs first) and registered: on a target with
//! the referrers API the PUT registers it; else it is merged into the target's tag-schema index
//! for its subject (what the index lists already stays, but for entries naming manifests the
//! repository no longer holds, which the registry would refuse). A cosign tag is PUT under the
//! same tag with the same bytes, so the same digest — unless the target's tag holds signatures
//! the source's lacks, which are then kept beside the source's (a merged manifest). What the
//! target has already costs one request to see. [`discover`] only finds them (a dry run).

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU8, Ordering};

use futures::{StreamExt as _, TryStreamExt as _};

use super::{Found, NO_API, UNKNOWN, learn_api};
use crate::engine::copy::Copier;
use crate::engine::error::EngineError;
use crate::model::Reference;
use crate::model::{Digest, Referrer, digest_tag};
use crate::registry::media::OCI_INDEX;
use crate::registry::{Descriptor, Listing, Manifest, ManifestBody, RegistryClient};

/// The digests whose referrers travel with a push, grouped by the repository they come from.
#[derive(Debug, Default)]
pub(crate) struct Subjects {
    groups: BTreeMap<String, (Reference, Vec<Digest>)>,
}

impl Subjects {
    /// Adds a digest of `repo` (each once).
    pub(crate) fn add(&mut self, repo: &Reference, digest: &Digest) {
        let (_, digests) = self
            .groups
            .entry(repo.name())
            .or_insert_with(|| (repo.clone(), Vec::new()));
        if !digests.contains(digest) {
            digests.push(digest.clone());
        }
    }
}

struct Carrier<'a, 'c> {
    client: &'a RegistryClient,
    copier: &'a Copier<'c>,
    target: &'a Reference,
    api: AtomicU8,
}

/// The referrers of every subject, found in its repository and not brought anywhere (a dry
/// run's), in the order found.
pub(crate) async fn discover(
    client: &RegistryClient,
    subjects: &Subjects,
    concurrency: usize,
) -> Result<Vec<Referrer>, EngineError> {
    let groups = find_all(client, subjects, concurrency).await?;
    let all = groups.into_iter().flat_map(|(_, found)| found);
    Ok(all.map(|f| f.referrer).collect())
}

/// Each subject group's repository with what refers to its subjects.
async fn find_all(
    client: &RegistryClient,
    subjects: &Subjects,
    concurrency: usize,
) -> Result<Vec<(Reference, Vec<Found>)>, EngineError> {
    let finds: Vec<_> = subjects
        .groups
        .values()
        .map(|(repo, digests)| async move {
            super::find(client, repo, digests)
                .await
                .map(|found| (repo.clone(), found))
        })
        .collect();
    futures::stream::iter(finds)
        .buffered(concurrency.max(1))
        .try_collect()
        .await
}

/// Finds the referrers of every subject in its repository and brings each into `target`;
/// returns them all (brought now, or there already), in the order found.
pub(crate) async fn carry(
    client: &RegistryClient,
    copier: &Copier<'_>,
    target: &Reference,
    subjects: Subjects,
    concurrency: usize,
) -> Result<Vec<Referrer>, EngineError> {
    let groups = find_all(client, &subjects, concurrency).await?;
    let known = client.kept().no_referrers_api(target.registry());
    let carrier = Carrier {
        client,
        copier,
        target,
        api: AtomicU8::new(if known { NO_API } else { UNKNOWN }),
    };
    let mut work: BTreeMap<Digest, (Reference, Vec<&Found>)> = BTreeMap::new();
    for (repo, found) in &groups {
        for f in found {
            work.entry(f.referrer.subject.clone())
                .or_insert_with(|| (repo.clone(), Vec::new()))
                .1
                .push(f);
        }
    }
    let pending: Vec<_> = work
        .iter()
        .map(|(subject, (repo, found))| carrier.subject(repo, subject, found))
        .collect();
    futures::stream::iter(pending)
        .buffer_unordered(concurrency.max(1))
        .try_collect::<()>()
        .await?;
    let all = groups.into_iter().flat_map(|(_, found)| found);
    Ok(all.map(|f| f.referrer).collect())
}

impl Carrier<'_, '_> {
    /// Brings one subject's referrers: those a listing names, then its cosign tags.
    async fn subject(
        &self,
        from: &Reference,
        subject: &Digest,
        found: &[&Found],
    ) -> Result<(), EngineError> {
        let (tagged, listed): (Vec<&Found>, Vec<&Found>) =
            found.iter().partition(|f| f.referrer.tag.is_some());
        if !listed.is_empty() {
            self.listed(from, subject, &listed).await?;
        }
        for f in tagged {
            self.tagged(from, f).await?;
        }
        Ok(())
    }

    /// The referrers of `subject` the target's referrers API lists, or `None` when it has none
    /// (or none for this subject: its tag schema then).
    async fn target_listing(
        &self,
        subject: &Digest,
    ) -> Result<Option<Vec<Descriptor>>, EngineError> {
        if self.api.load(Ordering::Relaxed) == NO_API {
            return Ok(None);
        }
        let listing = self
            .client
            .referrers_of(self.target, subject)
            .await
            .map_err(|e| EngineError::registry(self.target.name(), e))?;
        learn_api(&self.api, &listing);
        Ok(match listing {
            Listing::Listed(found) => Some(found),
            Listing::NoApi | Listing::NotForSubject => None,
        })
    }

    async fn listed(
        &self,
        from: &Reference,
        subject: &Digest,
        listed: &[&Found],
    ) -> Result<(), EngineError> {
        if let Some(present) = self.target_listing(subject).await? {
            let present: HashSet<&Digest> = present.iter().map(|d| &d.digest).collect();
            for f in listed
                .iter()
                .filter(|f| !present.contains(&f.referrer.digest))
            {
                self.put(from, f).await?;
            }
            return Ok(());
        }
        let at = self.target.with_tag(&digest_tag(subject, None));
        let mut index = match self.client.get_target(&at).await {
            Ok(manifest) => tag_schema_entries(&at, manifest)?,
            Err(e) if e.is_not_found() => Vec::new(),
            Err(e) => return Err(EngineError::registry(&at, e)),
        };
        let before = index.len();
        for f in listed {
            if index.iter().any(|d| d.digest == f.referrer.digest) {
                continue;
            }
            if !self.holds(&f.referrer.digest).await? {
                self.put(from, f).await?;
            }
            index.push(f.descriptor.clone());
        }
        if index.len() == before {
            return Ok(());
        }
        let listed = self.put_index(&at, index).await?;
        tracing::info!("{at} lists {listed} referrer(s) of {subject}");
        Ok(())
    }

    /// PUTs a tag-schema index; how many entries it lists. When the registry refuses it because
    /// an entry it held already names a manifest the repository no longer has (deleted since, so
    /// no client could fetch it), those entries are dropped, with a warning naming them, and the
    /// index PUT again. Every entry that still exists stays.
    async fn put_index(
        &self,
        at: &Reference,
        mut index: Vec<Descriptor>,
    ) -> Result<usize, EngineError> {
        let refused = match self
            .client
            .put_manifest(at, index_bytes(&index)?, OCI_INDEX)
            .await
        {
            Ok(_) => return Ok(index.len()),
            Err(e) if e.status() == Some(400) => e,
            Err(e) => return Err(EngineError::registry(at, e)),
        };
        let mut gone = HashSet::new();
        for entry in &index {
            if !self.holds(&entry.digest).await? {
                gone.insert(entry.digest.clone());
            }
        }
        if gone.is_empty() {
            return Err(EngineError::registry(at, refused));
        }
        let names: Vec<String> = gone.iter().map(ToString::to_string).collect();
        tracing::warn!(
            "{at} listed manifests the repository no longer holds ({}); dropping them from the index",
            names.join(", ")
        );
        index.retain(|d| !gone.contains(&d.digest));
        self.client
            .put_manifest(at, index_bytes(&index)?, OCI_INDEX)
            .await
            .map_err(|e| EngineError::registry(at, e))?;
        Ok(index.len())
    }

    /// Whether the target repository holds the manifest `digest` (one HEAD).
    async fn holds(&self, digest: &Digest) -> Result<bool, EngineError> {
        let pinned = self.target.with_digest(digest);
        let held = self
            .client
            .head_manifest(&pinned)
            .await
            .map_err(|e| EngineError::registry(&pinned, e))?;
        Ok(held.is_some())
    }

    /// A listed referrer, PUT by digest with everything it references.
    async fn put(&self, from: &Reference, f: &Found) -> Result<(), EngineError> {
        self.copier
            .ensure_manifest(from, &f.descriptor, f.manifest.clone())
            .await
    }

    /// A cosign tag, PUT under the same tag unless the target's tag holds it already.
    async fn tagged(&self, from: &Reference, f: &Found) -> Result<(), EngineError> {
        let (Some(tag), Some(manifest)) = (&f.referrer.tag, &f.manifest) else {
            return Ok(());
        };
        let at = self.target.with_tag(tag);
        let fail = |e| EngineError::registry(&at, e);
        match self.client.head_manifest(&at).await.map_err(fail)? {
            Some(held) if held == manifest.digest => Ok(()),
            None => self.copier.put_at(from, manifest, &at).await,
            Some(_) => {
                let held = self.client.get_target(&at).await.map_err(fail)?;
                match merged(manifest, &held)? {
                    None => self.copier.put_at(from, manifest, &at).await,
                    Some(bytes) => {
                        tracing::info!("{at} holds signatures of its own; keeping them too");
                        self.copier.ensure_contents(from, manifest).await?;
                        self.client
                            .put_manifest(&at, bytes.into(), &manifest.media_type)
                            .await
                            .map_err(fail)?;
                        Ok(())
                    }
                }
            }
        }
    }
}

/// A tag-schema index listing `entries`.
fn index_bytes(entries: &[Descriptor]) -> Result<bytes::Bytes, EngineError> {
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": entries,
    }))
    .map(Into::into)
    .map_err(|e| EngineError::Invalid(e.to_string()))
}

/// The entries of a tag-schema index the target holds.
fn tag_schema_entries(at: &Reference, manifest: Manifest) -> Result<Vec<Descriptor>, EngineError> {
    match manifest.body {
        ManifestBody::Index(index) => Ok(index.manifests),
        ManifestBody::Image(_) => Err(EngineError::Invalid(format!(
            "{at} holds an image where the referrers tag schema keeps an index; it is left as it \
             is and the referrers are not registered"
        ))),
    }
}

/// The source's cosign manifest with the layers the target's holds and it lacks, or `None` when
/// the target's layers are all in the source's (the source's bytes then replace it as they are).
fn merged(source: &Manifest, held: &Manifest) -> Result<Option<Vec<u8>>, EngineError> {
    let (ManifestBody::Image(s), ManifestBody::Image(h)) = (&source.body, &held.body) else {
        return Ok(None);
    };
    let have: HashSet<&Digest> = s.layers.iter().map(|l| &l.digest).collect();
    let extra: Vec<&Descriptor> = h
        .layers
        .iter()
        .filter(|l| !have.contains(&l.digest))
        .collect();
    if extra.is_empty() {
        return Ok(None);
    }
    let invalid = |e: serde_json::Error| EngineError::Invalid(e.to_string());
    let mut doc: serde_json::Value = serde_json::from_slice(&source.bytes).map_err(invalid)?;
    if let Some(layers) = doc.get_mut("layers").and_then(|l| l.as_array_mut()) {
        for layer in extra {
            layers.push(serde_json::to_value(layer).map_err(invalid)?);
        }
    }
    serde_json::to_vec(&doc).map(Some).map_err(invalid)
}

//! The check of a pushed list against its registry, as the watch makes it: does every tag still
//! hold the list, is every child still in the target repository, does every source named by tag
//! still name what it named at the push. HEADs only, one per tag, child and source; a few at once.

use futures::{StreamExt as _, TryStreamExt as _};

use super::error::EngineError;
use crate::model::Reference;
use crate::model::{Digest, DriftReason, Entry, SourcePin};
use crate::registry::RegistryClient;

/// Requests one check has in flight at once.
const AT_ONCE: usize = 4;

/// A pushed list as it was recorded.
#[derive(Debug, Clone, Copy)]
pub struct Pushed<'a> {
    /// The target reference.
    pub target: &'a Reference,
    /// Its extra tags.
    pub tags: &'a [String],
    /// The list's digest.
    pub digest: &'a Digest,
    /// Its entries.
    pub entries: &'a [Entry],
    /// The digests its sources named by tag resolved to.
    pub sources: &'a [SourcePin],
}

/// What one HEAD is asked for.
enum Probe<'a> {
    Tag(Reference),
    Child(&'a Entry),
    Source(&'a SourcePin, Reference),
}

/// What drifted, in order (tags, children, sources); empty when the list is in sync. Fails when
/// the registry cannot be asked (the list's state is then unknown).
pub async fn check(
    client: &RegistryClient,
    pushed: Pushed<'_>,
) -> Result<Vec<DriftReason>, EngineError> {
    let tags = std::iter::once(pushed.target.clone())
        .chain(pushed.tags.iter().map(|t| pushed.target.with_tag(t)))
        .map(Probe::Tag);
    let children = pushed.entries.iter().map(Probe::Child);
    let sources = pushed.sources.iter().filter_map(|pin| {
        Reference::parse(&pin.image)
            .ok()
            .map(|source| Probe::Source(pin, source))
    });
    let probes: Vec<_> = tags
        .chain(children)
        .chain(sources)
        .map(|probe| probe_one(client, pushed, probe))
        .collect();
    let found: Vec<Option<DriftReason>> = futures::stream::iter(probes)
        .buffered(AT_ONCE)
        .try_collect()
        .await?;
    Ok(found.into_iter().flatten().collect())
}

async fn probe_one(
    client: &RegistryClient,
    pushed: Pushed<'_>,
    probe: Probe<'_>,
) -> Result<Option<DriftReason>, EngineError> {
    let head = |reference: Reference| async move {
        client
            .head_manifest(&reference)
            .await
            .map_err(|e| EngineError::registry(&reference, e))
    };
    Ok(match probe {
        Probe::Tag(tag) => {
            let found = head(tag.clone()).await?;
            (found.as_ref() != Some(pushed.digest)).then(|| DriftReason::TagMoved {
                tag: tag.to_string(),
                expected: pushed.digest.clone(),
                found,
            })
        }
        Probe::Child(entry) => {
            let found = head(pushed.target.with_digest(&entry.digest)).await?;
            found.is_none().then(|| DriftReason::ChildMissing {
                digest: entry.digest.clone(),
                platform: entry.platform.clone(),
            })
        }
        Probe::Source(pin, source) => {
            let found = head(source).await?;
            (found.as_ref() != Some(&pin.digest)).then(|| DriftReason::SourceMoved {
                image: pin.image.clone(),
                expected: pin.digest.clone(),
                found,
            })
        }
    })
}

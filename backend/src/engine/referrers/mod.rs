//! Referrers: the signatures, attestations and SBOMs attached to images, found in a repository
//! ([`find`]) and brought along with the images into a push's target (`carry`).
//!
//! A repository's referrers are found by its tags (read once: the referrers tag schema's
//! `sha256-<hex>` indexes and cosign's `sha256-<hex>.sig` / `.att` / `.sbom`) and, where the
//! registry has it, the referrers API, which then replaces the tag schema — for each subject the
//! API lists: one it refuses (`405`: ECR, for an index) is read from the tag schema, the others
//! still from the API. What refers to a referrer (a signature of an SBOM) is found the same way,
//! [`MAX_DEPTH`] levels deep. A registry the process learnt to have no API (`registry::Kept`) is
//! not asked about it again.

mod carry;

use std::collections::HashSet;
use std::sync::atomic::{AtomicU8, Ordering};

use futures::{StreamExt as _, TryStreamExt as _};

use super::error::EngineError;
use crate::model::Reference;
use crate::model::{Digest, Referrer, ReferrerKind, SIGSTORE_PREDICATE_ANNOTATION, digest_tag};
use crate::registry::media::{DOCKER_CONFIG, OCI_CONFIG};
use crate::registry::{Descriptor, Listing, Manifest, ManifestBody, RegistryClient};

pub(crate) use carry::{Subjects, carry, discover};

/// Levels of referrers of referrers followed.
pub const MAX_DEPTH: usize = 3;
/// The cosign tag suffixes, in the order they are looked for.
const COSIGN_SUFFIXES: [&str; 3] = ["sig", "att", "sbom"];
/// Subjects listed at once.
const CONCURRENCY: usize = 8;
/// The OCI empty descriptor's media type (an artifact's config).
const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";

/// A referrer found in a source repository, with what bringing it over needs.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    /// What it is.
    pub referrer: Referrer,
    /// Its descriptor, as a referrers listing (API or tag schema) carries it.
    pub descriptor: Descriptor,
    /// Its manifest, when finding it fetched it.
    pub manifest: Option<Manifest>,
}

/// Whether a registry has the referrers API: not known yet, yes, no.
const UNKNOWN: u8 = 0;
const API: u8 = 1;
const NO_API: u8 = 2;

/// How one repository's referrers are listed.
struct Lister<'a> {
    client: &'a RegistryClient,
    repo: &'a Reference,
    tags: HashSet<String>,
    /// Whether the registry has the referrers API ([`UNKNOWN`], [`API`], [`NO_API`]).
    api: AtomicU8,
}

/// What a listing says of the API: `Some(true)` it has it, `Some(false)` it has none, `None`
/// nothing (it refused one subject).
pub(crate) fn api_state(listing: &Listing) -> Option<bool> {
    match listing {
        Listing::Listed(_) => Some(true),
        Listing::NoApi => Some(false),
        Listing::NotForSubject => None,
    }
}

/// Records what a listing says of the API in `state`: a registry known to have it keeps it (a
/// 404 then is one subject's).
pub(crate) fn learn_api(state: &AtomicU8, listing: &Listing) {
    match api_state(listing) {
        Some(true) => state.store(API, Ordering::Relaxed),
        Some(false) => {
            let _ = state.compare_exchange(UNKNOWN, NO_API, Ordering::Relaxed, Ordering::Relaxed);
        }
        None => {}
    }
}

/// What refers to `subjects` in `repo`, and what refers to that, [`MAX_DEPTH`] levels deep:
/// one tag listing, then one referrers-API request per subject where the registry has the API
/// (else a tag-schema index read where the tags have one), and a manifest read per cosign tag.
pub(crate) async fn find(
    client: &RegistryClient,
    repo: &Reference,
    subjects: &[Digest],
) -> Result<Vec<Found>, EngineError> {
    let Some(first) = subjects.first() else {
        return Ok(Vec::new());
    };
    let tags = client
        .list_tags(repo)
        .await
        .map_err(|e| EngineError::registry(repo.name(), e))?;
    // A registry the process knows to have no API is not asked.
    let probe = if client.kept().no_referrers_api(repo.registry()) {
        Listing::NoApi
    } else {
        client
            .referrers_of(repo, first)
            .await
            .map_err(|e| EngineError::registry(repo.name(), e))?
    };
    let lister = Lister {
        client,
        repo,
        tags: tags.into_iter().collect(),
        api: AtomicU8::new(UNKNOWN),
    };
    let mut first_listing = Some(probe);
    let mut seen: HashSet<Digest> = subjects.iter().cloned().collect();
    let mut frontier = subjects.to_vec();
    let mut found = Vec::new();
    for _ in 0..MAX_DEPTH {
        if frontier.is_empty() {
            break;
        }
        let pending: Vec<_> = frontier
            .iter()
            .map(|subject| {
                let known = match &first_listing {
                    Some(_) if subject == first => first_listing.take(),
                    _ => None,
                };
                lister.of(subject, known)
            })
            .collect();
        let level: Vec<Vec<Found>> = futures::stream::iter(pending)
            .buffered(CONCURRENCY)
            .try_collect()
            .await?;
        frontier = Vec::new();
        for f in level.into_iter().flatten() {
            if seen.insert(f.referrer.digest.clone()) {
                frontier.push(f.referrer.digest.clone());
            }
            found.push(f);
        }
    }
    Ok(found)
}

impl Lister<'_> {
    /// The referrers of one subject: listed (API or tag schema), then cosign's tags.
    async fn of(
        &self,
        subject: &Digest,
        known: Option<Listing>,
    ) -> Result<Vec<Found>, EngineError> {
        let listed = self.listed(subject, known).await?;
        let mut found = Vec::new();
        for descriptor in listed {
            found.push(self.listed_referrer(subject, descriptor).await?);
        }
        for suffix in COSIGN_SUFFIXES {
            let tag = digest_tag(subject, Some(suffix));
            if self.tags.contains(&tag) {
                found.push(self.tagged_referrer(subject, tag, suffix).await?);
            }
        }
        Ok(found)
    }

    /// What the referrers API (`known`, when asked already), or else the tag schema's index,
    /// lists for a subject: the tag schema where the registry has no API, or refused the API
    /// this subject.
    async fn listed(
        &self,
        subject: &Digest,
        known: Option<Listing>,
    ) -> Result<Vec<Descriptor>, EngineError> {
        let listing = match known {
            Some(listing) => listing,
            None if self.api.load(Ordering::Relaxed) == NO_API => Listing::NoApi,
            None => self
                .client
                .referrers_of(self.repo, subject)
                .await
                .map_err(|e| EngineError::registry(self.repo.name(), e))?,
        };
        learn_api(&self.api, &listing);
        if let Listing::Listed(found) = listing {
            return Ok(found);
        }
        let tag = digest_tag(subject, None);
        if !self.tags.contains(&tag) {
            return Ok(Vec::new());
        }
        let at = self.repo.with_tag(&tag);
        let index = self
            .client
            .get_manifest(&at)
            .await
            .map_err(|e| EngineError::registry(&at, e))?;
        match index.body {
            ManifestBody::Index(index) => Ok(index.manifests),
            ManifestBody::Image(_) => Err(EngineError::Invalid(format!(
                "{at} is the referrers tag schema's tag of {subject}, but holds an image, not \
                 an index of referrers"
            ))),
        }
    }

    /// A referrer a listing names (its manifest read only when the listing gives no artifact
    /// type).
    async fn listed_referrer(
        &self,
        subject: &Digest,
        descriptor: Descriptor,
    ) -> Result<Found, EngineError> {
        let (artifact_type, manifest) = match &descriptor.artifact_type {
            Some(t) => (Some(t.clone()), None),
            None => {
                let manifest = self
                    .read(&self.repo.with_digest(&descriptor.digest))
                    .await?;
                (artifact_type_of(&manifest), Some(manifest))
            }
        };
        let predicate = descriptor.annotations.get(SIGSTORE_PREDICATE_ANNOTATION);
        let referrer = Referrer {
            kind: ReferrerKind::of_artifact(
                artifact_type.as_deref(),
                predicate.map(String::as_str),
            ),
            artifact_type,
            media_type: descriptor.media_type.clone(),
            digest: descriptor.digest.clone(),
            size: descriptor.size,
            subject: subject.clone(),
            tag: None,
        };
        Ok(Found {
            referrer,
            descriptor,
            manifest,
        })
    }

    /// The manifest a cosign tag holds.
    async fn tagged_referrer(
        &self,
        subject: &Digest,
        tag: String,
        suffix: &str,
    ) -> Result<Found, EngineError> {
        let manifest = self.read(&self.repo.with_tag(&tag)).await?;
        let artifact_type = artifact_type_of(&manifest);
        let mut descriptor = manifest.descriptor();
        descriptor.artifact_type = artifact_type.clone();
        let referrer = Referrer {
            kind: ReferrerKind::of_cosign_suffix(suffix).unwrap_or(ReferrerKind::Other),
            artifact_type,
            media_type: manifest.media_type.clone(),
            digest: manifest.digest.clone(),
            size: manifest.bytes.len() as u64,
            subject: subject.clone(),
            tag: Some(tag),
        };
        Ok(Found {
            referrer,
            descriptor,
            manifest: Some(manifest),
        })
    }

    async fn read(&self, at: &Reference) -> Result<Manifest, EngineError> {
        self.client
            .get_manifest(at)
            .await
            .map_err(|e| EngineError::registry(at, e))
    }
}

/// A manifest's artifact type: its `artifactType`, else its config's media type when that is not
/// an image config (nor the empty descriptor), else its first layer's media type.
pub(crate) fn artifact_type_of(manifest: &Manifest) -> Option<String> {
    match &manifest.body {
        ManifestBody::Image(image) => image
            .artifact_type
            .clone()
            .or_else(|| {
                let config = image.config.media_type.as_str();
                (![OCI_CONFIG, DOCKER_CONFIG, OCI_EMPTY].contains(&config))
                    .then(|| config.to_owned())
            })
            .or_else(|| image.layers.first().map(|l| l.media_type.clone())),
        ManifestBody::Index(index) => index.artifact_type.clone(),
    }
}

/// The referrers of `subject` in `found`, and theirs (each names the digest it refers to), in
/// the order found.
pub(crate) fn reachable(found: &[Found], subject: &Digest) -> Vec<Referrer> {
    let mut subjects: HashSet<&Digest> = HashSet::from([subject]);
    let mut out = Vec::new();
    for f in found {
        if subjects.contains(&f.referrer.subject) {
            subjects.insert(&f.referrer.digest);
            out.push(f.referrer.clone());
        }
    }
    out
}

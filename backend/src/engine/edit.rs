//! Editing the list a target holds: an append merges a spec's entries into it (an entry whose
//! platform the list has replaces that entry in place, new ones go after, the rest stay as they
//! are, descriptors and annotations included); a removal drops entries by platform or digest.
//! Attestations follow their image: they stay while it stays, and go when it goes.

use super::current::CurrentList;
use super::error::EngineError;
use super::resolve::Resolved;
use crate::model::Reference;
use crate::model::{Digest, Platform};
use crate::registry::Descriptor;
use crate::registry::media::REFERENCE_DIGEST_ANNOTATION;

/// The image an attestation entry is about.
fn subject(attestation: &Descriptor) -> Option<&str> {
    attestation
        .annotations
        .get(REFERENCE_DIGEST_ANNOTATION)
        .map(String::as_str)
}

/// An entry of the current list as an entry of the new one: it lives in the target repository.
fn kept(target: &Reference, descriptor: &Descriptor) -> Resolved {
    Resolved {
        source: target.with_digest(&descriptor.digest),
        descriptor: descriptor.clone(),
        manifest: None,
        attestation: descriptor.is_attestation(),
    }
}

/// The current list with the spec's entries merged in: images in place or after, then every
/// attestation whose image is in the result.
pub(crate) fn append(
    target: &Reference,
    current: &CurrentList,
    new: Vec<Resolved>,
) -> Vec<Resolved> {
    let (mut fresh, fresh_attestations): (Vec<_>, Vec<_>) =
        new.into_iter().partition(|r| !r.attestation);
    let mut images: Vec<Resolved> = Vec::new();
    for d in current.manifests.iter().filter(|d| !d.is_attestation()) {
        let same = |r: &Resolved| match (&r.descriptor.platform, &d.platform) {
            (Some(a), Some(b)) => a.same_as(b),
            _ => false,
        };
        match fresh.iter().position(same) {
            Some(i) => images.push(fresh.remove(i)),
            None => images.push(kept(target, d)),
        }
    }
    images.extend(fresh);
    let attestations: Vec<Resolved> = current
        .manifests
        .iter()
        .filter(|d| d.is_attestation())
        .map(|d| kept(target, d))
        .chain(fresh_attestations)
        .collect();
    with_attestations(images, attestations)
}

/// Images, then the attestations of those images (each once).
fn with_attestations(mut images: Vec<Resolved>, attestations: Vec<Resolved>) -> Vec<Resolved> {
    let mut seen: Vec<Digest> = Vec::new();
    let kept: Vec<Resolved> = attestations
        .into_iter()
        .filter(|a| {
            let about = subject(&a.descriptor);
            let live = images
                .iter()
                .any(|i| about == Some(i.descriptor.digest.as_str()));
            let first = !seen.contains(&a.descriptor.digest);
            seen.push(a.descriptor.digest.clone());
            live && first
        })
        .collect();
    images.extend(kept);
    images
}

/// The current list without the entries of these platforms or digests; refuses to remove
/// nothing, or everything.
pub(crate) fn remove(
    target: &Reference,
    current: &CurrentList,
    platforms: &[Platform],
    digests: &[Digest],
) -> Result<Vec<Resolved>, EngineError> {
    let gone = |d: &Descriptor| {
        digests.contains(&d.digest)
            || d.platform
                .as_ref()
                .is_some_and(|p| platforms.iter().any(|w| w.same_as(p)))
    };
    let all: Vec<&Descriptor> = current
        .manifests
        .iter()
        .filter(|d| !d.is_attestation())
        .collect();
    let images: Vec<Resolved> = all
        .iter()
        .filter(|d| !gone(d))
        .map(|d| kept(target, d))
        .collect();
    if images.len() == all.len() {
        return Err(EngineError::Invalid(format!(
            "{target} has no entry of the platforms or digests given; nothing to remove"
        )));
    }
    if images.is_empty() {
        return Err(EngineError::Invalid(format!(
            "that would remove every image of {target}; a list needs one (delete the tag instead)"
        )));
    }
    let attestations = current
        .manifests
        .iter()
        .filter(|d| d.is_attestation())
        .map(|d| kept(target, d))
        .collect();
    Ok(with_attestations(images, attestations))
}

//! What the target holds now, read once before anything is written: the list a push replaces (or
//! nothing). A push that would write the same list writes nothing; children the current list
//! holds are in the target repository already, so they need no copy; and a child the list holds
//! under a platform was checked against its image when it was added.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;

use super::error::EngineError;
use crate::model::Reference;
use crate::model::{Digest, Platform};
use crate::registry::{Descriptor, Manifest, ManifestBody, RegistryClient};

/// The target's current list.
#[derive(Debug, Clone, Default)]
pub(crate) struct Current {
    /// What the tag holds, if it exists.
    pub(crate) held: Option<Held>,
    /// The children of the list it holds, with the platform the list gives each.
    children: HashMap<Digest, Option<Platform>>,
    /// The list it holds, if it holds a list.
    pub(crate) list: Option<CurrentList>,
}

/// What a tag holds: a manifest's exact bytes, their digest and media type (what a tag moved
/// since is put back to).
#[derive(Debug, Clone)]
pub(crate) struct Held {
    /// `sha256:` of `bytes`.
    pub(crate) digest: Digest,
    /// The exact bytes.
    pub(crate) bytes: Bytes,
    /// Their media type.
    pub(crate) media_type: String,
}

impl Held {
    /// What `reference` holds (one request, with the push scope), or nothing.
    pub(crate) async fn read(
        client: &RegistryClient,
        reference: &Reference,
    ) -> Result<Option<Self>, EngineError> {
        match client.get_target(reference).await {
            Ok(manifest) => Ok(Some(Held::from(&manifest))),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(EngineError::registry(reference, e)),
        }
    }
}

impl From<&Manifest> for Held {
    fn from(manifest: &Manifest) -> Self {
        Self {
            digest: manifest.digest.clone(),
            bytes: manifest.bytes.clone(),
            media_type: manifest.media_type.clone(),
        }
    }
}

/// A list the target holds.
#[derive(Debug, Clone)]
pub(crate) struct CurrentList {
    /// Its media type (Docker list or OCI index).
    pub(crate) media_type: String,
    /// Its entries, in order.
    pub(crate) manifests: Vec<Descriptor>,
    /// Its annotations.
    pub(crate) annotations: BTreeMap<String, String>,
}

impl Current {
    /// Reads what `target` holds (one request, with the push scope); nothing for a tag or
    /// repository that does not exist.
    pub(crate) async fn read(
        client: &RegistryClient,
        target: &Reference,
    ) -> Result<Self, EngineError> {
        let manifest = match client.get_target(target).await {
            Ok(manifest) => manifest,
            Err(e) if e.is_not_found() => return Ok(Self::default()),
            Err(e) => return Err(EngineError::registry(target, e)),
        };
        let held = Held::from(&manifest);
        let list = match manifest.body {
            ManifestBody::Index(index) => Some(CurrentList {
                media_type: manifest.media_type.clone(),
                manifests: index.manifests,
                annotations: index.annotations,
            }),
            ManifestBody::Image(_) => None,
        };
        let children = list
            .iter()
            .flat_map(|l| &l.manifests)
            .map(|d| (d.digest.clone(), d.platform.clone()))
            .collect();
        Ok(Self {
            held: Some(held),
            children,
            list,
        })
    }

    /// Whether the tag holds exactly this document.
    pub(crate) fn is(&self, digest: &Digest) -> bool {
        self.held.as_ref().is_some_and(|h| h.digest == *digest)
    }

    /// Whether the current list holds this child (so the target repository holds it).
    pub(crate) fn holds(&self, child: &Digest) -> bool {
        self.children.contains_key(child)
    }

    /// The platform the current list gives this child, if it holds it with one.
    pub(crate) fn platform_of(&self, child: &Digest) -> Option<&Platform> {
        self.children.get(child).and_then(Option::as_ref)
    }
}

//! Making every child present in the target repository before the list is pushed.
//!
//! distribution refuses a list whose children are not in the target repository, and a child whose
//! blobs are not linked there. On the same registry, blobs are mounted across repositories (a
//! refused mount is turned into a streamed copy through the upload it opened, and a registry the
//! process saw refuse one is not asked to mount again); from another registry they are streamed. Then the child manifest is PUT by digest. Each blob and each child
//! is handled once per push, however many entries share it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use futures::{FutureExt as _, StreamExt as _, TryStreamExt as _};
use tokio::sync::OnceCell;

use super::error::EngineError;
use super::resolve::Resolved;
use super::settle::{settled, unknown_yet};
use crate::model::Reference;
use crate::registry::media::is_non_distributable;
use crate::registry::{CopyError, Descriptor, Manifest, ManifestBody, Mount, RegistryClient};

type Once = Arc<OnceCell<()>>;

/// Copies children into one target repository, each blob and manifest at most once.
pub(crate) struct Copier<'a> {
    client: &'a RegistryClient,
    target: Reference,
    blobs: Mutex<HashMap<String, Once>>,
    manifests: Mutex<HashMap<String, Once>>,
}

impl<'a> Copier<'a> {
    pub(crate) fn new(client: &'a RegistryClient, target: &Reference) -> Self {
        Self {
            client,
            target: target.clone(),
            blobs: Mutex::new(HashMap::new()),
            manifests: Mutex::new(HashMap::new()),
        }
    }

    /// Makes every entry's child present, `concurrency` entries at a time.
    pub(crate) async fn ensure_all(
        &self,
        entries: &[Resolved],
        concurrency: usize,
    ) -> Result<(), EngineError> {
        let pending: Vec<_> = entries.iter().map(|e| self.ensure_entry(e)).collect();
        futures::stream::iter(pending)
            .buffer_unordered(concurrency.max(1))
            .try_collect::<()>()
            .await
    }

    /// The entries whose child is not in the target repository (`HEAD` by digest, `concurrency`
    /// at a time), in their order. A child resolved from the target repository itself is there.
    pub(crate) async fn missing_children(
        &self,
        entries: &[Resolved],
        concurrency: usize,
    ) -> Result<Vec<Resolved>, EngineError> {
        let asked: Vec<_> = entries
            .iter()
            .filter(|e| !self.in_target(&e.source))
            .map(|entry| self.gone(entry))
            .collect();
        let missing: Vec<Option<Resolved>> = futures::stream::iter(asked)
            .buffered(concurrency.max(1))
            .try_collect()
            .await?;
        Ok(missing.into_iter().flatten().collect())
    }

    /// The entry, when its child is not in the target repository.
    async fn gone(&self, entry: &Resolved) -> Result<Option<Resolved>, EngineError> {
        let child = self.target.with_digest(&entry.descriptor.digest);
        let found = self
            .client
            .head_manifest(&child)
            .await
            .map_err(|e| EngineError::registry(&child, e))?;
        Ok(found.is_none().then(|| entry.clone()))
    }

    fn in_target(&self, source: &Reference) -> bool {
        source.registry() == self.target.registry()
            && source.repository() == self.target.repository()
    }

    async fn ensure_entry(&self, entry: &Resolved) -> Result<(), EngineError> {
        if self.in_target(&entry.source) {
            return Ok(());
        }
        self.ensure_manifest(&entry.source, &entry.descriptor, entry.manifest.clone())
            .await
    }

    /// Puts one child manifest (and, first, everything it references) into the target, by
    /// digest.
    pub(crate) fn ensure_manifest<'b>(
        &'b self,
        from: &'b Reference,
        descriptor: &'b Descriptor,
        known: Option<Manifest>,
    ) -> BoxFuture<'b, Result<(), EngineError>> {
        async move {
            let cell = once(&self.manifests, descriptor.digest.as_str());
            cell.get_or_try_init(|| async {
                let manifest = match known {
                    Some(m) => m,
                    None => {
                        let pinned = from.with_digest(&descriptor.digest);
                        self.client
                            .get_manifest(&pinned)
                            .await
                            .map_err(|e| EngineError::registry(&pinned, e))?
                    }
                };
                let pinned = self.target.with_digest(&manifest.digest);
                self.put_at(from, &manifest, &pinned).await?;
                tracing::debug!("{} is present in {}", manifest.digest, self.target.name());
                Ok::<(), EngineError>(())
            })
            .await?;
            Ok(())
        }
        .boxed()
    }

    /// PUTs a manifest at `at` (a digest or a tag of the target) after everything it references.
    pub(crate) async fn put_at(
        &self,
        from: &Reference,
        manifest: &Manifest,
        at: &Reference,
    ) -> Result<(), EngineError> {
        self.ensure_contents(from, manifest).await?;
        let put = || async {
            self.client
                .put_manifest(at, manifest.bytes.clone(), &manifest.media_type)
                .await
                .map_err(|e| EngineError::registry(at, e))
        };
        match settled(&format!("PUT {at}"), put).await {
            // A mount answered 201 without linking the blob: copy what is missing, PUT again.
            Err(e) if unknown_yet(&e) && self.copy_missing(from, manifest).await? > 0 => {
                put().await?;
            }
            other => {
                other?;
            }
        }
        Ok(())
    }

    /// Copies the blobs of an image the target lacks although they were mounted (a registry that
    /// answered a mount with 201 without linking the blob); how many were copied.
    async fn copy_missing(
        &self,
        from: &Reference,
        manifest: &Manifest,
    ) -> Result<usize, EngineError> {
        let ManifestBody::Image(image) = &manifest.body else {
            return Ok(0);
        };
        if from.registry() != self.target.registry() {
            return Ok(0);
        }
        let mut copied = 0;
        let blobs = std::iter::once(&image.config).chain(&image.layers);
        for blob in blobs.filter(|b| !is_non_distributable(&b.media_type)) {
            let present = self.client.blob_exists(&self.target, &blob.digest).await;
            if present.map_err(|e| EngineError::registry(self.target.name(), e))? {
                continue;
            }
            tracing::warn!(
                "{} was mounted into {} but is not there; copying it",
                blob.digest,
                self.target.name()
            );
            self.client
                .copy_blob(from, &self.target, blob, None)
                .await
                .map_err(|e| EngineError::registry(self.target.name(), e.error))?;
            copied += 1;
        }
        Ok(copied)
    }

    /// Makes what a manifest references present: an image's blobs, an index's children.
    pub(crate) async fn ensure_contents(
        &self,
        from: &Reference,
        manifest: &Manifest,
    ) -> Result<(), EngineError> {
        match &manifest.body {
            ManifestBody::Image(image) => {
                let blobs = std::iter::once(&image.config)
                    .chain(&image.layers)
                    .filter(|b| !is_non_distributable(&b.media_type));
                futures::future::try_join_all(blobs.map(|b| self.ensure_blob(from, b))).await?;
            }
            ManifestBody::Index(index) => {
                futures::future::try_join_all(
                    index
                        .manifests
                        .iter()
                        .map(|c| self.ensure_manifest(from, c, None)),
                )
                .await?;
            }
        }
        Ok(())
    }

    /// Links or copies one blob into the target repository.
    async fn ensure_blob(&self, from: &Reference, blob: &Descriptor) -> Result<(), EngineError> {
        let cell = once(&self.blobs, blob.digest.as_str());
        cell.get_or_try_init(|| async {
            let fail = |e| EngineError::registry(self.target.name(), e);
            // A copy that failed on the source's side is the source's error.
            let failed_copy = |e: CopyError| match e.source_side {
                true => EngineError::registry(from.name(), e.error),
                false => EngineError::registry(self.target.name(), e.error),
            };
            let same = from.registry() == self.target.registry();
            // A registry the process saw refuse a mount is not asked to mount again.
            if same && !self.client.kept().mounts_refused(self.target.registry()) {
                match self
                    .client
                    .mount_blob(&self.target, &blob.digest, from)
                    .await
                    .map_err(fail)?
                {
                    Mount::Mounted => {}
                    Mount::Refused(session) => {
                        tracing::info!("mount of {} refused; copying it", blob.digest);
                        self.client
                            .copy_blob(from, &self.target, blob, Some(session))
                            .await
                            .map_err(failed_copy)?;
                    }
                }
            } else if same
                || !self
                    .client
                    .blob_exists(&self.target, &blob.digest)
                    .await
                    .map_err(fail)?
            {
                tracing::info!(
                    "copying {} ({} bytes) from {}",
                    blob.digest,
                    blob.size,
                    from.registry()
                );
                self.client
                    .copy_blob(from, &self.target, blob, None)
                    .await
                    .map_err(failed_copy)?;
            }
            Ok::<(), EngineError>(())
        })
        .await?;
        Ok(())
    }
}

fn once(map: &Mutex<HashMap<String, Once>>, digest: &str) -> Once {
    map.lock()
        .expect("lock")
        .entry(digest.to_owned())
        .or_default()
        .clone()
}

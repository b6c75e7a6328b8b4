//! The push of a plan: make the children the target repository lacks present, PUT the list under
//! its tag and extra tags (concurrently), and check the digest the registry reports — writing only
//! what changed since the list the target holds. And the report of what was done — or, for a dry
//! run, of what would be.

use serde::Serialize;

use super::copy::Copier;
use super::error::EngineError;
use super::plan::{self, ListDocument, Plan, PushOptions};
use super::referrers::{self, Subjects};
use super::refused;
use super::resolve::{Resolved, Skipped};
use super::settle;
use super::verify::PlatformCheck;
use crate::model::Reference;
use crate::model::{Digest, Entry, Referrer, SourcePin};
use crate::registry::RegistryClient;
use crate::spec::{ListSpec, Work};

/// What a push did (or, for a dry run, would do).
#[derive(Debug, Clone, Serialize)]
pub struct PushReport {
    /// The target reference.
    pub target: String,
    /// Extra tags the list was pushed under.
    pub tags: Vec<String>,
    /// The list's digest (as computed, and as the registry confirmed unless a dry run).
    pub digest: Digest,
    /// Docker manifest list or OCI index.
    pub media_type: String,
    /// The list's size in bytes.
    pub size: u64,
    /// The entries, in list order.
    pub entries: Vec<Entry>,
    /// Sources skipped as missing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Skipped>,
    /// The digest each source named by tag resolved to (what the watch measures moves by).
    #[serde(skip)]
    pub sources: Vec<SourcePin>,
    /// Whether nothing was written.
    pub dry_run: bool,
    /// Whether the target held this very list already (so only extra tags were written).
    pub unchanged: bool,
    /// Every platform of the list, resolved the way consumers resolve it.
    pub platforms: Vec<PlatformCheck>,
    /// HTTP requests made.
    pub requests: u64,
    /// Wall time in milliseconds.
    pub elapsed_ms: u64,
    /// Children of the list the target held that were gone from its repository (deleted since,
    /// e.g. by a retention policy) and were made present again.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub restored: Vec<Digest>,
    /// The referrers brought into the target with the children (`--referrers`): signatures,
    /// attestations, SBOMs — written now, or found there already.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub referrers: Vec<Referrer>,
    /// The annotations the index took from its children (`--inherit-annotations`).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub inherited_annotations: std::collections::BTreeMap<String, String>,
    /// With several targets: what became of each (the first is `target`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub destinations: Vec<crate::model::Destination>,
    /// The list document.
    #[serde(skip)]
    pub list: ListDocument,
}

impl Plan {
    /// Writes the plan: the children the target repository lacks, then (with `referrers`) what
    /// refers to them, then the list under every tag. Children the current list holds are not
    /// copied again, but each is asked for (`HEAD`, concurrently): one gone from the repository
    /// (deleted since) is made present again and reported as restored. A target that holds this
    /// list already, whole, gets only its extra tags. Should the registry still say a child is
    /// missing when the list is PUT, every child is made present and the list PUT again.
    #[tracing::instrument(name = "push", skip_all, fields(target = %self.target))]
    pub async fn push(
        self,
        client: &RegistryClient,
        options: &PushOptions,
    ) -> Result<PushReport, EngineError> {
        let prepared = self.prepare(client, options).await?;
        self.land(client, options, prepared).await
    }

    /// The first part of a push: every child (and, with `referrers`, what refers to it) made
    /// present in the target repository; no tag is written.
    pub(crate) async fn prepare<'c>(
        &self,
        client: &'c RegistryClient,
        options: &PushOptions,
    ) -> Result<Prepared<'c>, EngineError> {
        let (target, concurrency) = (&self.target, options.concurrency);
        let copier = Copier::new(client, target);
        let (mut new, held): (Vec<Resolved>, Vec<Resolved>) = self
            .resolved
            .iter()
            .cloned()
            .partition(|r| !self.current.holds(&r.descriptor.digest));
        let gone = copier.missing_children(&held, concurrency).await?;
        if !gone.is_empty() {
            tracing::warn!(
                "{} child(ren) of the list {target} holds are gone from it; restoring them",
                gone.len()
            );
        }
        let restored: Vec<Digest> = gone.iter().map(|r| r.descriptor.digest.clone()).collect();
        new.extend(gone);
        copier.ensure_all(&new, concurrency).await?;
        let carried = self.carry(client, &copier, options).await?;
        Ok(Prepared {
            copier,
            new: new.len(),
            restored,
            carried,
        })
    }

    /// The second part of a push: the list under every tag.
    async fn land(
        mut self,
        client: &RegistryClient,
        options: &PushOptions,
        prepared: Prepared<'_>,
    ) -> Result<PushReport, EngineError> {
        let Prepared {
            copier,
            new,
            restored,
            carried,
        } = prepared;
        let target = &self.target;
        if self.unchanged() {
            tracing::info!("{target} holds {} already", self.document.digest);
            self.put(client, false).await?;
            return Ok(self.report(client, false).finished(carried, restored));
        }
        match self.put(client, true).await {
            Err(e) if settle::unknown_yet(&e) => {
                if new < self.resolved.len() {
                    tracing::warn!(
                        "a child of the current list is gone from {target}; copying every child"
                    );
                    copier
                        .ensure_all(&self.resolved, options.concurrency)
                        .await?;
                }
                settle::settled(&format!("PUT {target}"), || self.put(client, true)).await?;
            }
            Err(e) => {
                self.document = refused::instead(&self, e)?;
                self.put(client, true).await?;
            }
            Ok(()) => {}
        }
        tracing::info!("pushed {} as {}", self.target, self.document.digest);
        Ok(self.report(client, false).finished(carried, restored))
    }

    /// Writes the plan's children (and, with `referrers`, what refers to them) into the target
    /// repository, but not the list: one job's stage of a staged release, whose list is PUT once,
    /// when the release has every platform it expects.
    #[tracing::instrument(name = "stage", skip_all, fields(target = %self.target))]
    pub async fn stage(
        self,
        client: &RegistryClient,
        options: &PushOptions,
    ) -> Result<PushReport, EngineError> {
        let copier = Copier::new(client, &self.target);
        copier
            .ensure_all(&self.resolved, options.concurrency)
            .await?;
        let carried = self.carry(client, &copier, options).await?;
        Ok(self.report(client, false).finished(carried, Vec::new()))
    }

    /// The report of the plan not made (a dry run): with `referrers`, what refers to the
    /// children (and to a copied list) where they come from, found but brought nowhere.
    #[tracing::instrument(name = "dry_run", skip_all, fields(target = %self.target))]
    pub async fn dry_run(
        self,
        client: &RegistryClient,
        options: &PushOptions,
    ) -> Result<PushReport, EngineError> {
        let found = if options.list.referrers {
            referrers::discover(client, &self.subjects(), options.concurrency).await?
        } else {
            Vec::new()
        };
        Ok(self.report(client, true).with_referrers(found))
    }

    /// The digests whose referrers travel with this push: each child from another repository,
    /// and a copied list from another repository.
    fn subjects(&self) -> Subjects {
        let mut subjects = Subjects::default();
        let elsewhere = |r: &Reference| {
            r.registry() != self.target.registry() || r.repository() != self.target.repository()
        };
        for r in self.resolved.iter().filter(|r| elsewhere(&r.source)) {
            subjects.add(&r.source, &r.descriptor.digest);
        }
        if let Some(origin) = self.origin.as_ref().filter(|o| elsewhere(o)) {
            subjects.add(origin, &self.document.digest);
        }
        subjects
    }

    /// With `referrers`, brings what refers to every child from another repository (and to a
    /// copied list itself) into the target; without it, nothing and no request.
    async fn carry(
        &self,
        client: &RegistryClient,
        copier: &Copier<'_>,
        options: &PushOptions,
    ) -> Result<Vec<Referrer>, EngineError> {
        if !options.list.referrers {
            return Ok(Vec::new());
        }
        let subjects = self.subjects();
        let carried =
            referrers::carry(client, copier, &self.target, subjects, options.concurrency).await?;
        if !carried.is_empty() {
            tracing::info!(
                "{} referrer(s) are in {}",
                carried.len(),
                self.target.name()
            );
        }
        Ok(carried)
    }

    /// PUTs the list under its extra tags, and (`main`) under the target's own tag, concurrently.
    async fn put(&self, client: &RegistryClient, main: bool) -> Result<(), EngineError> {
        let target = &self.target;
        let own = main.then(|| target.clone());
        let references = own
            .into_iter()
            .chain(self.tags.iter().map(|t| target.with_tag(t)));
        futures::future::try_join_all(
            references
                .map(|reference| async move { put_tag(client, &reference, &self.document).await }),
        )
        .await?;
        Ok(())
    }

    /// The report of this plan: of a push just made, or (`dry_run`) of one not made.
    pub fn report(self, client: &RegistryClient, dry_run: bool) -> PushReport {
        let descriptors: Vec<_> = self.resolved.iter().map(|r| r.descriptor.clone()).collect();
        PushReport {
            platforms: super::verify::check(&descriptors),
            unchanged: self.unchanged(),
            target: self.target.to_string(),
            tags: self.tags.clone(),
            digest: self.document.digest.clone(),
            media_type: self.document.media_type.clone(),
            size: self.document.bytes.len() as u64,
            entries: self.entries(),
            skipped: self.skipped,
            sources: self.pins,
            dry_run,
            requests: client.requests() - self.requests_before,
            elapsed_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            referrers: Vec::new(),
            restored: Vec::new(),
            inherited_annotations: self.inherited,
            destinations: Vec::new(),
            list: self.document,
        }
    }
}

impl PushReport {
    fn with_referrers(mut self, referrers: Vec<Referrer>) -> Self {
        self.referrers = referrers;
        self
    }

    fn finished(mut self, referrers: Vec<Referrer>, restored: Vec<Digest>) -> Self {
        self.restored = restored;
        self.with_referrers(referrers)
    }
}

/// PUTs `document` under `reference` (a tag): a tag refused as immutable that holds this very
/// document already is no failure.
pub(crate) async fn put_tag(
    client: &RegistryClient,
    reference: &Reference,
    document: &ListDocument,
) -> Result<(), EngineError> {
    let bytes = document.bytes.clone();
    match client
        .put_manifest(reference, bytes, &document.media_type)
        .await
    {
        Ok(_) => Ok(()),
        Err(e) => {
            let refusal = EngineError::registry(reference, e);
            refused::immutable_tag(client, reference, &document.digest, refusal).await
        }
    }
}

/// What the first part of a push left for the second: the copier (for a child the registry
/// still says is missing), how many children were copied, the children restored and the
/// referrers carried.
pub(crate) struct Prepared<'c> {
    copier: Copier<'c>,
    new: usize,
    pub(crate) restored: Vec<Digest>,
    pub(crate) carried: Vec<Referrer>,
}

/// Plans and pushes the list a spec describes.
pub async fn push(
    client: &RegistryClient,
    spec: &ListSpec,
    options: &PushOptions,
) -> Result<PushReport, EngineError> {
    run(client, &Work::List(spec.clone()), options).await
}

/// Plans a stage of a staged release from its spec and brings its children into the target
/// repository; the tag is not written.
pub async fn stage(
    client: &RegistryClient,
    spec: &ListSpec,
    options: &PushOptions,
) -> Result<PushReport, EngineError> {
    plan::plan(client, spec, options)
        .await?
        .stage(client, options)
        .await
}

/// Pushes a list again from its recorded `entries` under `spec`'s target and tags: a staged
/// release (its stages' children in the target repository already), or a repair (each child
/// gone from the target repository copied again from the source it came from, by digest).
pub async fn release(
    client: &RegistryClient,
    spec: &ListSpec,
    entries: &[Entry],
    options: &PushOptions,
    from: plan::ChildrenFrom,
) -> Result<PushReport, EngineError> {
    plan::release(client, spec, entries, options, from)
        .await?
        .push(client, options)
        .await
}

/// Plans and carries out a submission's work: a list pushed (or appended), entries removed, or
/// a reference copied.
pub async fn run(
    client: &RegistryClient,
    work: &Work,
    options: &PushOptions,
) -> Result<PushReport, EngineError> {
    plan_of(client, work, options)
        .await?
        .push(client, options)
        .await
}

/// The plan of a submission's work (against its first target).
pub(crate) async fn plan_of(
    client: &RegistryClient,
    work: &Work,
    options: &PushOptions,
) -> Result<Plan, EngineError> {
    match work {
        Work::List(spec) => plan::plan(client, spec, options).await,
        Work::Remove(removal) => plan::removal(client, removal).await,
        Work::Copy(copy) => super::copy_plan::copy_plan(client, copy).await,
    }
}

//! What a push does when the registry refuses the list or a tag for a reason of its own, not the
//! protocol's: Harbor's `404` to a list naming one child twice (a clear error naming the
//! entries), Gitea's `404` to an OCI image index (a Docker manifest list instead, when every
//! entry can be one, even where `--type oci` asked for an index — a list that lands beats one
//! that does not, and the warning says so; else a clear error), and an immutable tag that
//! already holds this very list (nothing to do). In a publish, which writes the same bytes
//! everywhere, the same refusals are made as clear, and a Docker list is advised, not pushed.
//! Every other refusal (a `404` saying the
//! repository is unknown among them) is passed on as it came.

use std::collections::BTreeMap;

use super::error::EngineError;
use super::plan::{self, ListDocument, Plan};
use crate::model::{Digest, ErrorCode, Reference};
use crate::registry::RegistryClient;
use crate::registry::media::{DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX};

/// The document to PUT instead of the one the registry refused with `refusal`, or the error to
/// give the user: `refusal` itself, or a clearer one when the list is why.
pub(crate) fn instead(plan: &Plan, refusal: EngineError) -> Result<ListDocument, EngineError> {
    let text = refusal.to_string();
    judge(plan, refusal)?;
    tracing::warn!(
        "{} refused the OCI image index ({text}); pushing the list as a Docker manifest list \
         instead",
        plan.target
    );
    plan::serialise(DOCKER_LIST, &BTreeMap::new(), &plan.resolved)
}

/// The refusal of one destination of a publish, made clearer as [`instead`] would; where a Docker
/// list would do, the advice to publish one (a publish writes the same bytes everywhere, so one
/// destination cannot be given another document).
pub(crate) fn in_publish(plan: &Plan, refusal: EngineError) -> EngineError {
    let text = refusal.to_string();
    match judge(plan, refusal) {
        Err(clearer) => clearer,
        Ok(()) => EngineError::Invalid(format!(
            "{} refused the OCI image index ({text}); some registries (Gitea) take only Docker \
             manifest lists, and a publish writes the same list everywhere: publish this list \
             as a Docker manifest list (--type docker, or type: docker in the spec)",
            plan.target.registry()
        )),
    }
}

/// Why the registry refused the list, when the list is why: `Ok` where a Docker manifest list
/// would be taken instead of the OCI index refused; else the error to give.
fn judge(plan: &Plan, refusal: EngineError) -> Result<(), EngineError> {
    if status(&refusal) != Some(404) || refusal.code() == ErrorCode::NameUnknown {
        return Err(refusal);
    }
    if let Some(twice) = named_twice(plan) {
        return Err(EngineError::Invalid(format!(
            "{} refused the list ({refusal}); it names {twice}: some registries (Harbor) refuse a \
             list that names one image twice. Give each platform an image of its own, or leave \
             one of the entries out",
            plan.target.registry()
        )));
    }
    if plan.document.media_type != OCI_INDEX {
        return Err(refusal);
    }
    match why_not_docker(plan) {
        Some(why) => Err(EngineError::Invalid(format!(
            "{} refused the OCI image index ({refusal}); some registries (Gitea) take only Docker \
             manifest lists, but this list cannot be one: {why}",
            plan.target.registry()
        ))),
        None => Ok(()),
    }
}

/// What keeps the plan's list from being a Docker manifest list, if anything.
fn why_not_docker(plan: &Plan) -> Option<String> {
    if plan.origin.is_some() {
        return Some("a copy keeps the index as it is".to_owned());
    }
    if let Some(r) = plan
        .resolved
        .iter()
        .find(|r| r.descriptor.media_type != DOCKER_MANIFEST)
    {
        return Some(format!(
            "{} is {}, which a Docker list cannot hold",
            r.source, r.descriptor.media_type
        ));
    }
    let annotated = plan
        .resolved
        .iter()
        .any(|r| !r.descriptor.annotations.is_empty())
        || serde_json::from_slice::<serde_json::Value>(&plan.document.bytes)
            .is_ok_and(|doc| doc.get("annotations").is_some());
    annotated.then(|| "it carries annotations, which a Docker list cannot".to_owned())
}

/// The entries of a list that name one digest twice, described (`sha256:… as manifests[0]
/// (linux/amd64) and manifests[1] (linux/arm64)`), if any.
fn named_twice(plan: &Plan) -> Option<String> {
    let entries = &plan.resolved;
    entries.iter().enumerate().find_map(|(i, first)| {
        let digest = &first.descriptor.digest;
        let j = (i + 1..entries.len()).find(|&j| entries[j].descriptor.digest == *digest)?;
        let at = |k: usize| match &entries[k].descriptor.platform {
            Some(platform) => format!("manifests[{k}] ({platform})"),
            None => format!("manifests[{k}]"),
        };
        Some(format!("{digest} twice, as {} and {}", at(i), at(j)))
    })
}

/// The HTTP status the registry answered, if the refusal is the registry's.
fn status(e: &EngineError) -> Option<u16> {
    match e {
        EngineError::Registry { source, .. } => source.status(),
        _ => None,
    }
}

/// A tag PUT refused as immutable is no failure when the tag holds `digest` already (a re-push
/// of the same list); otherwise the refusal stands.
pub(crate) async fn immutable_tag(
    client: &RegistryClient,
    reference: &Reference,
    digest: &Digest,
    refusal: EngineError,
) -> Result<(), EngineError> {
    if refusal.code() != ErrorCode::TagImmutable {
        return Err(refusal);
    }
    match client.head_manifest(reference).await {
        Ok(Some(held)) if held == *digest => {
            tracing::info!("{reference} is immutable and holds {digest} already");
            Ok(())
        }
        _ => Err(refusal),
    }
}

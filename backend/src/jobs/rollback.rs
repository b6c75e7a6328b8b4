//! The rollback job: make the target hold an earlier list's digest again. The registry's own
//! bytes of that list are copied back under the tag (and its extra tags) when the repository still
//! has them — the same digest, byte for byte; when they are gone (deleted since), the list is
//! pushed again from the entries manifold recorded for it, with its annotations and type, which
//! gives the same digest for a list manifold wrote in its own format.
//!
//! The repair job (operation `repair`, queued by the watch) pushes the watched list again from
//! its recorded entries, each child taken from the source it came from (by digest): the children
//! gone from the target repository present again, the same document under its tags.

use futures::FutureExt as _;

use super::outcome::Failure;
use crate::engine::ChildrenFrom::{Sources, Target};
use crate::engine::{self, EngineError, PushOptions, PushReport};
use crate::model::{ErrorCode, ListStatus, ListType};
use crate::service::{ListResource, PageQuery, Services};
use crate::spec::{self, CopySpec, ListSpec, Work};
use crate::store::ClaimedJob;

/// Copies the earlier list back; pushes it again from its entries if the registry lost it.
pub(super) async fn run(services: &Services, job: &ClaimedJob) -> Result<PushReport, Failure> {
    let (copy, options) = carried(services, job)?;
    let client = services.registry();
    match engine::run(&client, &job.work, &options).boxed().await {
        Err(e) if gone(&e) => {
            tracing::warn!(
                "{} is gone from its repository; pushing it again",
                copy.source
            );
            let earlier = earlier(services, &job.target, copy.source.digest()).await?;
            let (spec, options) = again(&earlier, copy.tags.clone(), &options)?;
            Ok(
                engine::release(&client, &spec, &earlier.entries, &options, Target)
                    .boxed()
                    .await?,
            )
        }
        other => Ok(other?),
    }
}

/// Makes the list of the digest the repair carries whole again under its tags.
pub(super) async fn repair(services: &Services, job: &ClaimedJob) -> Result<PushReport, Failure> {
    let (copy, options) = carried(services, job)?;
    let client = services.registry();
    let list = earlier(services, &job.target, copy.source.digest()).await?;
    let (spec, options) = again(&list, copy.tags.clone(), &options)?;
    Ok(
        engine::release(&client, &spec, &list.entries, &options, Sources)
            .boxed()
            .await?,
    )
}

/// The digest a rollback or a repair goes back to (its work, a copy of the target at that
/// digest), and its push options.
fn carried<'j>(
    services: &Services,
    job: &'j ClaimedJob,
) -> Result<(&'j CopySpec, PushOptions), Failure> {
    let Work::Copy(copy) = &job.work else {
        return Err(Failure::fatal(
            ErrorCode::InvalidSpec,
            format!("a {} carries the digest it goes back to", job.operation),
        ));
    };
    let options = PushOptions::new(job.options.clone(), services.settings.concurrency());
    Ok((copy, options))
}

/// Whether the registry no longer has the earlier list's bytes.
fn gone(e: &EngineError) -> bool {
    matches!(e.code(), ErrorCode::ManifestUnknown | ErrorCode::Http(404))
}

/// The list that landed with `digest` on `target` and recorded its entries.
async fn earlier(
    services: &Services,
    target: &str,
    digest: Option<&str>,
) -> Result<ListResource, Failure> {
    let page = services
        .lists(&PageQuery {
            status: Some(ListStatus::Succeeded),
            target: Some(target.to_owned()),
            limit: Some(200),
            cursor: None,
        })
        .await
        .map_err(|e| Failure::retryable(ErrorCode::StoreUnavailable, e.to_string()))?;
    page.items
        .into_iter()
        .find(|l| l.digest.as_ref().map(|d| d.as_str()) == digest && !l.entries.is_empty())
        .ok_or_else(|| {
            Failure::fatal(
                ErrorCode::ManifestUnknown,
                format!("the registry no longer has {target}@{digest:?}, and no list recorded its entries"),
            )
        })
}

/// The spec and options the earlier list is pushed again with: its target, these tags, its own
/// spec's annotations, its list type.
fn again(
    earlier: &ListResource,
    tags: Vec<String>,
    options: &PushOptions,
) -> Result<(ListSpec, PushOptions), Failure> {
    let invalid = |e: String| Failure::fatal(ErrorCode::InvalidSpec, e);
    let image =
        crate::model::Reference::parse(&earlier.target).map_err(|e| invalid(e.to_string()))?;
    let annotations = spec::parse::from_text(&earlier.spec.text)
        .map(|s| s.annotations)
        .unwrap_or_default();
    let mut options = options.clone();
    options.list.list_type = match earlier.media_type.as_deref() {
        Some(crate::registry::media::DOCKER_LIST) => ListType::Docker,
        _ => ListType::Oci,
    };
    options.list.format = earlier.format;
    let spec = ListSpec {
        image,
        tags,
        annotations,
        manifests: Vec::new(),
        more_targets: Vec::new(),
    };
    Ok((spec, options))
}

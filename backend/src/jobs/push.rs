//! The push job: run the engine on a stored submission's work (a list pushed or appended,
//! entries removed, a reference copied; a staged release's stage or list: `releases.rs`) and
//! record what it did.

use std::time::Instant;

use futures::FutureExt as _;

use super::outcome::Failure;
use crate::engine::{self, PushOptions, PushReport};
use crate::model::{ErrorCode, Operation, Reference};
use crate::service::Services;
use crate::spec::Work;
use crate::store::{ClaimedJob, PushOutcome};

/// Pushes the job's list and records the outcome; a list a newer one for its target overtook is
/// not pushed but recorded `superseded`.
pub(super) async fn run(services: &Services, job: &ClaimedJob) {
    if let Some(newer) = job.superseded_by {
        tracing::info!(newer = %newer, "not pushing: a newer list landed first");
        let max_attempts = services.settings.job_max_attempts();
        super::record(job, || services.store.supersede(job, newer, max_attempts)).await;
        services.metrics.push_skipped("superseded");
        return;
    }
    let started = Instant::now();
    let result = if job.attempt > job.max_attempts {
        Err(Failure::fatal(
            ErrorCode::GaveUp,
            format!(
                "gave up after {} attempts (the workers holding it stopped before finishing)",
                job.max_attempts
            ),
        ))
    } else {
        match job.operation {
            Operation::Stage => return super::releases::stage(services, job).await,
            Operation::Release => super::releases::release(services, job).await,
            Operation::Rollback => super::rollback::run(services, job).await,
            Operation::Repair => super::rollback::repair(services, job).await,
            _ => push(services, job).await,
        }
    };
    record(services, job, result, started).await;
}

async fn push(services: &Services, job: &ClaimedJob) -> Result<PushReport, Failure> {
    let client = services.registry();
    let options = PushOptions::new(job.options.clone(), services.settings.concurrency());
    let work = publish_work(job)?;
    Ok(engine::publish(&client, &work, &options).boxed().await?)
}

/// The work of a claimed list, with its publish's other destinations as further targets (their
/// order is the submission's).
fn publish_work(job: &ClaimedJob) -> Result<Work, Failure> {
    if job.members.is_empty() {
        return Ok(job.work.clone());
    }
    let more = job
        .members
        .iter()
        .map(|(id, target)| {
            Reference::parse(target).map_err(|e| {
                let message =
                    format!("the destination of list {id}, {target:?}, cannot be read: {e}");
                Failure::fatal(ErrorCode::UnreadableJob, message)
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(job.work.with_more_targets(more))
}

/// Records a push attempt's outcome: succeeded, retried after a backoff, or failed for good.
pub(super) async fn record(
    services: &Services,
    job: &ClaimedJob,
    result: Result<PushReport, Failure>,
    started: Instant,
) {
    let settings = &services.settings;
    let max_attempts = settings.job_max_attempts();
    match result {
        Ok(report) => {
            services.metrics.push("succeeded", started.elapsed());
            tracing::info!(digest = %report.digest, "pushed {}", report.target);
            let done = PushOutcome {
                digest: report.digest,
                media_type: report.media_type,
                size: report.size,
                entries: report.entries,
                sources: report.sources,
                destinations: report.destinations,
                watch_at: super::watcher::next_check(settings)
                    .map(|after| services.store.clock().now() + after),
            };
            super::record(job, || {
                services.store.complete_push(job, &done, max_attempts)
            })
            .await;
        }
        Err(f) => {
            let retry = f.may_pass() && job.attempt < job.max_attempts;
            let retry_at = retry.then(|| {
                services.store.clock().now() + settings.job_retry().delay(job.attempt.max(1) as u32)
            });
            let outcome = if retry { "retried" } else { "failed" };
            services.metrics.push(outcome, started.elapsed());
            tracing::warn!(retry, "push failed: {}", f.message());
            let code = f.code().to_string();
            super::record(job, || {
                let failed = (code.as_str(), f.message());
                services
                    .store
                    .fail_push(job, failed, f.destinations(), retry_at, max_attempts)
            })
            .await;
        }
    }
}

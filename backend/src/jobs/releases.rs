//! The staged releases' part of the queue's work: a stage job brings one submission's children
//! into the target repository and records them (the store queues the release's list once every
//! expected platform is there); a release job pushes what the release's stages brought; and a
//! sweep ends the releases whose deadline passed, once a second in every process (the store takes
//! each release once).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt as _;
use tokio::sync::watch;

use super::outcome::Failure;
use crate::engine::{self, PushOptions, PushReport};
use crate::model::ErrorCode;
use crate::service::Services;
use crate::spec::Work;
use crate::store::{ClaimedJob, DbError};

/// How often the deadlines are looked at.
const SWEEP: Duration = Duration::from_secs(1);

/// Stages the job's children and records them; a failure is recorded as any push's.
pub(super) async fn stage(services: &Services, job: &ClaimedJob) {
    let started = Instant::now();
    let Work::List(spec) = &job.work else {
        let failure = Failure::fatal(
            ErrorCode::InvalidSpec,
            "a stage carries a list spec".to_owned(),
        );
        return super::push::record(services, job, Err(failure), started).await;
    };
    let client = services.registry();
    let options = PushOptions::new(job.options.clone(), services.settings.concurrency());
    match engine::stage(&client, spec, &options).boxed().await {
        Ok(report) => {
            services.metrics.push("staged", started.elapsed());
            tracing::info!(
                "staged {} platform(s) for {}",
                report.platforms.len(),
                report.target
            );
            let max_attempts = services.settings.job_max_attempts();
            super::record(job, || {
                services
                    .store
                    .complete_stage(job, &report.entries, &report.sources, max_attempts)
            })
            .await;
        }
        Err(e) => super::push::record(services, job, Err(e.into()), started).await,
    }
}

/// Pushes a release's list: the entries its stages brought, composed as the release expects.
pub(super) async fn release(services: &Services, job: &ClaimedJob) -> Result<PushReport, Failure> {
    let (Work::List(spec), Some(id)) = (&job.work, job.release_id) else {
        return Err(Failure::fatal(
            ErrorCode::InvalidSpec,
            "a release's list carries a list spec and its release".to_owned(),
        ));
    };
    let release = services
        .store
        .get_release(id)
        .await
        .map_err(|e| Failure::retryable(ErrorCode::StoreUnavailable, e.to_string()))?
        .ok_or_else(|| Failure::fatal(ErrorCode::NotFound, format!("release {id} is gone")))?;
    let composed = release.composed();
    if composed.entries.is_empty() {
        return Err(Failure::fatal(
            ErrorCode::ReleaseIncomplete,
            format!("release {} has no platform to push", release.key),
        ));
    }
    let client = services.registry();
    let options = PushOptions::new(job.options.clone(), services.settings.concurrency());
    Ok(engine::release(
        &client,
        spec,
        &composed.entries,
        &options,
        engine::ChildrenFrom::Target,
    )
    .boxed()
    .await?)
}

/// Ends the releases whose deadline passed, here and now; how many. For tests and tools.
pub async fn expire(services: &Services) -> Result<usize, DbError> {
    let max_attempts = services.settings.job_max_attempts();
    services.store.expire_releases(max_attempts).await
}

/// Ends releases at their deadline until stopped.
pub(super) async fn sweep(services: Arc<Services>, mut stopped: watch::Receiver<bool>) {
    loop {
        if let Err(e) = expire(&services).await {
            tracing::warn!("could not end the releases past their deadline: {e}");
        }
        tokio::select! {
            _ = stopped.changed() => return,
            _ = tokio::time::sleep(SWEEP) => {}
        }
    }
}

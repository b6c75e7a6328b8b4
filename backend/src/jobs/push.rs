//! The push job: run the engine on a stored spec and record what it did.

use std::time::Instant;

use chrono::Utc;
use futures::FutureExt as _;

use super::Context;
use crate::db::{ClaimedJob, EntryRecord};
use crate::engine::{self, EngineError, PushOptions, PushReport};

pub(super) async fn run(context: &Context, job: &ClaimedJob) {
    let config = &context.config;
    let started = Instant::now();
    let result = if job.attempt > job.max_attempts {
        Err(Failure::permanent(
            "GAVE_UP",
            format!(
                "gave up after {} attempts (the workers holding it stopped before finishing)",
                job.max_attempts
            ),
        ))
    } else {
        push(context, job).await
    };
    let max_attempts = config.job_max_attempts;
    let recorded = match result {
        Ok(report) => {
            context.metrics.push("succeeded", started.elapsed());
            tracing::info!(list = %job.list_id, digest = %report.digest, "pushed {}", report.target);
            context
                .store
                .complete_push(job, &outcome(&report), max_attempts)
                .await
        }
        Err(f) => {
            let retry = f.retryable && job.attempt < job.max_attempts;
            let retry_at = retry.then(|| Utc::now() + config.job_retry().delay(job.attempt as u32));
            context
                .metrics
                .push(if retry { "retried" } else { "failed" }, started.elapsed());
            tracing::warn!(list = %job.list_id, attempt = job.attempt, retry, "push failed: {}", f.message);
            context
                .store
                .fail_push(job, &f.code, &f.message, retry_at, max_attempts)
                .await
        }
    };
    match recorded {
        Ok(true) => {}
        Ok(false) => tracing::warn!(
            "job {} was taken over; its result was not recorded",
            job.job_id
        ),
        Err(e) => tracing::error!("cannot record the outcome of job {}: {e}", job.job_id),
    }
}

async fn push(context: &Context, job: &ClaimedJob) -> Result<PushReport, Failure> {
    let client = context.registries.client();
    let options = PushOptions {
        output: job.output,
        ignore_missing: job.ignore_missing,
        concurrency: 8,
    };
    engine::push(&client, &job.spec, &options)
        .boxed()
        .await
        .map_err(Failure::from)
}

fn outcome(report: &PushReport) -> crate::db::PushOutcome {
    crate::db::PushOutcome {
        digest: report.digest.to_string(),
        media_type: report.media_type.clone(),
        size: report.size as i64,
        entries: report
            .entries
            .iter()
            .map(|e| EntryRecord {
                image: e.image.clone(),
                digest: e.digest.to_string(),
                media_type: e.media_type.clone(),
                size: e.size as i64,
                platform: e.platform.clone(),
                annotations: e.annotations.clone(),
                attestation: e.attestation,
            })
            .collect(),
    }
}

struct Failure {
    code: String,
    message: String,
    retryable: bool,
}

impl Failure {
    fn permanent(code: &str, message: String) -> Self {
        Self {
            code: code.to_owned(),
            message,
            retryable: false,
        }
    }
}

impl From<EngineError> for Failure {
    fn from(e: EngineError) -> Self {
        Self {
            code: e.code().to_string(),
            message: crate::registry::error_chain(&e),
            retryable: e.is_retryable(),
        }
    }
}

//! One worker: claim, run, record; sleep when there is nothing due. A job runs while its lease is
//! renewed; one taken over by another worker is abandoned; one that panics is recorded as failed
//! (`INTERNAL`) and the worker goes on with the next.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt as _;
use tokio::sync::{Notify, watch};
use tracing::Instrument as _;

use super::outcome::Failure;
use super::{callback, push};
use crate::model::ErrorCode;
use crate::service::Services;
use crate::store::{ClaimedJob, JobKind};

/// Longest an idle worker sleeps without looking at the queue.
pub(super) const POLL: Duration = Duration::from_secs(2);

/// Claims and runs jobs until asked to stop.
pub(super) async fn work(
    services: Arc<Services>,
    name: String,
    wake: Arc<Notify>,
    mut stopped: watch::Receiver<bool>,
) {
    while !*stopped.borrow() {
        let notified = wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let lease = services.settings.job_lease();
        match services.store.claim(&name, lease).boxed().await {
            Ok(Some(job)) => {
                let span = job_span(&job, &name);
                span.in_scope(|| tracing::info!("claimed a {} job", job.kind.as_str()));
                run(&services, job).instrument(span).boxed().await;
            }
            Ok(None) => {
                let sleep = match services.store.next_due().boxed().await {
                    Ok(Some(at)) => (at - services.store.clock().now())
                        .to_std()
                        .unwrap_or_default()
                        .min(POLL),
                    _ => POLL,
                };
                tokio::select! {
                    _ = notified => {}
                    _ = tokio::time::sleep(sleep.max(Duration::from_millis(20))) => {}
                    _ = stopped.changed() => {}
                }
            }
            Err(e) => {
                tracing::warn!(worker = %name, "cannot claim a job: {e}");
                tokio::select! {
                    _ = tokio::time::sleep(POLL) => {}
                    _ = stopped.changed() => {}
                }
            }
        }
    }
}

/// The span every line of a job's run is logged in: its list, job, attempt, target and worker.
pub(super) fn job_span(job: &ClaimedJob, worker: &str) -> tracing::Span {
    tracing::info_span!(
        "job",
        kind = %job.kind.as_str(),
        list_id = %job.list_id,
        job_id = job.job_id,
        attempt = job.attempt,
        target = %job.target,
        worker = %worker,
    )
}

/// Runs a claimed job while renewing its lease; a job taken over by another worker is abandoned,
/// a job that panics is recorded as failed.
pub(super) async fn run(services: &Services, job: ClaimedJob) {
    let lease = services.settings.job_lease();
    let heartbeat = async {
        loop {
            tokio::time::sleep(lease / 3).await;
            match services.store.extend_lease(&job, lease).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => tracing::warn!("cannot renew the job's lease: {e}"),
            }
        }
    };
    let started = Instant::now();
    let work = guarded(async {
        match job.kind {
            JobKind::Push => push::run(services, &job).await,
            JobKind::Callback => callback::run(services, &job).await,
        }
    });
    tokio::select! {
        done = work => if let Err(panic) = done {
            tracing::error!("the job panicked: {panic}");
            let failure = Failure::fatal(
                ErrorCode::Internal,
                "the job failed unexpectedly; the error is in the service's log",
            );
            match job.kind {
                JobKind::Push => push::record(services, &job, Err(failure), started).await,
                JobKind::Callback => callback::record(services, &job, Err(failure)).await,
            }
        },
        () = heartbeat => tracing::warn!("the job was taken over by another worker; abandoning it"),
    }
}

/// Runs `work`, turning a panic inside it into an error carrying the panic's message.
pub(super) async fn guarded<T>(work: impl Future<Output = T>) -> Result<T, String> {
    AssertUnwindSafe(work)
        .catch_unwind()
        .await
        .map_err(panic_text)
}

fn panic_text(panic: Box<dyn Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_inside_a_job_becomes_an_error_with_its_message() {
        let fine = guarded(async { 7 }).await;
        let boom = guarded(async {
            if fine.is_ok() {
                panic!("the registry answered in Klingon");
            }
        })
        .await;
        let formatted = guarded(async { panic!("attempt {}", 3) }).await;

        assert_eq!(fine, Ok(7));
        assert_eq!(boom, Err("the registry answered in Klingon".to_owned()));
        assert_eq!(formatted, Err::<(), _>("attempt 3".to_owned()));
    }
}

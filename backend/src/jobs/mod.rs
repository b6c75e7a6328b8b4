//! The queue's workers: claim a due job (under a lease), run it while renewing the lease, record
//! the outcome fenced by the attempt number, and retry failures that may pass with the settings'
//! backoff. Idle workers sleep until the listener wakes them or the next job is due, polling as a
//! fallback. A job that panics is recorded as failed, and its worker goes on. Beside them, the
//! watch re-checks pushed lists against their registries, and a sweep ends staged releases at
//! their deadline.
//!
//! Jobs call the engine and the store through [`Services`]; nothing here is reached by HTTP.

mod callback;
mod listener;
mod outcome;
mod push;
mod releases;
mod rollback;
mod watcher;
mod worker;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tracing::Instrument as _;

pub use callback::{SIGNATURE_HEADER, sign};
pub use releases::expire as expire_releases;

use crate::service::Services;
use crate::store::{ClaimedJob, DbError, JobKind};

/// The running workers; dropping this does not stop them, [`Workers::stop`] does.
pub struct Workers {
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Workers {
    /// Starts `n` workers and the listener that wakes them.
    pub fn start(services: Arc<Services>, n: usize) -> Self {
        let (stop, stopped) = watch::channel(false);
        let wake = Arc::new(Notify::new());
        let mut tasks = JoinSet::new();
        tasks.spawn(listener::listen(
            services.clone(),
            wake.clone(),
            stopped.clone(),
        ));
        tasks.spawn(watcher::run(services.clone(), stopped.clone()));
        tasks.spawn(releases::sweep(services.clone(), stopped.clone()));
        let process = format!(
            "{}-{}",
            std::process::id(),
            &uuid::Uuid::new_v4().to_string()[..8]
        );
        for i in 0..n {
            let name = format!("{process}/{i}");
            tasks.spawn(worker::work(
                services.clone(),
                name,
                wake.clone(),
                stopped.clone(),
            ));
        }
        Self { stop, tasks }
    }

    /// Asks the workers to stop after their current job and waits for them.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

/// Claims the next due job and runs it to its end, here and now; what kind it was, or `None`
/// when nothing is due. For tests and tools that drain the queue without workers.
pub async fn run_next(services: &Services, worker: &str) -> Result<Option<JobKind>, DbError> {
    let Some(job) = services
        .store
        .claim(worker, services.settings.job_lease())
        .await?
    else {
        return Ok(None);
    };
    let kind = job.kind;
    let span = worker::job_span(&job, worker);
    worker::run(services, job).instrument(span).await;
    Ok(Some(kind))
}

/// Checks the watched lists due for a check, here and now; how many it checked. For tests and
/// tools that watch without workers.
pub async fn check_due(services: &Services) -> Result<usize, DbError> {
    watcher::round(services).await
}

/// Records a job's outcome until it lands. A store that cannot take it now (full, unreachable,
/// busy) is asked again after a growing pause, for as long as it takes: the job's lease is
/// renewed meanwhile, and if another worker takes the job over, the fence refuses this record
/// (the other's run counts). Any other failure is tried a few times, then left to the lease:
/// once it runs out the job is taken again, never lost.
async fn record<F, Fut>(_job: &ClaimedJob, mut write: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool, DbError>>,
{
    let mut pause = RECORD_PAUSE;
    let mut faults = 0;
    loop {
        match write().await {
            Ok(true) => return,
            Ok(false) => {
                return tracing::warn!("the job was taken over; its result was not recorded");
            }
            Err(e) if e.unavailable().is_none() && faults + 1 >= RECORD_FAULTS => {
                return tracing::error!(
                    "cannot record the job's outcome: {e}; it runs again once its lease ends"
                );
            }
            Err(e) => {
                faults += u32::from(e.unavailable().is_none());
                tracing::warn!(
                    "cannot record the job's outcome yet, trying again in {} ms: {e}",
                    pause.as_millis()
                );
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(RECORD_PAUSE_MAX);
            }
        }
    }
}

/// The first pause before an outcome is recorded again, and the longest.
const RECORD_PAUSE: Duration = Duration::from_millis(100);
const RECORD_PAUSE_MAX: Duration = Duration::from_secs(5);

/// How many times an outcome that fails for a reason other than the store's availability is
/// tried.
const RECORD_FAULTS: u32 = 3;

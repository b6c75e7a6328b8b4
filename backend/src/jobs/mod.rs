//! The push queue's workers: claim a due job (`for update skip locked`, under a lease), run it
//! while renewing the lease, record the outcome fenced by the attempt number, and retry failures
//! that may pass with capped exponential backoff. Idle workers sleep until `LISTEN/NOTIFY` wakes
//! them or the next job is due, polling as a fallback.

mod callback;
mod push;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::FutureExt as _;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use crate::config::Config;
use crate::db::{ClaimedJob, JobKind, Store};
use crate::metrics::Metrics;

/// Longest an idle worker sleeps without looking at the queue.
const POLL: Duration = Duration::from_secs(2);

/// What every worker shares.
pub struct Context {
    /// The store.
    pub store: Store,
    /// The service's configuration.
    pub config: Arc<Config>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Client for callbacks.
    pub http: reqwest::Client,
    /// Registry clients, one per push, on one shared HTTP client.
    pub registries: crate::registry::ClientFactory,
}

/// The running workers; dropping this does not stop them, [`Workers::stop`] does.
pub struct Workers {
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Workers {
    /// Starts `n` workers and the listener that wakes them.
    pub fn start(context: Arc<Context>, n: usize) -> Self {
        let (stop, stopped) = watch::channel(false);
        let wake = Arc::new(Notify::new());
        let mut tasks = JoinSet::new();
        tasks.spawn(listen(context.clone(), wake.clone(), stopped.clone()));
        let process = format!(
            "{}-{}",
            std::process::id(),
            &uuid::Uuid::new_v4().to_string()[..8]
        );
        for i in 0..n {
            let name = format!("{process}/{i}");
            tasks.spawn(work(context.clone(), name, wake.clone(), stopped.clone()));
        }
        Self { stop, tasks }
    }

    /// Asks the workers to stop after their current job and waits for them.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

/// Wakes idle workers on every notification; reconnects after errors.
async fn listen(context: Arc<Context>, wake: Arc<Notify>, mut stopped: watch::Receiver<bool>) {
    loop {
        let mut signals = match context.store.signals().await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!("cannot listen for queued jobs (polling instead): {e}");
                tokio::select! {
                    _ = tokio::time::sleep(POLL * 5) => continue,
                    _ = stopped.changed() => return,
                }
            }
        };
        loop {
            tokio::select! {
                got = signals.recv() => match got {
                    Ok(_) => wake.notify_waiters(),
                    Err(e) => {
                        tracing::warn!("lost the job notifications, reconnecting: {e}");
                        break;
                    }
                },
                _ = stopped.changed() => return,
            }
        }
    }
}

/// One worker: claim, run, record; sleep when there is nothing due.
async fn work(
    context: Arc<Context>,
    name: String,
    wake: Arc<Notify>,
    mut stopped: watch::Receiver<bool>,
) {
    while !*stopped.borrow() {
        let notified = wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let claimed = context
            .store
            .claim(&name, context.config.job_lease)
            .boxed()
            .await;
        match claimed {
            Ok(Some(job)) => {
                tracing::info!(worker = %name, list = %job.list_id, attempt = job.attempt, "claimed a {} job", job.kind.as_str());
                run(&context, job).boxed().await;
            }
            Ok(None) => {
                let sleep = match context.store.next_due().boxed().await {
                    Ok(Some(at)) => (at - Utc::now()).to_std().unwrap_or_default().min(POLL),
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

/// Runs a claimed job while renewing its lease; a job taken over by another worker is abandoned.
async fn run(context: &Context, job: ClaimedJob) {
    let lease = context.config.job_lease;
    let heartbeat = async {
        loop {
            tokio::time::sleep(lease / 3).await;
            match context.store.extend_lease(&job, lease).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => tracing::warn!("cannot renew the lease of job {}: {e}", job.job_id),
            }
        }
    };
    let work = async {
        match job.kind {
            JobKind::Push => push::run(context, &job).await,
            JobKind::Callback => callback::run(context, &job).await,
        }
    };
    tokio::select! {
        () = work => {}
        () = heartbeat => tracing::warn!("job {} was taken over by another worker; abandoning it", job.job_id),
    }
}

//! How long the client waits, apart from the connect timeout reqwest keeps: the wait for an
//! answer (bounded per registry by [`Silence`], retries included), idle timeouts on streamed
//! transfers ([`Progress`], [`idle_stream`]) instead of a timeout on the whole transfer.
//!
//! Owns the clocks and the watchdog; it sends nothing and knows no registry but as a name in a
//! message. `request` and `ops` use it; it imports only `error`.

use std::future::Future;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{Stream, StreamExt as _};

use super::error::RegistryError;

/// The timeouts of a client, as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// To establish a connection (TCP and TLS).
    pub connect: Duration,
    /// A request without a streamed body, whole (manifests, tokens, mounts).
    pub request: Duration,
    /// The longest wait for the next bytes of a streamed transfer, either way.
    pub idle: Duration,
    /// The longest a registry may go without answering anything, retries included: a host that
    /// accepts connections and never answers fails after this.
    pub answer: Duration,
}

impl Default for Timeouts {
    /// Connect 10 s, request 60 s, idle 30 s, answer 20 s.
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            request: Duration::from_secs(60),
            idle: Duration::from_secs(30),
            answer: Duration::from_secs(20),
        }
    }
}

/// Since when a registry has left requests unanswered (none: it answers).
#[derive(Debug, Default)]
pub(crate) struct Silence {
    since: Mutex<Option<Instant>>,
}

impl Silence {
    /// How long the next request may wait for an answer: the whole `budget`, or what is left of
    /// it while the registry is silent; `None` once it is spent.
    pub(crate) fn wait(&self, budget: Duration) -> Option<Duration> {
        match *self.since.lock().expect("lock") {
            None => Some(budget),
            Some(since) => budget
                .checked_sub(since.elapsed())
                .filter(|left| !left.is_zero()),
        }
    }

    /// A request sent at `sent` got no answer: the silence runs from the first such request.
    pub(crate) fn unanswered(&self, sent: Instant) {
        let mut since = self.since.lock().expect("lock");
        if since.is_none_or(|s| sent < s) {
            *since = Some(sent);
        }
    }

    /// The registry answered: it is not silent.
    pub(crate) fn answered(&self) {
        *self.since.lock().expect("lock") = None;
    }
}

/// The permanent error of a registry that accepts connections and answers nothing.
pub(crate) fn silent_error(operation: &str, registry: &str, budget: Duration) -> RegistryError {
    RegistryError::Transport {
        operation: operation.to_owned(),
        message: format!(
            "{registry} does not answer: no answer to any request for {} s (it may accept \
             connections, but sends nothing back); check that it is up, or allow it longer with \
             --answer-timeout (MANIFOLD_ANSWER_TIMEOUT)",
            budget.as_secs_f64()
        ),
        timeout: true,
        permanent: true,
    }
}

/// When bytes of a streamed transfer last moved; a clone shares the clock.
#[derive(Debug, Clone)]
pub(crate) struct Progress {
    start: Instant,
    last_ms: Arc<AtomicU64>,
}

impl Default for Progress {
    fn default() -> Self {
        Self {
            start: Instant::now(),
            last_ms: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl Progress {
    /// Bytes moved now.
    pub(crate) fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// When bytes last moved (the start, if never).
    fn last(&self) -> Instant {
        self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }

    /// Runs `work` until it ends, or until nothing has moved for `idle` (counted from now at
    /// the earliest).
    pub(crate) async fn watch<F: Future>(&self, idle: Duration, work: F) -> Option<F::Output> {
        tokio::pin!(work);
        let begun = Instant::now();
        loop {
            let deadline = self.last().max(begun) + idle;
            tokio::select! {
                out = &mut work => return Some(out),
                () = tokio::time::sleep_until(deadline.into()) => {
                    if self.last().max(begun) + idle <= Instant::now() {
                        return None;
                    }
                }
            }
        }
    }
}

/// `stream` with every item counted as progress, ending in an error when no item comes for
/// `idle` (a source that stops sending).
pub(crate) fn idle_stream<E>(
    stream: impl Stream<Item = Result<Bytes, E>> + Send + 'static,
    idle: Duration,
    progress: Progress,
    stalled: impl Fn() -> E + Send + 'static,
) -> impl Stream<Item = Result<Bytes, E>> + Send + 'static
where
    E: Send + 'static,
{
    let state = Some((Box::pin(stream), progress, stalled));
    futures::stream::unfold(state, move |state| async move {
        let (mut stream, progress, stalled) = state?;
        match tokio::time::timeout(idle, stream.next()).await {
            Ok(Some(item)) => {
                progress.touch();
                Some((item, Some((stream, progress, stalled))))
            }
            Ok(None) => None,
            Err(_) => Some((Err(stalled()), None)),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silent_registry_has_what_is_left_of_its_budget_and_an_answer_resets_it() {
        let silence = Silence::default();
        let budget = Duration::from_secs(20);
        assert_eq!(silence.wait(budget), Some(budget));
        silence.unanswered(Instant::now() - Duration::from_secs(15));
        let left = silence.wait(budget).unwrap();
        assert!(left <= Duration::from_secs(5), "{left:?}");
        silence.unanswered(Instant::now() - Duration::from_secs(25));
        assert_eq!(silence.wait(budget), None, "the earliest silence counts");
        silence.answered();
        assert_eq!(silence.wait(budget), Some(budget));
    }

    #[tokio::test]
    async fn the_watchdog_stops_work_that_makes_no_progress_and_not_work_that_does() {
        let progress = Progress::default();
        let idle = Duration::from_millis(100);
        let stuck = progress.watch(idle, std::future::pending::<()>()).await;
        assert!(stuck.is_none());
        let moving = progress.clone();
        let work = async move {
            for _ in 0..6 {
                tokio::time::sleep(Duration::from_millis(40)).await;
                moving.touch();
            }
            7
        };
        assert_eq!(progress.watch(idle, work).await, Some(7));
    }

    #[tokio::test]
    async fn a_stream_that_stops_sending_ends_in_the_stalled_error() {
        let items = futures::stream::iter([Ok::<_, String>(Bytes::from_static(b"a"))])
            .chain(futures::stream::pending());
        let stream = idle_stream(
            items,
            Duration::from_millis(50),
            Progress::default(),
            || "stalled".to_owned(),
        );
        let got: Vec<_> = stream.collect().await;
        assert_eq!(
            got,
            vec![Ok(Bytes::from_static(b"a")), Err("stalled".into())]
        );
    }
}

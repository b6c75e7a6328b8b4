//! How long the client waits, apart from the connect timeout reqwest keeps: the wait for an
//! answer (bounded per registry by [`Silence`], retries included), idle timeouts on streamed
//! transfers ([`Progress`], [`idle_stream`]) instead of a timeout on the whole transfer, and the
//! longer wait for the answer to a request that commits what it sent (a blob upload's last
//! request, a manifest PUT), which slow storage may take minutes over ([`Timeouts::commit`]),
//! logged while it lasts ([`reporting`]).
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
    /// The longest wait for the answer to a request that commits what it sent, once its body is
    /// sent: a blob upload's requests (distribution on S3 moves the blob into place while the
    /// last one waits) and a manifest PUT.
    pub commit: Duration,
}

impl Default for Timeouts {
    /// Connect 10 s, request 60 s, idle 30 s, answer 20 s, commit 600 s.
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            request: Duration::from_secs(60),
            idle: Duration::from_secs(30),
            answer: Duration::from_secs(20),
            commit: Duration::from_secs(600),
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

/// When bytes of a streamed transfer last moved, and whether all of them were handed over; a
/// clone shares the clock.
#[derive(Debug, Clone)]
pub(crate) struct Progress {
    start: Instant,
    last_ms: Arc<AtomicU64>,
    /// Milliseconds after `start` at which the last byte was handed over, plus one (0: not yet).
    sent_ms: Arc<AtomicU64>,
}

impl Default for Progress {
    fn default() -> Self {
        Self {
            start: Instant::now(),
            last_ms: Arc::new(AtomicU64::new(0)),
            sent_ms: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl Progress {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX - 1)
    }

    /// Bytes moved now.
    pub(crate) fn touch(&self) {
        self.last_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    /// The last byte of the body was handed over now: from here on the request waits for its
    /// answer, not for its body.
    pub(crate) fn sent_all(&self) {
        self.touch();
        self.sent_ms.store(self.now_ms() + 1, Ordering::Relaxed);
    }

    /// When bytes last moved (the start, if never).
    fn last(&self) -> Instant {
        self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }

    /// When the whole body was handed over, if it was.
    fn sent(&self) -> Option<Instant> {
        match self.sent_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(self.start + Duration::from_millis(ms - 1)),
        }
    }

    /// Whether the whole body was handed over.
    pub(crate) fn is_sent(&self) -> bool {
        self.sent().is_some()
    }

    /// When the wait runs out: `idle` after bytes last moved (counted from `begun` at the
    /// earliest), or, once the body is sent, `answer` after that.
    fn deadline(&self, begun: Instant, idle: Duration, answer: Duration) -> Instant {
        match self.sent() {
            Some(sent) => sent.max(begun) + answer,
            None => self.last().max(begun) + idle,
        }
    }

    /// Runs `work` until it ends, or until nothing has moved for `idle` while its body is sent,
    /// or no answer came `answer` after the body was (both counted from now at the earliest).
    pub(crate) async fn watch<F: Future>(
        &self,
        idle: Duration,
        answer: Duration,
        work: F,
    ) -> Option<F::Output> {
        tokio::pin!(work);
        let begun = Instant::now();
        loop {
            let deadline = self.deadline(begun, idle, answer);
            tokio::select! {
                out = &mut work => return Some(out),
                () = tokio::time::sleep_until(deadline.into()) => {
                    if self.deadline(begun, idle, answer) <= Instant::now() {
                        return None;
                    }
                }
            }
        }
    }
}

/// How often a long wait for an answer is logged.
const REPORT_EVERY: Duration = Duration::from_secs(15);

/// Runs `work`, logging every [`REPORT_EVERY`] that `operation` still waits (a slow commit is
/// visible while it lasts, not only when it ends).
pub(crate) async fn reporting<F: Future>(operation: &str, work: F) -> F::Output {
    tokio::pin!(work);
    let started = Instant::now();
    let mut ticks = tokio::time::interval_at((started + REPORT_EVERY).into(), REPORT_EVERY);
    loop {
        tokio::select! {
            out = &mut work => return out,
            _ = ticks.tick() => tracing::info!(
                "still waiting for the answer to {operation} after {} s",
                started.elapsed().as_secs()
            ),
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
        let stuck = progress
            .watch(idle, idle, std::future::pending::<()>())
            .await;
        assert!(stuck.is_none());
        let moving = progress.clone();
        let work = async move {
            for _ in 0..6 {
                tokio::time::sleep(Duration::from_millis(40)).await;
                moving.touch();
            }
            7
        };
        assert_eq!(progress.watch(idle, idle, work).await, Some(7));
    }

    #[tokio::test]
    async fn once_the_body_is_sent_the_answer_may_take_its_own_budget() {
        let (idle, answer) = (Duration::from_millis(50), Duration::from_millis(400));
        let progress = Progress::default();
        progress.sent_all();
        let slow_answer = async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            "committed"
        };
        assert_eq!(
            progress.watch(idle, answer, slow_answer).await,
            Some("committed"),
            "four idle timeouts long, within the answer's budget"
        );
        let never = progress.watch(idle, answer, std::future::pending::<()>());
        let started = Instant::now();
        assert!(never.await.is_none());
        assert!(started.elapsed() >= answer);
        assert!(progress.is_sent());
        assert!(!Progress::default().is_sent());
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

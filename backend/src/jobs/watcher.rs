//! The watch: every pushed list that landed last on its target is checked against its registry
//! once an interval (`MANIFOLD_WATCH_INTERVAL_SECS`, each list's next check jittered ±10 % so lists
//! pushed together drift apart), each process taking its own due lists. What a check finds is
//! recorded on the list; the store queues the callback of a list that became drifted and the
//! follow-up of a followed list whose source moved.
//!
//! To keep up with many lists, one process's watch keeps [`AT_ONCE`] checks in flight, taking due
//! lists (read whole, in one transaction) a batch ahead of them; it checks through one registry
//! client for its whole life, so connections and tokens serve check after check until they
//! expire; and it records in-sync findings, nearly all of them, [`RECORD_AT`] to a write. How far
//! behind it is, `/metrics` says (`manifold_watch_due`, `manifold_watch_lag_seconds`).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::config::Settings;
use crate::engine::{self, Pushed};
use crate::model::DriftStatus;
use crate::model::Reference;
use crate::registry::RegistryClient;
use crate::service::Services;
use crate::store::{DbError, DriftFound, ListRecord};

/// Lists one process takes at a time.
const BATCH: i64 = 32;

/// Lists one process checks at once.
const AT_ONCE: usize = 32;

/// In-sync findings recorded by one write.
const RECORD_AT: usize = 32;

/// When a list pushed (or checked) now is checked next: the interval, give or take 10 %; `None`
/// when the watch is off.
pub(super) fn next_check(settings: &Settings) -> Option<Duration> {
    settings
        .watch_interval()
        .map(|interval| interval.mul_f64(0.9 + 0.2 * rand::random::<f64>()))
}

/// Checks due lists until asked to stop; returns at once when the watch is off.
pub(super) async fn run(services: Arc<Services>, mut stopped: watch::Receiver<bool>) {
    let Some(interval) = services.settings.watch_interval() else {
        return;
    };
    let idle = (interval / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
    let mut watch = Watch::new(&services);
    let mut checks = FuturesUnordered::new();
    let mut rest_until = Instant::now();
    while !*stopped.borrow() {
        // One batch ahead: taken when fewer than half a batch wait, so one take per batch checked.
        if watch.waiting.len() < AT_ONCE / 2
            && Instant::now() >= rest_until
            && !watch.take(BATCH).await
        {
            rest_until = Instant::now() + idle;
        }
        while checks.len() < AT_ONCE
            && let Some(list) = watch.waiting.pop_front()
        {
            checks.push(check(watch.client.clone(), list));
        }
        if watch.waiting.len() < AT_ONCE / 2 && Instant::now() >= rest_until {
            continue; // the next batch now, not after the first check ends
        }
        if checks.is_empty() {
            watch.record_in_sync().await;
            tokio::select! {
                _ = tokio::time::sleep_until(rest_until) => {}
                _ = services.watch_wake.notified() => rest_until = Instant::now(),
                _ = stopped.changed() => {}
            }
            continue;
        }
        tokio::select! {
            Some((list, found)) = checks.next() => watch.found(&list, found).await,
            _ = stopped.changed() => {}
        }
    }
    watch.record_in_sync().await;
}

/// Takes the lists due for a check and checks them, here and now; how many it took.
pub(super) async fn round(services: &Services) -> Result<usize, DbError> {
    let mut watch = Watch::new(services);
    let Some(next_in) = next_check(&services.settings) else {
        return Ok(0);
    };
    watch
        .waiting
        .extend(services.store.take_due_checks(BATCH, next_in).await?);
    let taken = watch.waiting.len();
    let checks: FuturesUnordered<_> = watch
        .waiting
        .drain(..)
        .map(|list| check(watch.client.clone(), list))
        .collect();
    let found: Vec<_> = checks.collect().await;
    for (list, found) in found {
        watch.found(&list, found).await;
    }
    watch.record_in_sync().await;
    Ok(taken)
}

/// One process's watch: its client, the lists taken and not yet checked, the in-sync findings
/// not yet recorded.
struct Watch<'a> {
    services: &'a Services,
    client: Arc<RegistryClient>,
    /// The client's requests already counted in the metrics.
    counted: u64,
    waiting: VecDeque<ListRecord>,
    in_sync: Vec<uuid::Uuid>,
}

impl<'a> Watch<'a> {
    fn new(services: &'a Services) -> Self {
        Self {
            services,
            client: Arc::new(services.registry()),
            counted: 0,
            waiting: VecDeque::new(),
            in_sync: Vec::new(),
        }
    }

    /// Takes up to `batch` due lists; whether it found as many (more may be due).
    async fn take(&mut self, batch: i64) -> bool {
        let Some(next_in) = next_check(&self.services.settings) else {
            return false;
        };
        match self.services.store.take_due_checks(batch, next_in).await {
            Ok(due) => {
                let full = due.len() as i64 == batch;
                self.waiting.extend(due);
                full
            }
            Err(e) => {
                tracing::warn!("cannot take the lists due for a check: {e}");
                false
            }
        }
    }

    /// Counts a check and its requests; keeps an in-sync finding to record with others, records
    /// any other at once.
    async fn found(&mut self, list: &ListRecord, found: DriftFound) {
        let sent = self.client.requests();
        let metrics = &self.services.metrics;
        metrics.drift_check(found.status.as_str(), sent.saturating_sub(self.counted));
        self.counted = sent;
        if found.status == DriftStatus::InSync {
            self.in_sync.push(list.id);
            if self.in_sync.len() >= RECORD_AT {
                self.record_in_sync().await;
            }
            return;
        }
        let max_attempts = self.services.settings.job_max_attempts();
        let id = list.id;
        match self
            .services
            .store
            .record_drift(id, &found, max_attempts)
            .await
        {
            Ok(done) => {
                if done.became_drifted {
                    tracing::warn!(list = %id, reasons = ?found.reasons, "{} drifted", list.target);
                }
                if let Some(next) = done.repair {
                    tracing::info!(list = %id, repair = %next, reasons = ?found.reasons, "{} is no longer whole; repairing it", list.target);
                }
                if let Some(next) = done.follow_up {
                    tracing::info!(list = %id, follow_up = %next, "a source of {} moved; re-pushing it", list.target);
                }
            }
            Err(e) => tracing::warn!(list = %id, "cannot record a check: {e}"),
        }
    }

    /// Records the in-sync findings kept so far. One that cannot be recorded is dropped: the
    /// list's next check is already set, and finds it again.
    async fn record_in_sync(&mut self) {
        if self.in_sync.is_empty() {
            return;
        }
        let ids = std::mem::take(&mut self.in_sync);
        if let Err(e) = self.services.store.record_in_sync(&ids).await {
            tracing::warn!(
                "cannot record {} checks that found their lists in sync: {e}",
                ids.len()
            );
        }
    }
}

/// Checks one list; what it found.
async fn check(client: Arc<RegistryClient>, list: ListRecord) -> (ListRecord, DriftFound) {
    let unknown = |error: String| DriftFound {
        status: DriftStatus::Unknown,
        reasons: Vec::new(),
        error: Some(error),
    };
    let found = match (&list.digest, Reference::parse(&list.target)) {
        (Some(digest), Ok(target)) => {
            let pushed = Pushed {
                target: &target,
                tags: &list.tags,
                digest,
                entries: &list.entries,
                sources: &list.sources,
            };
            match engine::check_drift(&client, pushed).await {
                Ok(reasons) if reasons.is_empty() => DriftFound {
                    status: DriftStatus::InSync,
                    reasons,
                    error: None,
                },
                Ok(reasons) => DriftFound {
                    status: DriftStatus::Drifted,
                    reasons,
                    error: None,
                },
                Err(e) => unknown(e.to_string()),
            }
        }
        (None, _) => unknown("the list has no digest to check".to_owned()),
        (_, Err(e)) => unknown(format!("its target cannot be read: {e}")),
    };
    (list, found)
}

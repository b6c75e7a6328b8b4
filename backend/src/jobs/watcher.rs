//! The watch: every pushed list that landed last on its target is checked against its registry
//! once an interval (`MANIFOLD_WATCH_INTERVAL_SECS`, each list's next check jittered ±10 % so lists
//! pushed together drift apart), a few at a time, each process taking its own due lists. What a
//! check finds is recorded on the list; the store queues the callback of a list that became
//! drifted and the follow-up of a followed list whose source moved.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use tokio::sync::watch;
use uuid::Uuid;

use crate::config::Settings;
use crate::engine::{self, Pushed};
use crate::model::DriftStatus;
use crate::model::Reference;
use crate::service::Services;
use crate::store::{DbError, DriftFound};

/// Lists one process takes per round.
const BATCH: i64 = 32;

/// Lists one process checks at once.
const AT_ONCE: usize = 4;

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
    while !*stopped.borrow() {
        let full = match round(&services).await {
            Ok(checked) => checked == BATCH as usize,
            Err(e) => {
                tracing::warn!("cannot take the lists due for a check: {e}");
                false
            }
        };
        if full {
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(idle) => {}
            _ = stopped.changed() => {}
        }
    }
}

/// Takes the lists due for a check and checks them; how many it took.
pub(super) async fn round(services: &Services) -> Result<usize, DbError> {
    let Some(next_in) = next_check(&services.settings) else {
        return Ok(0);
    };
    let due = services.store.take_due_checks(BATCH, next_in).await?;
    let taken = due.len();
    futures::stream::iter(due)
        .for_each_concurrent(AT_ONCE, |id| check_one(services, id))
        .await;
    Ok(taken)
}

/// Checks one list and records what it found.
async fn check_one(services: &Services, id: Uuid) {
    let list = match services.store.get_list(id).await {
        Ok(Some(list)) if list.watched => list,
        Ok(_) => return,
        Err(e) => return tracing::warn!(list = %id, "cannot read a list to check: {e}"),
    };
    let (Some(digest), Ok(target)) = (&list.digest, Reference::parse(&list.target)) else {
        return;
    };
    let client = services.registry();
    let pushed = Pushed {
        target: &target,
        tags: &list.tags,
        digest,
        entries: &list.entries,
        sources: &list.sources,
    };
    let found = match engine::check_drift(&client, pushed).await {
        Ok(reasons) => DriftFound {
            status: if reasons.is_empty() {
                DriftStatus::InSync
            } else {
                DriftStatus::Drifted
            },
            reasons,
            error: None,
        },
        Err(e) => DriftFound {
            status: DriftStatus::Unknown,
            reasons: Vec::new(),
            error: Some(e.to_string()),
        },
    };
    services
        .metrics
        .drift_check(found.status.as_str(), client.requests());
    let max_attempts = services.settings.job_max_attempts();
    match services.store.record_drift(id, &found, max_attempts).await {
        Ok(done) => {
            if done.became_drifted {
                tracing::warn!(list = %id, reasons = ?found.reasons, "{} drifted", list.target);
            }
            if let Some(next) = done.follow_up {
                tracing::info!(list = %id, follow_up = %next, "a source of {} moved; re-pushing it", list.target);
            }
        }
        Err(e) => tracing::warn!(list = %id, "cannot record a check: {e}"),
    }
}

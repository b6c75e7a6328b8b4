//! The watch's cost: the drained store's lists (each pushed to a target of its own, so each is
//! watched) made due at once, and a process with no workers checking each of them once; the time
//! from its start to the last check, and the registry requests per check as its `/metrics` counts
//! them.

use std::time::{Duration, Instant};

use crate::serve::Serve;
use crate::store::{BenchStore, Kind};
use crate::{Bench, DRAIN_LISTS, PATIENCE};

/// The watch's check of every drained list.
pub struct WatchRun {
    /// Lists checked.
    pub checked: u64,
    /// From the process's start to the last check.
    pub took: Duration,
    /// Registry requests the checks made.
    pub requests: u64,
}

/// Makes every list of `store` due and has a process check each once.
pub async fn run(bench: &Bench, store: &BenchStore) -> WatchRun {
    make_due(store).await;
    let started = Instant::now();
    let env = [("MANIFOLD_WATCH_INTERVAL_SECS", "3600")];
    let name = format!("{}-watch", store.kind.label());
    let serve = Serve::start_with(&store.url, 0, &bench.dir, &name, &env).await;
    let deadline = Instant::now() + PATIENCE;
    let run = loop {
        let text = bench
            .http
            .get(format!("{}/metrics", serve.base))
            .send()
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("the metrics");
        let checked = metric(&text, "manifold_drift_checks_total{status=\"in_sync\"}");
        if checked >= DRAIN_LISTS as u64 {
            break WatchRun {
                checked,
                took: started.elapsed(),
                requests: metric(&text, "manifold_drift_check_requests_total"),
            };
        }
        assert!(
            Instant::now() < deadline,
            "{checked} of {DRAIN_LISTS} lists checked:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    serve.stop().await;
    run
}

/// Every watched list due now.
async fn make_due(store: &BenchStore) {
    let sql = "update list set drift_next_at = created_at where drift_next_at is not null";
    let changed = match store.kind {
        Kind::Postgres => sqlx::query(sql)
            .execute(&mut store.pg().await)
            .await
            .map(|d| d.rows_affected()),
        Kind::Sqlite => sqlx::query(sql)
            .execute(&mut store.sqlite().await)
            .await
            .map(|d| d.rows_affected()),
    };
    assert_eq!(
        changed.expect("make the lists due"),
        DRAIN_LISTS as u64,
        "every drained list is watched"
    );
}

/// The value of one metric line.
fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

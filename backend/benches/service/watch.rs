//! Whether the watch keeps up: the drained store's lists (two-entry lists, each pushed to a target
//! of its own, so each is watched) made due at once, and a process with no workers checking each
//! of them, twice: a cold pass from its start (its client has no connection and no token yet;
//! timed from its start, less what it checked before, to its last check's record), then a warm
//! pass, every list made due again (timed between the first and the last record of a check in
//! the database: the checks after the first record's batch). Against the floor client
//! ([`crate::floor`]) making the same HEADs on the same registry before and after (the faster of
//! its two runs counts). On the anonymous registry, then on a registry with token auth (anonymous
//! pull tokens from a token server) serving the same storage, the lists' hosts rewritten to it.

use std::time::{Duration, Instant};

use chrono::Utc;

use manifold_testkit::{RegistryAuth, TestRegistry, TokenServer};
use serde_json::Value;

use crate::floor::{self, FloorRun, Probes};
use crate::serve::Serve;
use crate::store::{BenchStore, Kind};
use crate::{Bench, DRAIN_LISTS, PATIENCE};

/// One pass of the watch over every drained list.
pub struct Pass {
    /// Lists checked in the measured time.
    pub checked: u64,
    /// The measured time.
    pub took: Duration,
    /// Registry requests the pass's checks made (token requests included).
    pub requests: u64,
    /// Token requests the process made in the pass.
    pub tokens: usize,
}

impl Pass {
    /// Checks per second.
    pub fn rate(&self) -> f64 {
        self.checked as f64 / self.took.as_secs_f64()
    }
}

/// The watch's passes over every drained list, and the floor's, on one kind of registry auth.
pub struct WatchRun {
    /// `anonymous` or `token`.
    pub auth: &'static str,
    /// From the process's start.
    pub cold: Pass,
    /// Again, in the same process.
    pub warm: Pass,
    /// The floor client on the same lists.
    pub floor: FloorRun,
}

impl WatchRun {
    /// The floor's checks per second.
    pub fn floor_rate(&self) -> f64 {
        DRAIN_LISTS as f64 / self.floor.took.as_secs_f64()
    }
}

/// The watch and the floor on the drained `store`, anonymous and with token auth.
pub async fn run(bench: &Bench, store: &BenchStore) -> Vec<WatchRun> {
    let lists = read_lists(bench, store).await;
    let probes: Vec<Probes> = lists.iter().map(|l| Probes::of(l, &bench.host)).collect();
    let anonymous = measure(bench, store, &bench.host, None, &probes).await;
    let tokens = TokenServer::builder()
        .no_admin()
        .grant_anonymous("*", &["pull"])
        .start();
    let registry = TestRegistry::builder()
        .auth(RegistryAuth::token(&tokens))
        .storage(&bench.storage)
        .log_level("error")
        .start()
        .await;
    rehost(store, &bench.host, &registry.host()).await;
    let realm = tokens.realm();
    let auth = Some((realm.as_str(), tokens.service(), &tokens));
    let token = measure(bench, store, &registry.host(), auth, &probes).await;
    rehost(store, &registry.host(), &bench.host).await;
    vec![anonymous, token]
}

/// The floor, the watch, the floor again, on registry `host`.
async fn measure(
    bench: &Bench,
    store: &BenchStore,
    host: &str,
    tokens: Option<(&str, &str, &TokenServer)>,
    probes: &[Probes],
) -> WatchRun {
    let base = format!("http://{host}");
    let realm = tokens.map(|(realm, service, _)| (realm, service));
    let first = floor::run(&bench.http, &base, realm, probes).await;
    let asked = || tokens.map_or(0, |(_, _, server)| server.requests().len());
    let (cold, warm) = watch(bench, store, &asked).await;
    let second = floor::run(&bench.http, &base, realm, probes).await;
    WatchRun {
        auth: if tokens.is_some() {
            "token"
        } else {
            "anonymous"
        },
        cold,
        warm,
        floor: if first.took <= second.took {
            first
        } else {
            second
        },
    }
}

/// A process with no workers checks every list of `store`, made due, twice; `asked` counts the
/// token server's requests so far.
async fn watch(bench: &Bench, store: &BenchStore, asked: &dyn Fn() -> usize) -> (Pass, Pass) {
    make_due(store).await;
    let env = [("MANIFOLD_WATCH_INTERVAL_SECS", "3600")];
    let name = format!("{}-watch", store.kind.label());
    let serve = Serve::start_with(&store.url, 0, &bench.dir, &name, &env).await;
    let started = chrono::Utc::now();
    let n = DRAIN_LISTS as u64;
    let (at_start, _) = checks(bench, &serve).await;
    let tokens = asked();
    let (_, requests) = wait_checks(bench, &serve, n).await;
    let (_, last) = check_records(store).await;
    let cold = Pass {
        checked: n - at_start,
        took: (last - started).to_std().expect("checked after the start"),
        requests,
        tokens: asked() - tokens,
    };
    make_due(store).await;
    let tokens = asked();
    let (_, again) = wait_checks(bench, &serve, 2 * n).await;
    let (first, last) = check_records(store).await;
    let warm = Pass {
        checked: n - RECORD_AT,
        took: (last - first).to_std().expect("recorded in order"),
        requests: again - requests,
        tokens: asked() - tokens,
    };
    serve.stop().await;
    (cold, warm)
}

/// In-sync findings the service records to a write: the warm pass's first record comes after
/// that many checks.
const RECORD_AT: u64 = 32;

/// The process's in-sync checks and their registry requests so far.
async fn checks(bench: &Bench, serve: &Serve) -> (u64, u64) {
    let text = bench
        .http
        .get(format!("{}/metrics", serve.base))
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("the metrics");
    (
        metric(&text, "manifold_drift_checks_total{status=\"in_sync\"}"),
        metric(&text, "manifold_drift_check_requests_total"),
    )
}

/// Polls (slowly: the time is read from the records) until the process made `n` in-sync checks.
async fn wait_checks(bench: &Bench, serve: &Serve, n: u64) -> (u64, u64) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (checked, requests) = checks(bench, serve).await;
        if checked >= n {
            return (checked, requests);
        }
        assert!(Instant::now() < deadline, "{checked} of {n} checks made");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The first and the last check's record, as the database's clock wrote them.
async fn check_records(store: &BenchStore) -> (chrono::DateTime<Utc>, chrono::DateTime<Utc>) {
    let (first, last): (i64, i64) = match store.kind {
        Kind::Postgres => {
            sqlx::query_as(
                "select (extract(epoch from min(drift_checked_at)) * 1000000)::bigint, \
                 (extract(epoch from max(drift_checked_at)) * 1000000)::bigint from list",
            )
            .fetch_one(&mut store.pg().await)
            .await
        }
        Kind::Sqlite => {
            sqlx::query_as("select min(drift_checked_at), max(drift_checked_at) from list")
                .fetch_one(&mut store.sqlite().await)
                .await
        }
    }
    .expect("the check records");
    let time = |us| chrono::DateTime::from_timestamp_micros(us).expect("a time");
    (time(first), time(last))
}

/// Every drained list, as `GET /lists` answers it, read by a process with no workers.
async fn read_lists(bench: &Bench, store: &BenchStore) -> Vec<Value> {
    let name = format!("{}-watch-lists", store.kind.label());
    let serve = Serve::start(&store.url, 0, &bench.dir, &name).await;
    let mut lists = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{}/lists?limit=200", serve.base);
        if let Some(cursor) = &cursor {
            url.push_str(&format!("&cursor={cursor}"));
        }
        let page: Value = bench
            .http
            .get(url)
            .send()
            .await
            .expect("GET /lists")
            .json()
            .await
            .expect("a page");
        lists.extend(page["items"].as_array().expect("items").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    serve.stop().await;
    assert_eq!(lists.len(), DRAIN_LISTS, "every drained list");
    lists
}

/// Every drained list due now.
async fn make_due(store: &BenchStore) {
    let sql = "update list set drift_next_at = created_at where drift_next_at is not null";
    let changed = execute(store, sql, &[]).await;
    assert_eq!(changed, DRAIN_LISTS as u64, "every drained list is watched");
}

/// Points the lists' targets and sources at registry `to` instead of `from` (the same storage).
async fn rehost(store: &BenchStore, from: &str, to: &str) {
    let sql = match store.kind {
        Kind::Postgres => {
            "update list set target = replace(target, $1, $2), \
             sources = replace(sources::text, $1, $2)::jsonb"
        }
        Kind::Sqlite => {
            "update list set target = replace(target, $1, $2), sources = replace(sources, $1, $2)"
        }
    };
    assert_eq!(execute(store, sql, &[from, to]).await, DRAIN_LISTS as u64);
}

/// Runs `sql` with text parameters on `store`; the rows it changed.
async fn execute(store: &BenchStore, sql: &'static str, params: &[&str]) -> u64 {
    let changed = match store.kind {
        Kind::Postgres => {
            let query = params.iter().fold(sqlx::query(sql), |q, p| q.bind(*p));
            query
                .execute(&mut store.pg().await)
                .await
                .map(|d| d.rows_affected())
        }
        Kind::Sqlite => {
            let query = params.iter().fold(sqlx::query(sql), |q, p| q.bind(*p));
            query
                .execute(&mut store.sqlite().await)
                .await
                .map(|d| d.rows_affected())
        }
    };
    changed.expect(sql)
}

/// The value of one metric line.
fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

//! Load benchmark of `manifold serve` on both of its stores: the release binary as a child
//! process (the bench profile's `manifold`, which Cargo builds for benchmarks) on a fresh
//! PostgreSQL database and on a fresh SQLite file, a local `docker-registry` holding the demo
//! images, and a load generator in this process (tokio + reqwest: a fixed number of connections,
//! each sending one request after another, for a fixed time after a warm-up). Loopback only;
//! every loop is bounded in time and count; the registry, the databases and the files are removed
//! at the end.
//!
//! On each store it measures throughput and p50/p99 latency of `/healthz` (the framework's own
//! speed in the same process, which the reads' goals are ratios of), of `GET /lists/{id}`, of a page
//! `GET /lists?limit=50` (of 60 pushed lists), and of `POST /lists` (workers 0: nothing drains
//! meanwhile); the drain rate of queued two-entry lists with workers on; the watch's check of
//! each drained list against a floor client's same HEADs, anonymous and with token auth
//! (`watch.rs`, `floor.rs`); the target filter `GET /lists?target=<repository>&limit=50` with
//! 1,000, 10,000 and 100,000 lists in that repository, written with SQL (`history.rs`,
//! `filter.rs`); and the serve process's resident memory (VmRSS)
//! idle after start and after each load. When `wrk` is on PATH, it measures the GETs and POST
//! too, as a second opinion from a load generator written in C.
//!
//! Run with `cargo bench -p manifold --bench service`. PostgreSQL from `DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`); databases of its own are created and dropped.
//! `MANIFOLD_BENCH_BIN` names another `manifold` binary to measure (to compare two builds).

mod cpu;
mod filter;
mod floor;
mod history;
mod load;
mod phases;
mod report;
mod serve;
mod store;
mod watch;
mod wrk;

use std::path::PathBuf;
use std::time::Duration;

use manifold_testkit::{ImageFixture, Pusher, TestRegistry};
use serde_json::{Value, json};

use crate::store::Kind;

/// Concurrent connections of the load generator.
pub const CONNECTIONS: usize = 32;
/// Measured time of each load phase.
pub const DURATION: Duration = Duration::from_secs(5);
/// Load before the measured time (not counted).
pub const WARMUP: Duration = Duration::from_secs(1);
/// Most requests one connection sends in a phase, whatever the time.
pub const MAX_REQUESTS_PER_CONNECTION: usize = 500_000;
/// Lists pushed before the page is read (the page holds [`PAGE_SIZE`] of them).
pub const PAGE_LISTS: usize = 60;
/// The `limit` of the pages read.
pub const PAGE_SIZE: usize = 50;
/// Lists queued before the drain.
pub const DRAIN_LISTS: usize = 300;
/// Workers of the draining process.
pub const DRAIN_WORKERS: usize = 8;
/// Longest wait for a drain, a push, a start or a stop.
pub const PATIENCE: Duration = Duration::from_secs(120);

/// What every phase shares.
pub struct Bench {
    /// The load generator's client.
    pub http: reqwest::Client,
    /// The local registry's `host:port`.
    pub host: String,
    /// The PostgreSQL URL bench databases are created from.
    pub admin: String,
    /// The local registry's storage directory (a second registry, with token auth, serves it
    /// too).
    pub storage: PathBuf,
    /// The temp dir: logs, SQLite files, wrk's script.
    pub dir: PathBuf,
}

#[tokio::main]
async fn main() {
    let work = tempfile::tempdir().expect("a temp dir");
    let registry = TestRegistry::builder().log_level("error").start().await;
    seed_demo(&registry).await;
    let bench = Bench {
        http: client(),
        host: registry.host(),
        storage: registry.storage_dir().to_owned(),
        admin: std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned()),
        dir: work.path().to_owned(),
    };
    let load_before = cpu::loadavg();
    let mut results = Vec::new();
    for kind in Kind::ALL {
        eprintln!("measuring on {} …", kind.label());
        results.push(phases::run(&bench, kind).await);
    }
    report::print(&results, (&load_before, &cpu::loadavg()));
    drop(registry);
}

/// The demo's two sources, `demo-s390x:v0.2` and `demo-amd64:v0.2`.
async fn seed_demo(registry: &TestRegistry) {
    let pusher = Pusher::new(registry);
    for arch in ["s390x", "amd64"] {
        let image = ImageFixture::new("linux", arch, None).build();
        pusher
            .push_image(&format!("demo-{arch}"), "v0.2", &image)
            .await
            .expect("seed the demo");
    }
}

/// A two-entry JSON spec pushing the demo to `host/target`.
pub fn spec(host: &str, target: &str) -> Value {
    json!({
        "image": format!("{host}/{target}"),
        "manifests": [
            {"image": format!("{host}/demo-s390x:v0.2"), "platform": {"architecture": "s390x", "os": "linux"}},
            {"image": format!("{host}/demo-amd64:v0.2"), "platform": {"architecture": "amd64", "os": "linux"}}
        ]
    })
}

/// The load generator's client: a pool as large as its connections.
fn client() -> reqwest::Client {
    manifold_testkit::http_client()
        .pool_max_idle_per_host(CONNECTIONS)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client")
}

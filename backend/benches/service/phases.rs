//! The phases run on each store, each on a service process of its own: reads (`GET /lists/{id}`
//! and a page of 50 of 60 pushed lists, 4 workers), writes (`POST /lists`, no workers, on the same
//! store), the drain (300 lists queued with no workers, then taken by 8), the watch's check of the
//! drained lists ([`crate::watch`]), and the history filter ([`crate::filter`]).

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::filter::{self, FilterRun};
use crate::load::{Measured, load};
use crate::serve::Serve;
use crate::store::{BenchStore, Kind};
use crate::watch::WatchRun;
use crate::wrk::wrk;
use crate::{Bench, DRAIN_LISTS, DRAIN_WORKERS, PAGE_LISTS, PAGE_SIZE, PATIENCE, spec};

/// A load measured by this process's generator and, when it is installed, by wrk.
pub struct Both {
    pub reqwest: Measured,
    pub wrk: Option<Measured>,
}

/// The drain of [`DRAIN_LISTS`] queued lists by [`DRAIN_WORKERS`] workers.
pub struct Drain {
    /// From the first claim to the last finish, as the database recorded them.
    pub drained: Duration,
    /// From the process's start to the last finish seen.
    pub wall: Duration,
    /// "claimed a push job" lines in the service's log.
    pub claims: usize,
    /// CPU seconds of the serve process and (PostgreSQL) the database's backends.
    pub cpu: (f64, Option<f64>),
}

impl Drain {
    /// Lists per second from the first claim to the last finish.
    pub fn rate(&self) -> f64 {
        DRAIN_LISTS as f64 / self.drained.as_secs_f64()
    }
}

/// Everything measured on one store.
pub struct Results {
    pub kind: Kind,
    /// Whether the PostgreSQL connections use TLS; none for SQLite.
    pub tls: Option<bool>,
    /// `/healthz` of the process that serves the reads: the framework's own speed.
    pub healthz: Both,
    pub get: Both,
    pub page: Both,
    pub post: Both,
    pub drain: Drain,
    pub watch: Vec<WatchRun>,
    pub filter: Vec<FilterRun>,
    /// (when, VmRSS in MB) of the serve processes, idle.
    pub memory: Vec<(String, f64)>,
}

/// Every phase on a new store of `kind`.
pub async fn run(bench: &Bench, kind: Kind) -> Results {
    let mut memory = Vec::new();
    let store = BenchStore::create(kind, &bench.admin, &bench.dir).await;
    let tls = store.uses_tls().await;
    let Reads { healthz, get, page } = reads(bench, &store, &mut memory).await;
    let post = writes(bench, &store, &mut memory).await;
    drop(store);
    let (drain, drained) = drain(bench, kind, &mut memory).await;
    let watch = crate::watch::run(bench, &drained).await;
    drop(drained);
    let filter = filter::run(bench, kind, &mut memory).await;
    Results {
        kind,
        tls,
        healthz,
        get,
        page,
        post,
        drain,
        watch,
        filter,
        memory,
    }
}

/// The reads measured on one process.
struct Reads {
    healthz: Both,
    get: Both,
    page: Both,
}

/// `/healthz`, the framework's own speed in the same process; `GET /lists/{id}` of a pushed
/// two-entry list; and `GET /lists?limit=50` of [`PAGE_LISTS`] pushed lists, by a service with 4
/// workers.
async fn reads(bench: &Bench, store: &BenchStore, memory: &mut Vec<(String, f64)>) -> Reads {
    let name = format!("{}-get", store.kind.label());
    let serve = Serve::start(&store.url, 4, &bench.dir, &name).await;
    memory.push((
        "idle after start (4 workers)".into(),
        serve.idle_rss_mb().await,
    ));
    let http = &bench.http;
    let mut ids = Vec::new();
    for n in 0..PAGE_LISTS {
        let target = if n == 0 {
            "bench:get".into()
        } else {
            format!("bench:page-{n}")
        };
        ids.push(submit(http, &serve.base, &spec(&bench.host, &target)).await);
    }
    let deadline = Instant::now() + PATIENCE;
    for id in &ids {
        wait_succeeded(http, &serve.base, id, deadline).await;
    }
    let cpu = store.cpu(serve.pid);
    let url = format!("{}/healthz", serve.base);
    let healthz = get_load(bench, &cpu, &url).await;
    let url = format!("{}/lists/{}", serve.base, ids[0]);
    let get = get_load(bench, &cpu, &url).await;
    let url = format!("{}/lists?limit={PAGE_SIZE}", serve.base);
    assert_eq!(page(http, &url).await.len(), PAGE_SIZE, "a full page");
    let page = get_load(bench, &cpu, &url).await;
    memory.push(("idle after the GET loads".into(), serve.idle_rss_mb().await));
    serve.stop().await;
    Reads { healthz, get, page }
}

/// `GET url` under load, by this process's generator and by wrk.
async fn get_load(bench: &Bench, cpu: &crate::cpu::Cpu, url: &str) -> Both {
    Both {
        reqwest: load(&bench.http, cpu, {
            let url = url.to_owned();
            move |http: &reqwest::Client, _| http.get(&url)
        })
        .await,
        wrk: wrk(url, None, &bench.dir, cpu).await,
    }
}

/// `POST /lists` of valid two-entry specs to distinct targets, by a service with no workers.
async fn writes(bench: &Bench, store: &BenchStore, memory: &mut Vec<(String, f64)>) -> Both {
    let name = format!("{}-post", store.kind.label());
    let serve = Serve::start(&store.url, 0, &bench.dir, &name).await;
    let cpu = store.cpu(serve.pid);
    let url = format!("{}/lists", serve.base);
    let reqwest = load(&bench.http, &cpu, {
        let (url, host) = (url.clone(), bench.host.clone());
        move |http: &reqwest::Client, n| http.post(&url).json(&spec(&host, &format!("bench:p{n}")))
    })
    .await;
    let body = spec(&bench.host, "bench:wrk").to_string();
    let wrk = wrk(&url, Some(&body), &bench.dir, &cpu).await;
    memory.push((
        "idle after the POST load (0 workers)".into(),
        serve.idle_rss_mb().await,
    ));
    serve.stop().await;
    Both { reqwest, wrk }
}

/// [`DRAIN_LISTS`] lists queued while no worker runs, then a process with [`DRAIN_WORKERS`]
/// workers takes them all; on a new store, which it returns.
async fn drain(bench: &Bench, kind: Kind, memory: &mut Vec<(String, f64)>) -> (Drain, BenchStore) {
    let store = BenchStore::create(kind, &bench.admin, &bench.dir).await;
    let name = kind.label();
    let serve = Serve::start(&store.url, 0, &bench.dir, &format!("{name}-queue")).await;
    let base = serve.base.clone();
    futures::future::join_all((0..16).map(|k| {
        let (http, base, host) = (bench.http.clone(), base.clone(), bench.host.clone());
        async move {
            for n in (k..DRAIN_LISTS).step_by(16) {
                submit(&http, &base, &spec(&host, &format!("drain-{n}:v1"))).await;
            }
        }
    }))
    .await;
    serve.stop().await;
    let before = store.cpu(0).sample();
    let started = Instant::now();
    let serve = Serve::start(
        &store.url,
        DRAIN_WORKERS,
        &bench.dir,
        &format!("{name}-drain"),
    )
    .await;
    let drained = store.wait_drained(DRAIN_LISTS).await;
    let wall = started.elapsed();
    let after = store.cpu(serve.pid).sample();
    memory.push((
        format!("idle after the drain ({DRAIN_WORKERS} workers)"),
        serve.idle_rss_mb().await,
    ));
    let claims = serve.log().matches("claimed a push job").count();
    serve.stop().await;
    let drain = Drain {
        drained,
        wall,
        claims,
        // The serve process started after `before`: all its CPU is the drain's.
        cpu: (after.0, after.1.zip(before.1).map(|(a, b)| a - b)),
    };
    (drain, store)
}

/// `POST /lists`, asserting 202; the list's id.
pub async fn submit(http: &reqwest::Client, base: &str, spec: &Value) -> String {
    let response = http
        .post(format!("{base}/lists"))
        .json(spec)
        .send()
        .await
        .expect("POST /lists");
    assert_eq!(response.status(), 202, "POST /lists");
    let list: Value = response.json().await.expect("a list");
    list["id"].as_str().expect("an id").to_owned()
}

/// Polls `GET /lists/{id}` until the list has succeeded (panics if it fails or `deadline` passes).
async fn wait_succeeded(http: &reqwest::Client, base: &str, id: &str, deadline: Instant) {
    loop {
        let list: Value = http
            .get(format!("{base}/lists/{id}"))
            .send()
            .await
            .expect("GET /lists/{id}")
            .json()
            .await
            .expect("a list");
        match list["status"].as_str() {
            Some("succeeded") => return,
            Some("failed" | "canceled") => panic!("the list was not pushed: {list:#}"),
            _ => {}
        }
        assert!(Instant::now() < deadline, "the list was never pushed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The lists of the page at `url` (asserting 200 and two entries on each).
pub async fn page(http: &reqwest::Client, url: &str) -> Vec<Value> {
    let response = http.get(url).send().await.expect("GET /lists");
    assert_eq!(response.status(), 200, "GET {url}");
    let page: Value = response.json().await.expect("a page");
    let items = page["items"].as_array().expect("items").clone();
    for item in &items {
        let entries = item["entries"].as_array().map_or(0, Vec::len);
        assert_eq!(entries, 2, "a listed list has its two entries: {item:#}");
    }
    items
}

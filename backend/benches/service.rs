//! Load benchmark of `manifold serve`: the release binary as a child process (the bench profile's
//! `manifold`, which Cargo builds for benchmarks), a fresh PostgreSQL database, a local
//! `docker-registry` holding the demo images, and a load generator in this process (tokio +
//! reqwest: a fixed number of connections, each sending one request after another, for a fixed
//! time after a warm-up). Loopback only; every loop is bounded in time and count.
//!
//! Measures `GET /lists/{id}` and `POST /lists` (workers 0: nothing drains meanwhile) throughput
//! and p50/p99 latency; the drain rate of queued two-entry lists with workers on; the serve
//! process's resident memory (VmRSS) idle after start and after each load. When `wrk` is on PATH,
//! it measures GET and POST too, as a second opinion from a load generator written in C.
//!
//! Run with `cargo bench -p manifold --bench service`. PostgreSQL from `DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`); a database of its own is created and dropped.
//! `MANIFOLD_BENCH_BIN` names another `manifold` binary to measure (to compare two builds).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use manifold_testkit::{ImageFixture, Pusher, TestRegistry};
use serde_json::{Value, json};
use sqlx::Connection as _;

/// Concurrent connections of the load generator.
const CONNECTIONS: usize = 32;
/// Measured time of each load phase.
const DURATION: Duration = Duration::from_secs(5);
/// Load before the measured time (not counted).
const WARMUP: Duration = Duration::from_secs(1);
/// Most requests one connection sends in a phase, whatever the time.
const MAX_REQUESTS_PER_CONNECTION: usize = 500_000;
/// Lists queued before the drain.
const DRAIN_LISTS: usize = 300;
/// Workers of the draining process.
const DRAIN_WORKERS: usize = 8;
/// Longest wait for a drain, a start or a stop.
const PATIENCE: Duration = Duration::from_secs(120);

/// Targets on a 2-core machine.
const TARGET_GET_RPS: f64 = 5_000.0;
const TARGET_GET_P99_MS: f64 = 20.0;
const TARGET_POST_RPS: f64 = 1_000.0;
const TARGET_DRAIN_PER_SEC: f64 = 30.0;
const TARGET_IDLE_RSS_MB: f64 = 50.0;

#[tokio::main]
async fn main() {
    let work = tempfile::tempdir().expect("a temp dir");
    let registry = TestRegistry::builder().log_level("error").start().await;
    seed_demo(&registry).await;
    let host = registry.host();
    let admin = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let load_before = loadavg();
    let mut rows = Vec::new();
    let mut memory = Vec::new();

    // GET: a pushed list with its two entries, read over and over by a service with 4 workers.
    let db = BenchDb::create(&admin).await;
    let tls = db.uses_tls().await;
    let serve = Serve::start(&db.url, 4, work.path(), "get").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    memory.push(("idle after start (4 workers)", serve.rss_mb()));
    let http = client();
    let id = submit(&http, &serve.base, &spec(&host, "bench:get")).await;
    wait_succeeded(&http, &serve.base, &id).await;
    let url = format!("{}/lists/{id}", serve.base);
    let cpu = Cpu::new(serve.pid, &db.name);
    let get = load(&http, &cpu, {
        let url = url.clone();
        move |http: &reqwest::Client, _| http.get(&url)
    })
    .await;
    rows.push(get.row("GET /lists/{id}", "reqwest"));
    if let Some(w) = wrk(&url, None, work.path(), &cpu).await {
        rows.push(w.row("GET /lists/{id}", "wrk"));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    memory.push(("idle after the GET load", serve.rss_mb()));
    serve.stop().await;

    // POST: valid two-entry specs to distinct targets, no workers.
    let serve = Serve::start(&db.url, 0, work.path(), "post").await;
    let cpu = Cpu::new(serve.pid, &db.name);
    let post = load(&http, &cpu, {
        let url = format!("{}/lists", serve.base);
        let host = host.clone();
        move |http: &reqwest::Client, n| http.post(&url).json(&spec(&host, &format!("bench:p{n}")))
    })
    .await;
    rows.push(post.row("POST /lists", "reqwest"));
    let body = spec(&host, "bench:wrk").to_string();
    if let Some(w) = wrk(
        &format!("{}/lists", serve.base),
        Some(&body),
        work.path(),
        &cpu,
    )
    .await
    {
        rows.push(w.row("POST /lists", "wrk"));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    memory.push(("idle after the POST load (0 workers)", serve.rss_mb()));
    serve.stop().await;
    drop(db);

    // Drain: lists queued while no worker runs, then a process with workers takes them all.
    let db = BenchDb::create(&admin).await;
    let serve = Serve::start(&db.url, 0, work.path(), "queue").await;
    let base = serve.base.clone();
    futures::future::join_all((0..16).map(|k| {
        let (http, base, host) = (http.clone(), base.clone(), host.clone());
        async move {
            for n in (k..DRAIN_LISTS).step_by(16) {
                submit(&http, &base, &spec(&host, &format!("drain-{n}:v1"))).await;
            }
        }
    }))
    .await;
    serve.stop().await;
    let pg_before = Cpu::new(0, &db.name).sample().1;
    let started = Instant::now();
    let serve = Serve::start(&db.url, DRAIN_WORKERS, work.path(), "drain").await;
    let drained = db.wait_drained(DRAIN_LISTS).await;
    let wall = started.elapsed();
    let (serve_cpu, pg_after) = Cpu::new(serve.pid, &db.name).sample();
    let per_list_ms = |secs: f64| secs * 1e3 / DRAIN_LISTS as f64;
    tokio::time::sleep(Duration::from_secs(1)).await;
    memory.push(("idle after the drain (8 workers)", serve.rss_mb()));
    let claims = serve.log().matches("claimed a push job").count();
    serve.stop().await;
    drop(db);

    println!();
    println!(
        "manifold serve load benchmark — {CONNECTIONS} connections, {}s measured after {}s warm-up, loopback, {} CPUs",
        DURATION.as_secs(),
        WARMUP.as_secs(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "PostgreSQL connections use TLS: {} (sslmode as DATABASE_URL gives it); load average {load_before} before, {} after",
        if tls { "yes" } else { "no" },
        loadavg()
    );
    println!();
    println!(
        "| request | load generator | requests | errors | req/s | p50 | p99 | max | serve CPU/req | PostgreSQL CPU/req |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for row in &rows {
        println!("{row}");
    }
    println!();
    println!(
        "Drain: {DRAIN_LISTS} queued two-entry lists, MANIFOLD_WORKERS={DRAIN_WORKERS}: \
         {:.1} lists/s from the first claim to the last finish ({:.2} s), \
         {:.1} lists/s from process start ({:.2} s); {claims} claims; CPU per list: serve {:.1} ms, \
         PostgreSQL {:.1} ms",
        DRAIN_LISTS as f64 / drained.as_secs_f64(),
        drained.as_secs_f64(),
        DRAIN_LISTS as f64 / wall.as_secs_f64(),
        wall.as_secs_f64(),
        per_list_ms(serve_cpu),
        per_list_ms(pg_after - pg_before),
    );
    println!();
    println!("| serve process | VmRSS |");
    println!("|---|---|");
    for (when, mb) in &memory {
        println!("| {when} | {mb:.1} MB |");
    }
    println!();
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    println!(
        "Targets: GET ≥ {TARGET_GET_RPS} req/s: {} ({:.0}); GET p99 < {TARGET_GET_P99_MS} ms: {} ({:.2} ms); \
         POST ≥ {TARGET_POST_RPS}/s: {} ({:.0}); drain ≥ {TARGET_DRAIN_PER_SEC} lists/s: {} ({:.1}); \
         idle memory < {TARGET_IDLE_RSS_MB} MB: {} (max {:.1} MB)",
        verdict(get.rps() >= TARGET_GET_RPS),
        get.rps(),
        verdict(get.percentile_ms(0.99) < TARGET_GET_P99_MS),
        get.percentile_ms(0.99),
        verdict(post.rps() >= TARGET_POST_RPS),
        post.rps(),
        verdict(DRAIN_LISTS as f64 / drained.as_secs_f64() >= TARGET_DRAIN_PER_SEC),
        DRAIN_LISTS as f64 / drained.as_secs_f64(),
        verdict(memory.iter().all(|(_, mb)| *mb < TARGET_IDLE_RSS_MB)),
        memory.iter().map(|(_, mb)| *mb).fold(0.0, f64::max),
    );
}

/// The 1, 5 and 15 minute load averages.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
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
fn spec(host: &str, target: &str) -> Value {
    json!({
        "image": format!("{host}/{target}"),
        "manifests": [
            {"image": format!("{host}/demo-s390x:v0.2"), "platform": {"architecture": "s390x", "os": "linux"}},
            {"image": format!("{host}/demo-amd64:v0.2"), "platform": {"architecture": "amd64", "os": "linux"}}
        ]
    })
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(CONNECTIONS)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client")
}

/// `POST /lists`, asserting 202; the list's id.
async fn submit(http: &reqwest::Client, base: &str, spec: &Value) -> String {
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

async fn wait_succeeded(http: &reqwest::Client, base: &str, id: &str) {
    let deadline = Instant::now() + PATIENCE;
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

/// What one load phase measured.
struct Measured {
    requests: u64,
    errors: u64,
    elapsed: Duration,
    /// Latencies in microseconds, sorted; empty when only percentiles are known (wrk).
    latencies_us: Vec<u32>,
    /// p50, p99 and max in ms, when the latencies themselves are not known.
    summary_ms: Option<(f64, f64, f64)>,
    /// CPU seconds the serve process and the database's backends used meanwhile.
    cpu: (f64, f64),
}

impl Measured {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile_ms(&self, p: f64) -> f64 {
        if let Some((p50, p99, max)) = self.summary_ms {
            return if p >= 1.0 {
                max
            } else if p >= 0.99 {
                p99
            } else {
                p50
            };
        }
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let i = ((self.latencies_us.len() as f64 * p).ceil() as usize)
            .clamp(1, self.latencies_us.len())
            - 1;
        f64::from(self.latencies_us[i]) / 1e3
    }

    fn row(&self, request: &str, generator: &str) -> String {
        let per_request_us = |secs: f64| secs * 1e6 / self.requests.max(1) as f64;
        format!(
            "| {request} | {generator} | {} | {} | {:.0} | {:.2} ms | {:.2} ms | {:.2} ms | {:.0} µs | {:.0} µs |",
            self.requests,
            self.errors,
            self.rps(),
            self.percentile_ms(0.5),
            self.percentile_ms(0.99),
            self.percentile_ms(1.0),
            per_request_us(self.cpu.0),
            per_request_us(self.cpu.1),
        )
    }
}

/// [`CONNECTIONS`] tasks, each sending the request `make` builds (given a running number), one
/// after another, for [`WARMUP`] and then [`DURATION`]; only the latter is counted. A request
/// that does not answer 2xx is an error.
async fn load<F>(http: &reqwest::Client, cpu: &Cpu, make: F) -> Measured
where
    F: Fn(&reqwest::Client, u64) -> reqwest::RequestBuilder + Send + Sync + 'static,
{
    let make = Arc::new(make);
    let counter = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let measure_from = start + WARMUP;
    let end = measure_from + DURATION;
    let sampler = {
        let cpu = cpu.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(measure_from.into()).await;
            let before = cpu.sample();
            tokio::time::sleep_until(end.into()).await;
            let after = cpu.sample();
            (after.0 - before.0, after.1 - before.1)
        })
    };
    let tasks: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let (http, make, counter) = (http.clone(), make.clone(), counter.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut errors = 0u64;
                for _ in 0..MAX_REQUESTS_PER_CONNECTION {
                    let sent = Instant::now();
                    if sent >= end {
                        break;
                    }
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    let ok = match make(&http, n).send().await {
                        Ok(response) => {
                            let ok = response.status().is_success();
                            ok & response.bytes().await.is_ok()
                        }
                        Err(_) => false,
                    };
                    let done = Instant::now();
                    if sent >= measure_from && done <= end {
                        latencies.push(done.duration_since(sent).as_micros() as u32);
                        errors += u64::from(!ok);
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut latencies_us = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (l, e) = task.await.expect("a load task");
        latencies_us.extend(l);
        errors += e;
    }
    latencies_us.sort_unstable();
    Measured {
        requests: latencies_us.len() as u64,
        errors,
        elapsed: DURATION,
        latencies_us,
        summary_ms: None,
        cpu: sampler.await.expect("the CPU sampler"),
    }
}

/// The same load from `wrk` (2 threads), when it is installed: GET, or POST of `body` as JSON.
async fn wrk(url: &str, body: Option<&str>, dir: &Path, cpu: &Cpu) -> Option<Measured> {
    let mut cmd = tokio::process::Command::new("wrk");
    cmd.args(["-t2", &format!("-c{CONNECTIONS}")])
        .arg(format!("-d{}s", DURATION.as_secs()))
        .arg("--latency")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    if let Some(body) = body {
        let script = dir.join("post.lua");
        let lua = format!(
            "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.body = {}\n",
            lua_string(body)
        );
        std::fs::write(&script, lua).expect("write the wrk script");
        cmd.arg("-s").arg(script);
    }
    cmd.arg(url);
    let before = cpu.sample();
    let output = match tokio::time::timeout(DURATION * 4, cmd.output()).await {
        Ok(Ok(output)) if output.status.success() => output,
        Ok(Ok(output)) => {
            eprintln!(
                "wrk failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
            return None;
        }
        Ok(Err(_)) => return None,
        Err(_) => {
            eprintln!("wrk did not finish");
            return None;
        }
    };
    let after = cpu.sample();
    let text = String::from_utf8_lossy(&output.stdout);
    let field = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix))
            .map(str::trim)
    };
    let requests = text
        .lines()
        .find_map(|l| l.trim().split_once(" requests in "))
        .and_then(|(n, _)| n.trim().parse::<u64>().ok())?;
    let rps: f64 = field("Requests/sec:")?.parse().ok()?;
    let errors = field("Non-2xx or 3xx responses:")
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0)
        + field("Socket errors:")
            .map(|s| {
                s.split(',')
                    .filter_map(|part| part.split_whitespace().last()?.parse::<u64>().ok())
                    .sum::<u64>()
            })
            .unwrap_or(0);
    let max = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("Latency") && !l.starts_with("Latency Distribution"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(wrk_ms)?;
    Some(Measured {
        requests,
        errors,
        elapsed: Duration::from_secs_f64(requests as f64 / rps),
        latencies_us: Vec::new(),
        summary_ms: Some((wrk_ms(field("50%")?)?, wrk_ms(field("99%")?)?, max)),
        cpu: (after.0 - before.0, after.1 - before.1),
    })
}

/// `1.23ms`, `456.00us`, `1.50s` → milliseconds.
fn wrk_ms(value: &str) -> Option<f64> {
    let split = value.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = value.split_at(split);
    let number: f64 = number.parse().ok()?;
    Some(match unit {
        "us" => number / 1e3,
        "ms" => number,
        "s" => number * 1e3,
        "m" => number * 60e3,
        _ => return None,
    })
}

/// A Lua long string holding `text` exactly.
fn lua_string(text: &str) -> String {
    let mut level = 0;
    while text.contains(&format!("]{}]", "=".repeat(level))) {
        level += 1;
    }
    let eq = "=".repeat(level);
    format!("[{eq}[{text}]{eq}]")
}

/// CPU time used so far by the serve process and by the PostgreSQL backends serving one database
/// (from /proc: utime + stime, in USER_HZ = 1/100 s).
#[derive(Clone)]
struct Cpu {
    pid: u32,
    /// What the backends' process titles hold: `postgres: …: <user> <database> <client> …`.
    title: String,
}

impl Cpu {
    fn new(pid: u32, database: &str) -> Self {
        Self {
            pid,
            title: format!(" {database} "),
        }
    }

    /// Seconds used by (the serve process, the database's backends).
    fn sample(&self) -> (f64, f64) {
        let serve = if self.pid == 0 {
            0.0
        } else {
            process_cpu(&format!("/proc/{}", self.pid))
        };
        let mut backends = 0.0;
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline);
            if cmdline.starts_with("postgres: ") && cmdline.contains(&self.title) {
                backends += process_cpu(&entry.path().to_string_lossy());
            }
        }
        (serve, backends)
    }
}

/// utime + stime of the process at `dir` (a /proc/<pid> path), in seconds.
fn process_cpu(dir: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("{dir}/stat")).unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat: 11 and 12 counting from 0 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

/// A database of its own, dropped afterwards.
struct BenchDb {
    url: String,
    admin: String,
    name: String,
}

impl BenchDb {
    async fn create(admin: &str) -> Self {
        let name = format!("manifold_bench_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(admin)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {admin} (set DATABASE_URL): {e}"));
        sqlx::query(sqlx::AssertSqlSafe(format!("create database {name}")))
            .execute(&mut conn)
            .await
            .expect("create the bench database");
        let mut url = url::Url::parse(admin).expect("DATABASE_URL is a URL");
        url.set_path(&name);
        Self {
            url: url.to_string(),
            admin: admin.to_owned(),
            name,
        }
    }

    /// Whether a connection made like the service's (sqlx, same URL) uses TLS.
    async fn uses_tls(&self) -> bool {
        let mut conn = sqlx::PgConnection::connect(&self.url)
            .await
            .expect("the bench database");
        sqlx::query_scalar("select ssl from pg_stat_ssl where pid = pg_backend_pid()")
            .fetch_one(&mut conn)
            .await
            .expect("pg_stat_ssl")
    }

    /// Waits until `n` lists have succeeded (failing on any failed one); the time from the first
    /// claim to the last finish, as the database recorded them.
    async fn wait_drained(&self, n: usize) -> Duration {
        let mut conn = sqlx::PgConnection::connect(&self.url)
            .await
            .expect("the bench database");
        let deadline = Instant::now() + PATIENCE;
        loop {
            let (succeeded, failed, span): (i64, i64, Option<f64>) = sqlx::query_as(
                "select count(*) filter (where status = 'succeeded'), \
                        count(*) filter (where status = 'failed'), \
                        extract(epoch from max(finished_at) - min(started_at))::float8 \
                 from list",
            )
            .fetch_one(&mut conn)
            .await
            .expect("count the lists");
            assert_eq!(failed, 0, "lists failed during the drain");
            if succeeded as usize == n {
                return Duration::from_secs_f64(span.expect("finished lists have times"));
            }
            assert!(
                Instant::now() < deadline,
                "{succeeded} of {n} lists drained in {PATIENCE:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for BenchDb {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Drop runs inside the runtime: a thread of its own may block.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            rt.block_on(async move {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "drop database if exists {name} with (force)"
                    )))
                    .execute(&mut conn)
                    .await;
                }
            });
        })
        .join();
    }
}

/// One `manifold serve` process (the bench profile's binary), logging to a file.
struct Serve {
    child: tokio::process::Child,
    pid: u32,
    base: String,
    log_path: PathBuf,
}

impl Serve {
    async fn start(database_url: &str, workers: usize, dir: &Path, name: &str) -> Self {
        let log_path = dir.join(format!("serve-{name}.log"));
        let log = std::fs::File::create(&log_path).expect("a log file");
        let bin = std::env::var_os("MANIFOLD_BENCH_BIN").map_or_else(
            || PathBuf::from(env!("CARGO_BIN_EXE_manifold")),
            PathBuf::from,
        );
        let mut child = tokio::process::Command::new(bin)
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", dir)
            .env("DATABASE_URL", database_url)
            .env("MANIFOLD_ADDR", "127.0.0.1:0")
            .env("MANIFOLD_WORKERS", workers.to_string())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("a log file"))
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("manifold serve starts");
        let pid = child.id().expect("a pid");
        let deadline = Instant::now() + PATIENCE;
        let port = loop {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            let port = log
                .lines()
                .find_map(|l| l.split_once("manifold listening on 127.0.0.1:"))
                .and_then(|(_, port)| port.trim().parse::<u16>().ok());
            if let Some(port) = port {
                break port;
            }
            if let Some(status) = child.try_wait().expect("the child") {
                panic!("manifold serve exited with {status}:\n{log}");
            }
            assert!(Instant::now() < deadline, "manifold serve never listened");
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        while !http
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            assert!(Instant::now() < deadline, "/healthz never answered");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Self {
            child,
            pid,
            base,
            log_path,
        }
    }

    /// VmRSS from /proc, in MB.
    fn rss_mb(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .expect("/proc/<pid>/status");
        let kb: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("a VmRSS line");
        kb / 1024.0
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// SIGTERM (a graceful stop), SIGKILL if it takes too long.
    async fn stop(mut self) {
        let _ = tokio::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .await;
        if tokio::time::timeout(Duration::from_secs(15), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.start_kill();
            let _ = self.child.wait().await;
        }
    }
}

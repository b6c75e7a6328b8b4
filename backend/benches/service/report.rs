//! The printed report: one table of every measured request on both stores (a `store` column;
//! PostgreSQL's CPU is `-` on SQLite), the drains, the history fills, the memory, and a goals line
//! per store that says `met` or `MISSED` with the figure.

use crate::filter::FilterRun;
use crate::load::Measured;
use crate::phases::{Both, Results};
use crate::watch::Pass;
use crate::{CONNECTIONS, DRAIN_LISTS, DRAIN_WORKERS, DURATION, PAGE_SIZE, WARMUP};

/// `GET /lists/{id}` of a finished list: at least this share of the same process's `/healthz`
/// throughput …
const GOAL_GET_SHARE: f64 = 0.5;
/// … a page of 50: at least this share …
const GOAL_PAGE_SHARE: f64 = 0.2;
/// … and each with a p99 under this, in ms, at [`CONNECTIONS`] connections.
const GOAL_READ_P99_MS: f64 = 10.0;
/// The filter's sequential p99 at the largest history, at most this many times its p99 at the
/// smallest.
const GOAL_FILTER_GROWTH: f64 = 2.0;
const GOAL_POST_RPS: f64 = 1_000.0;
const GOAL_DRAIN_PER_SEC: f64 = 30.0;
const GOAL_IDLE_RSS_MB: f64 = 50.0;
/// The watch's checks per second, at least this share of the floor client's.
const GOAL_WATCH_SHARE: f64 = 0.7;

/// Prints everything measured; `load` is the load average before and after.
pub fn print(results: &[Results], load: (&str, &str)) {
    println!();
    println!(
        "manifold serve load benchmark — {CONNECTIONS} connections, {}s measured after {}s warm-up, loopback, {} CPUs",
        DURATION.as_secs(),
        WARMUP.as_secs(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let tls = results.iter().find_map(|r| r.tls);
    println!(
        "PostgreSQL connections use TLS: {} (sslmode as DATABASE_URL gives it); SQLite: a fresh file \
         in the temp dir; load average {} before, {} after",
        tls.map_or("-", |t| if t { "yes" } else { "no" }),
        load.0,
        load.1,
    );
    println!();
    println!(
        "| store | request | load generator | requests | errors | req/s | p50 | p99 | max | serve CPU/req | PostgreSQL CPU/req |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for r in results {
        print_rows(r);
    }
    println!();
    for r in results {
        print_drain(r);
    }
    for r in results {
        let fills: Vec<String> = r
            .filter
            .iter()
            .map(|f| {
                format!(
                    "to {} lists in {:.1} s",
                    thousands(f.size),
                    f.fill.as_secs_f64()
                )
            })
            .collect();
        println!(
            "History ({}): filled with SQL {}",
            r.kind.label(),
            fills.join(", ")
        );
    }
    println!();
    println!("| store | serve process | VmRSS |");
    println!("|---|---|---|");
    for r in results {
        for (when, mb) in &r.memory {
            println!("| {} | {when} | {mb:.1} MB |", r.kind.label());
        }
    }
    println!();
    for r in results {
        println!("{}", goals(r));
    }
}

/// The table's rows of one store.
fn print_rows(r: &Results) {
    let store = r.kind.label();
    let both = |request: &str, both: &Both| {
        println!("{}", row(store, request, "reqwest", &both.reqwest));
        if let Some(w) = &both.wrk {
            println!("{}", row(store, request, "wrk", w));
        }
    };
    both("GET /healthz", &r.healthz);
    both("GET /lists/{id}", &r.get);
    both(&format!("GET /lists?limit={PAGE_SIZE}"), &r.page);
    both("POST /lists", &r.post);
    for f in &r.filter {
        let request = format!(
            "GET /lists?target=repo&limit={PAGE_SIZE}, {} lists",
            thousands(f.size)
        );
        println!("{}", row(store, &request, "sequential", &f.sequential));
        println!("{}", row(store, &request, "reqwest", &f.loaded));
    }
}

/// One row of the table.
fn row(store: &str, request: &str, generator: &str, m: &Measured) -> String {
    let (serve, db) = m.cpu_per_request_us();
    format!(
        "| {store} | {request} | {generator} | {} | {} | {:.0} | {:.2} ms | {:.2} ms | {:.2} ms | {serve:.0} µs | {} |",
        m.requests,
        m.errors,
        m.rps(),
        m.percentile_ms(0.5),
        m.percentile_ms(0.99),
        m.percentile_ms(1.0),
        db.map_or("-".to_owned(), |us| format!("{us:.0} µs")),
    )
}

/// The drain line of one store.
fn print_drain(r: &Results) {
    let d = &r.drain;
    let per_list_ms = |secs: f64| secs * 1e3 / DRAIN_LISTS as f64;
    println!(
        "Drain ({}): {DRAIN_LISTS} queued two-entry lists, MANIFOLD_WORKERS={DRAIN_WORKERS}: \
         {:.1} lists/s from the first claim to the last finish ({:.2} s), \
         {:.1} lists/s from process start ({:.2} s); {} claims; CPU per list: serve {:.1} ms, \
         PostgreSQL {}",
        r.kind.label(),
        d.rate(),
        d.drained.as_secs_f64(),
        DRAIN_LISTS as f64 / d.wall.as_secs_f64(),
        d.wall.as_secs_f64(),
        d.claims,
        per_list_ms(d.cpu.0),
        d.cpu
            .1
            .map_or("-".to_owned(), |s| format!("{:.1} ms", per_list_ms(s))),
    );
    for w in &r.watch {
        let pass = |p: &Pass| {
            format!(
                "{} checks in {:.2} s ({:.0} checks/s; {:.1} registry requests per check, {} token \
                 requests)",
                p.checked,
                p.took.as_secs_f64(),
                p.rate(),
                p.requests as f64 / DRAIN_LISTS as f64,
                p.tokens,
            )
        };
        println!(
            "Watch ({}, {} registry): the {DRAIN_LISTS} drained two-entry lists due at once, a \
             process with no workers: cold (from its start) {}; warm (due again) {}; the floor \
             client, {} lists at a time: {:.2} s ({:.0} checks/s; {} requests, {} tokens before \
             the clock); warm {:.2}× the floor, cold {:.2}×",
            r.kind.label(),
            w.auth,
            pass(&w.cold),
            pass(&w.warm),
            crate::floor::AT_ONCE,
            w.floor.took.as_secs_f64(),
            w.floor_rate(),
            w.floor.requests,
            w.floor.tokens,
            w.warm.rate() / w.floor_rate(),
            w.cold.rate() / w.floor_rate(),
        );
    }
}

/// The goals line of one store.
fn goals(r: &Results) -> String {
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    let (first, last) = (&r.filter[0], &r.filter[r.filter.len() - 1]);
    let p99 = |f: &FilterRun| f.sequential.percentile_ms(0.99);
    let growth = p99(last) / p99(first);
    let rss = r.memory.iter().map(|(_, mb)| *mb).fold(0.0, f64::max);
    let shares: Vec<f64> = r
        .watch
        .iter()
        .map(|w| w.warm.rate() / w.floor_rate())
        .collect();
    let watch = r
        .watch
        .iter()
        .zip(&shares)
        .map(|(w, share)| format!("{} {share:.2}×", w.auth))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "Goals ({}): {}; {}; \
         filter p99 at {} ≤ {GOAL_FILTER_GROWTH}× at {}: {} ({:.2} ms vs {:.2} ms, {growth:.2}×); \
         POST ≥ {GOAL_POST_RPS}/s: {} ({:.0}); drain ≥ {GOAL_DRAIN_PER_SEC} lists/s: {} ({:.1}); \
         idle memory < {GOAL_IDLE_RSS_MB} MB: {} (max {rss:.1} MB); \
         watch (warm) ≥ {GOAL_WATCH_SHARE}× the floor: {} ({watch})",
        r.kind.label(),
        read_goal(
            r,
            "GET /lists/{id} of a finished list",
            &r.get.reqwest,
            GOAL_GET_SHARE
        ),
        read_goal(
            r,
            &format!("page of {PAGE_SIZE}"),
            &r.page.reqwest,
            GOAL_PAGE_SHARE
        ),
        thousands(last.size),
        thousands(first.size),
        verdict(growth <= GOAL_FILTER_GROWTH),
        p99(last),
        p99(first),
        verdict(r.post.reqwest.rps() >= GOAL_POST_RPS),
        r.post.reqwest.rps(),
        verdict(r.drain.rate() >= GOAL_DRAIN_PER_SEC),
        r.drain.rate(),
        verdict(rss < GOAL_IDLE_RSS_MB),
        verdict(shares.iter().all(|s| *s >= GOAL_WATCH_SHARE)),
    )
}

/// A read's goals beside its figures: its throughput against the same process's `/healthz`
/// (`share` of it at least), and its p99 at [`CONNECTIONS`] connections.
fn read_goal(r: &Results, what: &str, m: &Measured, share: f64) -> String {
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    let healthz = r.healthz.reqwest.rps();
    let ratio = m.rps() / healthz.max(1e-9);
    let p99 = m.percentile_ms(0.99);
    format!(
        "{what} ≥ {share}× /healthz: {} ({ratio:.2}×: {:.0} of {healthz:.0} req/s); \
         its p99 < {GOAL_READ_P99_MS} ms at {CONNECTIONS} connections: {} ({p99:.2} ms)",
        verdict(ratio >= share),
        m.rps(),
        verdict(p99 < GOAL_READ_P99_MS),
    )
}

/// `200000` → `200,000`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

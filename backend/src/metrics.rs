//! The service's metrics, rendered as Prometheus text: HTTP requests, pushes by outcome, push
//! duration, checks of pushed lists, time held back by registries' rate limits. Queue depth and the watch's state (drifted lists, due
//! checks and how late the oldest is) are read from the store at scrape time. One instance per application
//! (no global recorder), shared by the HTTP layer and the workers.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of the push duration histogram.
const BUCKETS: [f64; 10] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

#[derive(Default)]
struct Inner {
    http: BTreeMap<(String, String, u16), u64>,
    pushes: BTreeMap<&'static str, u64>,
    checks: BTreeMap<&'static str, u64>,
    check_requests: u64,
    buckets: [u64; BUCKETS.len()],
    duration_sum: f64,
    duration_count: u64,
}

/// What the store says of the watch at scrape time.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WatchGauges {
    /// Watched lists the last check found drifted.
    pub drifted: i64,
    /// Watched lists whose check is due now and not taken yet.
    pub due: i64,
    /// How long ago the oldest of them became due, in seconds (0 when none is).
    pub lag_secs: f64,
}

/// Counters and a histogram.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    /// Counts one HTTP request by method, route pattern and status. Methods outside the standard
    /// set count as `OTHER`, so a client cannot make new series at will (routes are patterns,
    /// every unmatched path is `(unmatched)`).
    pub fn http_request(&self, method: &str, route: &str, status: u16) {
        const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"];
        let method = METHODS
            .into_iter()
            .find(|m| *m == method)
            .unwrap_or("OTHER");
        let mut inner = self.inner.lock().expect("lock");
        *inner
            .http
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default() += 1;
    }

    /// Counts a push that was not made (`superseded`): no attempt, no duration.
    pub fn push_skipped(&self, outcome: &'static str) {
        *self
            .inner
            .lock()
            .expect("lock")
            .pushes
            .entry(outcome)
            .or_default() += 1;
    }

    /// Counts a check of a pushed list by what it found (`in_sync`, `drifted`, `unknown`) and the
    /// registry requests it made.
    pub fn drift_check(&self, status: &'static str, requests: u64) {
        let mut inner = self.inner.lock().expect("lock");
        *inner.checks.entry(status).or_default() += 1;
        inner.check_requests += requests;
    }

    /// Counts a push attempt's outcome (`succeeded`, `failed`, `retried`) and its duration.
    pub fn push(&self, outcome: &'static str, took: Duration) {
        let mut inner = self.inner.lock().expect("lock");
        *inner.pushes.entry(outcome).or_default() += 1;
        let secs = took.as_secs_f64();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                inner.buckets[i] += 1;
            }
        }
        inner.duration_sum += secs;
        inner.duration_count += 1;
    }

    /// The Prometheus text exposition, with what the store says at scrape time: the queue depth
    /// by job kind and the watch's state.
    pub fn render(&self, queue: &[(String, i64)], watch: &WatchGauges) -> String {
        let inner = self.inner.lock().expect("lock");
        let mut out = String::new();
        header(
            &mut out,
            "http_requests_total",
            "counter",
            "HTTP requests served.",
        );
        for ((method, route, status), n) in &inner.http {
            let route = route.replace('"', "'");
            let labels = format!("method=\"{method}\",route=\"{route}\",status=\"{status}\"");
            let _ = writeln!(out, "manifold_http_requests_total{{{labels}}} {n}");
        }
        header(&mut out, "queue_depth", "gauge", "Jobs waiting or running.");
        for kind in ["push", "callback"] {
            let n = queue.iter().find(|(k, _)| k == kind).map_or(0, |(_, n)| *n);
            let _ = writeln!(out, "manifold_queue_depth{{kind=\"{kind}\"}} {n}");
        }
        header(
            &mut out,
            "pushes_total",
            "counter",
            "Push attempts by outcome.",
        );
        for outcome in ["succeeded", "failed", "retried", "superseded"] {
            let n = inner.pushes.get(outcome).copied().unwrap_or(0);
            let _ = writeln!(out, "manifold_pushes_total{{outcome=\"{outcome}\"}} {n}");
        }
        inner.render_durations(&mut out);
        inner.render_watch(&mut out, watch);
        out
    }
}

impl Inner {
    fn render_watch(&self, out: &mut String, watch: &WatchGauges) {
        header(
            out,
            "lists_drifted",
            "gauge",
            "Watched lists the last check found drifted.",
        );
        let _ = writeln!(out, "manifold_lists_drifted {}", watch.drifted);
        header(
            out,
            "watch_due",
            "gauge",
            "Watched lists whose check is due and not taken yet.",
        );
        let _ = writeln!(out, "manifold_watch_due {}", watch.due);
        header(
            out,
            "watch_lag_seconds",
            "gauge",
            "How late the oldest due check is (0 when the watch keeps up).",
        );
        let _ = writeln!(out, "manifold_watch_lag_seconds {:.3}", watch.lag_secs);
        header(
            out,
            "drift_checks_total",
            "counter",
            "Checks of pushed lists by what they found.",
        );
        for status in ["in_sync", "drifted", "unknown"] {
            let n = self.checks.get(status).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "manifold_drift_checks_total{{status=\"{status}\"}} {n}"
            );
        }
        header(
            out,
            "drift_check_requests_total",
            "counter",
            "Registry requests the checks of pushed lists made.",
        );
        let _ = writeln!(
            out,
            "manifold_drift_check_requests_total {}",
            self.check_requests
        );
    }

    fn render_durations(&self, out: &mut String) {
        let name = "manifold_push_duration_seconds";
        header(
            out,
            "push_duration_seconds",
            "histogram",
            "Time a push attempt took.",
        );
        for (bound, n) in BUCKETS.iter().zip(self.buckets) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {n}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", self.duration_count);
        let _ = writeln!(out, "{name}_sum {}", self.duration_sum);
        let _ = writeln!(out, "{name}_count {}", self.duration_count);
    }
}

/// A metric's `# HELP` and `# TYPE` lines.
/// The store's health: whether its database takes writes, and how many writes it refused
/// because it could not take them (full, unreachable, read-only, busy).
pub fn render_store(out: &mut String, available: bool, write_errors: u64) {
    header(
        out,
        "store_available",
        "gauge",
        "1 while the database takes writes, 0 since a write failed because it could not.",
    );
    let _ = writeln!(out, "manifold_store_available {}", u8::from(available));
    header(
        out,
        "store_write_errors_total",
        "counter",
        "Writes the database refused because it could not take them.",
    );
    let _ = writeln!(out, "manifold_store_write_errors_total {write_errors}");
}

/// Appends, per registry host, the seconds requests to it were held back because it limited the
/// rate (`throttled`: host and seconds, as the registry clients' budgets count them).
pub fn render_throttled(out: &mut String, throttled: &[(String, f64)]) {
    header(
        out,
        "registry_throttled_seconds_total",
        "counter",
        "Seconds requests to a registry were held back because it limited the rate.",
    );
    for (host, seconds) in throttled {
        let host = host.replace(['"', '\\', '\n'], "_");
        let _ = writeln!(
            out,
            "manifold_registry_throttled_seconds_total{{host=\"{host}\"}} {seconds:.3}"
        );
    }
}

/// What the cache of finished lists' answers holds and how it served.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Reads answered from a kept answer.
    pub hits: u64,
    /// Reads that found none at the list's revision.
    pub misses: u64,
    /// Answers kept now.
    pub entries: u64,
    /// Bytes they take (with a fixed cost each).
    pub bytes: u64,
}

/// The cache of finished lists' answers.
pub fn render_list_cache(out: &mut String, stats: &CacheStats) {
    header(
        out,
        "list_cache_reads_total",
        "counter",
        "Reads of a list (alone or in a page) by whether a kept answer served them.",
    );
    let _ = writeln!(
        out,
        "manifold_list_cache_reads_total{{result=\"hit\"}} {}",
        stats.hits
    );
    let _ = writeln!(
        out,
        "manifold_list_cache_reads_total{{result=\"miss\"}} {}",
        stats.misses
    );
    header(
        out,
        "list_cache_entries",
        "gauge",
        "Finished lists' answers kept.",
    );
    let _ = writeln!(out, "manifold_list_cache_entries {}", stats.entries);
    header(
        out,
        "list_cache_bytes",
        "gauge",
        "Bytes the kept answers take (MANIFOLD_LIST_CACHE_MIB bounds them).",
    );
    let _ = writeln!(out, "manifold_list_cache_bytes {}", stats.bytes);
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP manifold_{name} {help}");
    let _ = writeln!(out, "# TYPE manifold_{name} {kind}");
}

/// The registry events received, by receiver and outcome (`accepted`, `duplicate`, `ignored`,
/// `unauthenticated`, `unreadable`, `unknown_source`).
pub fn render_events(out: &mut String, counts: &[(String, &'static str, u64)]) {
    header(
        out,
        "registry_events_total",
        "counter",
        "Registry events received, by receiver and outcome.",
    );
    for (source, outcome, n) in counts {
        let _ = writeln!(
            out,
            "manifold_registry_events_total{{source=\"{source}\",outcome=\"{outcome}\"}} {n}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_counts_requests_pushes_and_queue() {
        let m = Metrics::default();
        m.http_request("GET", "/lists/{id}", 200);
        m.http_request("GET", "/lists/{id}", 200);
        m.push("succeeded", Duration::from_millis(300));
        m.drift_check("drifted", 5);
        let watch = WatchGauges {
            drifted: 2,
            due: 7,
            lag_secs: 12.5,
        };
        let text = m.render(&[("push".into(), 3)], &watch);
        assert!(text.contains("manifold_lists_drifted 2"), "{text}");
        assert!(text.contains("manifold_watch_due 7"), "{text}");
        assert!(text.contains("manifold_watch_lag_seconds 12.500"), "{text}");
        assert!(text.contains("manifold_drift_checks_total{status=\"drifted\"} 1"));
        assert!(text.contains("manifold_drift_check_requests_total 5"));
        assert!(text.contains(
            "manifold_http_requests_total{method=\"GET\",route=\"/lists/{id}\",status=\"200\"} 2"
        ));
        assert!(text.contains("manifold_pushes_total{outcome=\"succeeded\"} 1"));
        assert!(text.contains("manifold_queue_depth{kind=\"push\"} 3"));
        assert!(text.contains("manifold_push_duration_seconds_bucket{le=\"0.5\"} 1"));
        assert!(text.contains("manifold_push_duration_seconds_bucket{le=\"0.25\"} 0"));
    }

    #[test]
    fn made_up_methods_do_not_make_new_series() {
        let m = Metrics::default();
        for i in 0..100 {
            m.http_request(&format!("X-{i}"), "(unmatched)", 404);
        }
        let text = m.render(&[], &WatchGauges::default());
        assert_eq!(
            text.matches("manifold_http_requests_total{").count(),
            1,
            "{text}"
        );
        assert!(text.contains("method=\"OTHER\",route=\"(unmatched)\",status=\"404\"} 100"));
    }
}

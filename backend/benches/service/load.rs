//! The load generator in this process (tokio + reqwest): [`load`] keeps [`CONNECTIONS`]
//! connections busy, each sending one request after another, for a fixed time after a warm-up;
//! [`sequential`] sends a bounded number of requests one at a time. Both return [`Measured`]:
//! counts, latencies and the CPU the service (and PostgreSQL) used meanwhile.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::cpu::{self, Cpu};
use crate::{CONNECTIONS, DURATION, MAX_REQUESTS_PER_CONNECTION, WARMUP};

/// What one load phase measured.
pub struct Measured {
    pub requests: u64,
    pub errors: u64,
    pub elapsed: Duration,
    /// Latencies in microseconds, sorted; empty when only percentiles are known (wrk).
    pub latencies_us: Vec<u32>,
    /// p50, p99 and max in ms, when the latencies themselves are not known.
    pub summary_ms: Option<(f64, f64, f64)>,
    /// CPU seconds the serve process and (PostgreSQL) the database's backends used meanwhile.
    pub cpu: (f64, Option<f64>),
}

impl Measured {
    /// Requests per second.
    pub fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    /// The latency at quantile `p` (1.0: the maximum), in ms.
    pub fn percentile_ms(&self, p: f64) -> f64 {
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

    /// CPU per request of (the serve process, PostgreSQL), in µs.
    pub fn cpu_per_request_us(&self) -> (f64, Option<f64>) {
        let per = |secs: f64| secs * 1e6 / self.requests.max(1) as f64;
        (per(self.cpu.0), self.cpu.1.map(per))
    }
}

/// Sends one request; whether it answered 2xx with a whole body.
async fn send(request: reqwest::RequestBuilder) -> bool {
    match request.send().await {
        Ok(response) => {
            let ok = response.status().is_success();
            ok & response.bytes().await.is_ok()
        }
        Err(_) => false,
    }
}

/// [`CONNECTIONS`] tasks, each sending the request `make` builds (given a running number), one
/// after another, for [`WARMUP`] and then [`DURATION`]. The requests that complete within the
/// latter are counted (throughput is completions per second, also when a request takes about as
/// long as the measured time); one that does not answer 2xx is an error.
pub async fn load<F>(http: &reqwest::Client, cpu: &Cpu, make: F) -> Measured
where
    F: Fn(&reqwest::Client, u64) -> reqwest::RequestBuilder + Send + Sync + 'static,
{
    let make = Arc::new(make);
    let counter = Arc::new(AtomicU64::new(0));
    let measure_from = Instant::now() + WARMUP;
    let end = measure_from + DURATION;
    let sampler = {
        let cpu = cpu.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(measure_from.into()).await;
            let before = cpu.sample();
            tokio::time::sleep_until(end.into()).await;
            cpu::used(before, cpu.sample())
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
                    let ok = send(make(&http, n)).await;
                    let done = Instant::now();
                    if (measure_from..=end).contains(&done) {
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

/// `warmup` uncounted GETs of `url`, then up to `count` counted ones, one at a time, for at most
/// `limit`: latency without queueing.
pub async fn sequential(
    http: &reqwest::Client,
    cpu: &Cpu,
    url: &str,
    (warmup, count): (usize, usize),
    limit: Duration,
) -> Measured {
    for _ in 0..warmup {
        send(http.get(url)).await;
    }
    let before = cpu.sample();
    let started = Instant::now();
    let mut latencies_us = Vec::with_capacity(count);
    let mut errors = 0;
    for _ in 0..count {
        if started.elapsed() >= limit {
            break;
        }
        let sent = Instant::now();
        let ok = send(http.get(url)).await;
        latencies_us.push(sent.elapsed().as_micros() as u32);
        errors += u64::from(!ok);
    }
    let elapsed = started.elapsed();
    let cpu = cpu::used(before, cpu.sample());
    latencies_us.sort_unstable();
    Measured {
        requests: latencies_us.len() as u64,
        errors,
        elapsed,
        latencies_us,
        summary_ms: None,
        cpu,
    }
}

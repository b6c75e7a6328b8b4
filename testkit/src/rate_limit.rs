//! A registry behind a rate limit: a proxy in front of a real `docker-registry` (the quirk
//! doubles' proxying, [`crate::quirks`]) that lets a
//! number of requests a second through — a token bucket holding a second's worth, as GitHub's and
//! Docker Hub's limits are documented to work; a refused request costs nothing — and refuses the
//! rest the way one registry does ([`RateProfile`]). It counts what it passed and refused, and
//! when it passed each request, so a test can say what pace a client kept.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::quirks::{self, Answer, Upstream};

/// How refusals look: each as a registry was seen to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateProfile {
    /// `429` with `Retry-After: 1` (whole seconds, as HTTP allows) and a `TOOMANYREQUESTS` entry:
    /// what distribution-based registries and proxies answer.
    RetryAfter,
    /// GHCR: `429` without `Retry-After`, the wait and the allowed rate only in the error body,
    /// `TOOMANYREQUESTS: retry-after: 10.305464ms, allowed: 2000/minute` (seen in
    /// chainguard-images/images#173, dependabot/cli#380, falcosecurity/plugins#1069).
    Ghcr,
    /// GitHub's secondary rate limit on GHCR pushes: `403` "You have exceeded a secondary rate
    /// limit", no wait named (markrussinovich/refchecker#67; GitHub's REST documentation says to
    /// wait at least a minute then, or `Retry-After` when given — given here, 1 s, to keep tests
    /// short).
    GhcrSecondary,
    /// Docker Hub: `429 TOOMANYREQUESTS` and `RateLimit-Limit`/`RateLimit-Remaining` headers with
    /// the window (`5;w=1`) on every answer; `HEAD` requests are not counted (Docker's
    /// documentation of its pull limits).
    DockerHub,
}

/// The bucket and the counts.
struct Limit {
    per_second: f64,
    profile: RateProfile,
    bucket: Mutex<(f64, Instant)>,
    passed: Mutex<Vec<Instant>>,
    refused: AtomicU64,
}

impl Limit {
    fn take(&self) -> bool {
        let mut bucket = self.bucket.lock().expect("lock");
        let now = Instant::now();
        let (tokens, at) = *bucket;
        let tokens = (tokens + (now - at).as_secs_f64() * self.per_second).min(self.per_second);
        let taken = tokens >= 1.0;
        *bucket = (if taken { tokens - 1.0 } else { tokens }, now);
        taken
    }

    fn remaining(&self) -> u64 {
        self.bucket.lock().expect("lock").0.max(0.0) as u64
    }

    fn refusal(&self) -> Answer {
        let per_minute = (self.per_second * 60.0).round();
        match self.profile {
            RateProfile::RetryAfter => Answer::error(429, "TOOMANYREQUESTS", "too many requests")
                .header("Retry-After", "1"),
            RateProfile::Ghcr => Answer::error(
                429,
                "TOOMANYREQUESTS",
                &format!("retry-after: 10.305464ms, allowed: {per_minute}/minute"),
            ),
            RateProfile::GhcrSecondary => Answer::error(
                403,
                "DENIED",
                "You have exceeded a secondary rate limit. Please wait a few minutes before you \
                 try again.",
            )
            .header("Retry-After", "1"),
            RateProfile::DockerHub => self.with_hub_headers(Answer::error(
                429,
                "TOOMANYREQUESTS",
                "You have reached your unauthenticated pull rate limit.",
            )),
        }
    }

    /// Docker Hub's headers, which it sends on every answer.
    fn with_hub_headers(&self, answer: Answer) -> Answer {
        let limit = self.per_second.round();
        answer
            .header("RateLimit-Limit", &format!("{limit};w=1"))
            .header("RateLimit-Remaining", &format!("{};w=1", self.remaining()))
    }

    /// Whether a request by `method` is let through (counted, when it is one the limit counts).
    fn lets_through(&self, method: &str) -> bool {
        let counted = !(self.profile == RateProfile::DockerHub && method == "HEAD");
        if !counted || self.take() {
            self.passed.lock().expect("lock").push(Instant::now());
            true
        } else {
            self.refused.fetch_add(1, Ordering::Relaxed);
            false
        }
    }
}

struct Shared {
    limit: Arc<Limit>,
    upstream: Upstream,
}

async fn handle(req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let incoming = quirks::incoming(&req, body);
    let limit = &shared.limit;
    let answer = if limit.lets_through(&incoming.method) {
        let target = match incoming.query.as_str() {
            "" => incoming.path.clone(),
            query => format!("{}?{query}", incoming.path),
        };
        let answer = shared.upstream.send(&incoming, &target).await;
        match limit.profile {
            RateProfile::DockerHub => limit.with_hub_headers(answer),
            _ => answer,
        }
    } else {
        limit.refusal()
    };
    quirks::respond(&req, &shared.upstream, answer)
}

/// A registry behind a rate limit, until dropped.
pub struct RateLimited {
    /// `127.0.0.1:PORT`: the address to use instead of the registry's.
    pub addr: String,
    limit: Arc<Limit>,
    server: ServerHandle,
}

impl Drop for RateLimited {
    fn drop(&mut self) {
        drop(self.server.stop(false));
    }
}

impl RateLimited {
    /// Puts the registry at `upstream` behind a limit of `per_second` requests a second (with a
    /// burst of as many), refusing the rest as `profile` does.
    pub fn start(upstream: &str, per_second: f64, profile: RateProfile) -> Self {
        let limit = Arc::new(Limit {
            per_second,
            profile,
            bucket: Mutex::new((per_second, Instant::now())),
            passed: Mutex::new(Vec::new()),
            refused: AtomicU64::new(0),
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let shared = Arc::new(Shared {
            limit: limit.clone(),
            upstream: Upstream::new(upstream),
        });
        let server = quirks::serve(listener, shared, handle);
        Self {
            addr,
            limit,
            server,
        }
    }

    /// Requests let through.
    pub fn passed(&self) -> u64 {
        self.limit.passed.lock().expect("lock").len() as u64
    }

    /// Requests refused.
    pub fn refused(&self) -> u64 {
        self.limit.refused.load(Ordering::Relaxed)
    }

    /// Requests let through a second, from the first to the last, as a share of the limit: 1.0
    /// when a client used all of it. `None` until two passed.
    pub fn pace(&self) -> Option<f64> {
        let passed = self.limit.passed.lock().expect("lock");
        let (first, last) = (passed.first()?, passed.last()?);
        let span = (*last - *first).max(Duration::from_millis(1)).as_secs_f64();
        // The burst of the first second comes free of the rate.
        let paced = passed.len() as f64 - self.limit.per_second;
        (passed.len() > 1).then(|| (paced / span / self.limit.per_second).max(0.0))
    }
}

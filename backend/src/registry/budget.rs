//! One rate budget per registry host, shared by every client one [`super::ClientFactory`] makes —
//! in the service every push, copy, referrer lookup and watch check; on the command line the one
//! client. A request is admitted by its host's budget before it is sent and tells the budget how
//! it was answered.
//!
//! The budget keeps three things. How many requests may be in flight at the host: the window
//! halves when the registry limits us and grows back by one for each window of answers (AIMD).
//! Until when the registry asked everyone to wait (`Retry-After`, GHCR's wait in its error body, a
//! spent `RateLimit-Remaining` until its reset): nothing is sent to it before. And, once it has
//! limited us, the pace at which requests may start: the rate it said it allows, or the rate of
//! answers between its refusals; the pace grows slowly while nothing is refused, so it finds the
//! limit again when the limit rises. Time spent holding requests back is counted per host for
//! `/metrics`.
//!
//! Owns the waiting; it reads nothing off answers itself (that is `throttle`) and sends nothing.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::throttle::{Throttle, ThrottleKind};

/// The longest a request waits in all while its registry keeps refusing it for the rate; a wait
/// the registry asks for that runs past it fails the request at once, saying how long it asked.
pub(crate) const MAX_THROTTLED: Duration = Duration::from_secs(300);
/// How much the pace grows with each answer the registry did not refuse.
const PACE_GROWTH: f64 = 1.005;
/// A pace above this is no pace at all: it is dropped.
const PACE_CEILING: f64 = 1000.0;
/// The slowest pace: one request every two seconds.
const MIN_PACE: f64 = 0.5;
/// The least time over which the rate of answers is measured.
const MIN_SPAN: Duration = Duration::from_secs(1);
/// The wait after a refusal that names none: the first, doubled for each refusal in a row.
const FIRST_WAIT: Duration = Duration::from_millis(250);
/// The longest wait chosen without the registry naming one.
const MAX_GUESSED_WAIT: Duration = Duration::from_secs(10);

/// The budgets of every host one factory's clients talked to.
#[derive(Debug)]
pub(crate) struct Budgets {
    /// The largest window: requests in flight at one host.
    max_in_flight: usize,
    hosts: Mutex<HashMap<String, Arc<Budget>>>,
}

impl Budgets {
    /// No host talked to yet; at most `max_in_flight` requests at one host at once.
    pub(crate) fn new(max_in_flight: usize) -> Self {
        Self {
            max_in_flight: max_in_flight.max(1),
            hosts: Mutex::new(HashMap::new()),
        }
    }

    /// The budget of `registry`, made on first use.
    pub(crate) fn of(&self, registry: &str) -> Arc<Budget> {
        let mut hosts = self.hosts.lock().expect("lock");
        hosts
            .entry(registry.to_owned())
            .or_insert_with(|| Arc::new(Budget::new(registry, self.max_in_flight)))
            .clone()
    }

    /// Per host, in seconds, how long its requests were held back because it limited us.
    pub(crate) fn throttled(&self) -> Vec<(String, f64)> {
        let hosts = self.hosts.lock().expect("lock");
        let mut out: Vec<_> = hosts
            .iter()
            .map(|(host, b)| (host.clone(), b.state().throttled.as_secs_f64()))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

/// One host's budget.
#[derive(Debug)]
pub(crate) struct Budget {
    registry: String,
    max: f64,
    state: Mutex<State>,
    changed: Notify,
}

#[derive(Debug)]
struct State {
    in_flight: usize,
    /// Requests that may be in flight (fractional: it grows by `1/window` an answer).
    window: f64,
    /// Nothing is sent before this: the registry asked us to wait.
    resume_at: Option<Instant>,
    /// Requests a second, once the registry limited us.
    pace: Option<f64>,
    /// When the next request may start under the pace.
    next_slot: Instant,
    /// When the registry last limited us (the start of the current span of answers).
    since: Instant,
    /// Whether `since` is a refusal (else the first request).
    limited_before: bool,
    /// Answers not refused to requests sent since `since`.
    answered: u32,
    /// The rate measured when the registry last limited us, still counting the answers that
    /// come late to requests sent before it did.
    measured: Option<Measured>,
    /// When the answers of the last [`MIN_SPAN`] came, for the first time the registry limits
    /// us: how fast it let requests through just before it did.
    recent: VecDeque<Instant>,
    /// Refusals in a row that named no wait.
    unhinted: u32,
    /// The end of the time already counted as throttled.
    held_until: Instant,
    /// Time requests were held back, in all.
    throttled: Duration,
}

/// Answers the registry let through over a span of time: a rate.
#[derive(Debug, Clone, Copy)]
struct Measured {
    answers: u32,
    span: Duration,
}

impl Measured {
    fn rate(self) -> Option<f64> {
        (self.answers > 0)
            .then(|| (f64::from(self.answers) / self.span.as_secs_f64()).max(MIN_PACE))
    }
}

/// Why a request may not go yet.
enum Gate {
    Go,
    Until(Instant),
    Full,
}

impl Budget {
    fn new(registry: &str, max_in_flight: usize) -> Self {
        let now = Instant::now();
        Self {
            registry: registry.to_owned(),
            max: max_in_flight as f64,
            state: Mutex::new(State {
                in_flight: 0,
                window: max_in_flight as f64,
                resume_at: None,
                pace: None,
                next_slot: now,
                since: now,
                limited_before: false,
                answered: 0,
                measured: None,
                recent: VecDeque::new(),
                unhinted: 0,
                held_until: now,
                throttled: Duration::ZERO,
            }),
            changed: Notify::new(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("lock")
    }

    /// Waits until a request may be sent to the host. Fails at once, with the wait the registry
    /// asked for, when that wait runs past `deadline`.
    pub(crate) async fn admit(&self, deadline: Instant) -> Result<Ticket<'_>, Duration> {
        loop {
            let changed = self.changed.notified();
            let until = {
                let mut state = self.state();
                let now = Instant::now();
                match state.gate(now) {
                    Gate::Go => {
                        state.take(now);
                        return Ok(Ticket {
                            budget: self,
                            started: now,
                            settled: false,
                        });
                    }
                    Gate::Until(t) if state.resume_at == Some(t) && t > deadline => {
                        return Err(t - now);
                    }
                    Gate::Until(t) => {
                        state.count_held(now, t);
                        Some(t)
                    }
                    Gate::Full => None,
                }
            };
            match until {
                Some(t) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(t) => {}
                        () = changed => {}
                    }
                }
                None => changed.await,
            }
        }
    }

    /// Asks everyone to wait `wait` from now (a spent `RateLimit-Remaining`), without taking the
    /// answer as a refusal.
    pub(crate) fn pause(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut state = self.state();
        if state.resume_at.is_none_or(|t| t < until) {
            state.resume_at = Some(until);
        }
    }

    fn settle(&self, started: Instant, outcome: Option<Outcome>) {
        let mut state = self.state();
        state.in_flight = state.in_flight.saturating_sub(1);
        match outcome {
            Some(Outcome::Answered) => state.answered(self.max, started, Instant::now()),
            Some(Outcome::Limited(throttle)) => {
                let now = Instant::now();
                if let Some(note) = state.limited(started, now, &throttle) {
                    tracing::warn!(registry = %self.registry, "{note}");
                }
            }
            None => {}
        }
        drop(state);
        self.changed.notify_waiters();
    }
}

/// How a request was answered, as far as the budget cares.
enum Outcome {
    /// Not refused for the rate.
    Answered,
    /// Limited.
    Limited(Throttle),
}

impl State {
    fn gate(&self, now: Instant) -> Gate {
        if let Some(t) = self.resume_at.filter(|t| *t > now) {
            return Gate::Until(t);
        }
        if self.in_flight >= (self.window as usize).max(1) {
            return Gate::Full;
        }
        if self.pace.is_some() && self.next_slot > now {
            return Gate::Until(self.next_slot);
        }
        Gate::Go
    }

    fn take(&mut self, now: Instant) {
        self.in_flight += 1;
        if let Some(pace) = self.pace {
            self.next_slot = self.next_slot.max(now) + Duration::from_secs_f64(1.0 / pace);
        }
    }

    fn count_held(&mut self, now: Instant, until: Instant) {
        let from = self.held_until.max(now);
        if until > from {
            self.throttled += until - from;
            self.held_until = until;
        }
    }

    fn answered(&mut self, max: f64, started: Instant, now: Instant) {
        if self.limited_before && started <= self.since {
            // Let through before the registry limited us, answered after: part of that rate.
            if let Some(measured) = &mut self.measured {
                measured.answers += 1;
                if let (Some(pace), Some(rate)) = (self.pace, measured.rate()) {
                    self.pace = Some(pace.max(rate));
                }
            }
        } else {
            self.answered = self.answered.saturating_add(1);
        }
        if !self.limited_before {
            while self.recent.front().is_some_and(|t| now - *t > MIN_SPAN) {
                self.recent.pop_front();
            }
            self.recent.push_back(now);
        }
        self.unhinted = 0;
        self.window = (self.window + 1.0 / self.window).min(max);
        if let Some(pace) = self.pace {
            let grown = pace * PACE_GROWTH;
            self.pace = (grown < PACE_CEILING).then_some(grown);
        }
    }

    /// Takes a limited answer: halves the window and measures the pace once for each time the
    /// registry limits us (answers to requests sent before it did are part of that same time), and
    /// waits as asked. Returns what to log, once for each such time.
    fn limited(&mut self, started: Instant, now: Instant, throttle: &Throttle) -> Option<String> {
        let new_event = !self.limited_before || started > self.since;
        // A guessed wait doubles with each time the registry limits us in a row, not with each
        // refusal of the requests that were in flight then.
        if new_event && throttle.wait.is_none() {
            self.unhinted += 1;
        }
        let wait = throttle.wait.unwrap_or_else(|| {
            let doubled = FIRST_WAIT.saturating_mul(1 << (self.unhinted.clamp(1, 8) - 1));
            doubled.min(MAX_GUESSED_WAIT)
        });
        let until = now + wait;
        if self.resume_at.is_none_or(|t| t < until) {
            self.resume_at = Some(until);
        }
        if !new_event {
            return None;
        }
        self.window = (self.window / 2.0).max(1.0);
        if throttle.kind == ThrottleKind::Refused {
            // The rate the registry allowed since it last limited us (the first time, in the
            // last second), growing with late answers; with nothing answered, half the pace
            // there was (none: the window alone bounds the next requests).
            let (answers, since) = if self.limited_before {
                (self.answered, self.since)
            } else {
                let first = self.recent.front().copied().unwrap_or(now);
                (u32::try_from(self.recent.len()).unwrap_or(u32::MAX), first)
            };
            let measured = Measured {
                answers,
                span: (now - since).max(MIN_SPAN),
            };
            let halved = self.pace.map(|p| (p / 2.0).max(MIN_PACE));
            self.pace = throttle.allowed_per_sec.or(measured.rate()).or(halved);
            self.measured = throttle.allowed_per_sec.is_none().then_some(measured);
        }
        self.since = now;
        self.limited_before = true;
        self.answered = 0;
        self.recent.clear();
        Some(format!(
            "the registry limits the rate: waiting {:.1} s, then {} request(s) at once{}",
            wait.as_secs_f64(),
            (self.window as usize).max(1),
            self.pace
                .map_or_else(String::new, |p| format!(", {p:.1} a second"))
        ))
    }
}

/// A request admitted by its host's budget. Tell it how the request was answered; dropped
/// untold (the request failed on the way), it only frees its place.
pub(crate) struct Ticket<'b> {
    budget: &'b Budget,
    started: Instant,
    settled: bool,
}

impl Ticket<'_> {
    /// The registry answered without limiting the request.
    pub(crate) fn answered(mut self) {
        self.settled = true;
        self.budget.settle(self.started, Some(Outcome::Answered));
    }

    /// The registry limited the request.
    pub(crate) fn limited(mut self, throttle: Throttle) {
        self.settled = true;
        self.budget
            .settle(self.started, Some(Outcome::Limited(throttle)));
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.budget.settle(self.started, None);
        }
    }
}

#[cfg(test)]
#[path = "budget_tests.rs"]
mod tests;

//! The events' rate limit: one token bucket per process over all receivers (refilled at
//! `MANIFOLD_EVENT_RATE` a second up to `MANIFOLD_EVENT_BURST`). Counts only; the pipeline
//! refuses what it cannot take.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A token bucket.
pub(super) struct Bucket {
    rate: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl Bucket {
    /// A full bucket refilled at `rate` a second, holding `burst` at most.
    pub(super) fn new(rate: u32, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            rate: f64::from(rate.max(1)),
            burst,
            state: Mutex::new((burst, Instant::now())),
        }
    }

    /// Takes `n` tokens at `now`, or says how long until there are enough.
    pub(super) fn take(&self, n: usize, now: Instant) -> Result<(), Duration> {
        let n = n as f64;
        let mut state = self.state.lock().expect("lock");
        let (tokens, at) = &mut *state;
        let elapsed = now.saturating_duration_since(*at).as_secs_f64();
        *tokens = (*tokens + elapsed * self.rate).min(self.burst);
        *at = now;
        if *tokens >= n {
            *tokens -= n;
            return Ok(());
        }
        let wait = (n.min(self.burst) - *tokens) / self.rate;
        Err(Duration::from_secs_f64(wait.max(0.001)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_gives_its_burst_then_its_rate() {
        let bucket = Bucket::new(10, 3);
        let start = Instant::now();

        assert!(bucket.take(3, start).is_ok());
        let wait = bucket.take(1, start).unwrap_err();
        assert!(
            wait <= Duration::from_millis(100) && wait > Duration::ZERO,
            "{wait:?}"
        );
        assert!(bucket.take(1, start + Duration::from_millis(100)).is_ok());
        assert!(bucket.take(1, start + Duration::from_millis(100)).is_err());
    }
}

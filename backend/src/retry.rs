//! The one retry policy: capped exponential backoff with jitter, and the one loop that retries an
//! operation under it. Registry requests, token requests and blob copies retry in process with
//! [`RetryPolicy::run`]; queued jobs retry across processes, scheduled [`RetryPolicy::delay`]
//! ahead in the store.

use std::future::Future;
use std::time::Duration;

/// How failed work is retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = no retries).
    pub max_attempts: u32,
    /// The first delay.
    pub base_delay: Duration,
    /// The longest delay, and the longest `Retry-After` honoured.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// The registry client's: 4 attempts, 200 ms doubling up to 10 s.
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
        }
    }
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Trying again cannot help.
    Stop,
    /// Try again after the policy's delay, or after this one (a server's `Retry-After`, capped).
    Retry(Option<Duration>),
    /// Try again now, without counting an attempt: the server limited the rate, and whoever
    /// sends the next attempt waits as it asked (the registry's rate budget) and bounds how long.
    Again,
}

impl RetryPolicy {
    /// The delay before retry number `attempt` (1-based: the delay after the first failure),
    /// `base · 2^(attempt-1)` capped at `max_delay`, with jitter in its upper half.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)));
        let capped = exp.min(self.max_delay);
        let half = capped / 2;
        half + half.mul_f64(rand::random::<f64>())
    }

    /// Whether an attempt numbered `attempt` (1-based) may be followed by another.
    pub fn may_retry(&self, attempt: u32) -> bool {
        attempt < self.max_attempts
    }

    /// Runs `op` (given the attempt number, from 1) until it succeeds, `verdict` says stop, or the
    /// attempts run out; a failure comes back with the number of attempts made.
    pub async fn run<T, E, Fut>(
        &self,
        mut op: impl FnMut(u32) -> Fut,
        verdict: impl Fn(&E) -> Verdict,
    ) -> Result<T, (E, u32)>
    where
        Fut: Future<Output = Result<T, E>>,
    {
        let mut attempt = 1;
        loop {
            match op(attempt).await {
                Ok(value) => return Ok(value),
                Err(e) => match verdict(&e) {
                    Verdict::Again => {}
                    Verdict::Retry(after) if self.may_retry(attempt) => {
                        let delay =
                            after.map_or_else(|| self.delay(attempt), |d| d.min(self.max_delay));
                        tokio::time::sleep(delay).await;
                        attempt += 1;
                    }
                    _ => return Err((e, attempt)),
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[test]
    fn the_delay_grows_and_stays_under_its_cap() {
        let policy = RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(300),
        };
        let first = policy.delay(1);
        assert!(first >= Duration::from_millis(500) && first <= Duration::from_secs(1));
        let third = policy.delay(3);
        assert!(third >= Duration::from_secs(2) && third <= Duration::from_secs(4));
        assert!(policy.delay(30) <= Duration::from_secs(300));
        assert!(policy.delay(u32::MAX) >= Duration::from_secs(150));
    }

    fn fast(max_attempts: u32) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
        }
    }

    #[tokio::test]
    async fn the_loop_retries_what_may_pass_until_the_attempts_run_out() {
        let calls = AtomicU32::new(0);
        let result: Result<(), _> = fast(3)
            .run(
                |_| async {
                    calls.fetch_add(1, Ordering::Relaxed);
                    Err("503")
                },
                |_| Verdict::Retry(None),
            )
            .await;
        assert_eq!(result, Err(("503", 3)));
        assert_eq!(calls.load(Ordering::Relaxed), 3);
    }

    #[tokio::test]
    async fn an_attempt_sent_again_uncounted_keeps_its_number_and_costs_no_attempt() {
        let calls = AtomicU32::new(0);
        let result: Result<u32, _> = fast(2)
            .run(
                |attempt| {
                    let call = calls.fetch_add(1, Ordering::Relaxed) + 1;
                    async move {
                        match call {
                            1..=5 => Err("429"),
                            _ if attempt == 1 => Err("503"),
                            _ => Ok(attempt),
                        }
                    }
                },
                |e| match *e {
                    "429" => Verdict::Again,
                    _ => Verdict::Retry(None),
                },
            )
            .await;
        assert_eq!(
            result,
            Ok(2),
            "five refusals, then one counted failure of two"
        );
        assert_eq!(calls.load(Ordering::Relaxed), 7);
    }

    #[tokio::test]
    async fn the_loop_stops_at_once_on_what_cannot_pass_and_returns_a_success() {
        let stopped: Result<(), _> = fast(5)
            .run(|_| async { Err("404") }, |_| Verdict::Stop)
            .await;
        assert_eq!(stopped, Err(("404", 1)));
        let second = fast(5)
            .run(
                |attempt| async move {
                    if attempt == 2 {
                        Ok(attempt)
                    } else {
                        Err("reset")
                    }
                },
                |_| Verdict::Retry(Some(Duration::from_secs(60))),
            )
            .await;
        assert_eq!(
            second,
            Ok(2),
            "a Retry-After longer than the cap waits only the cap"
        );
    }
}

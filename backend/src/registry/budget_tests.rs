//! The budget's rules, on tokio's paused clock: no test sleeps in real time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use super::*;

fn refused(wait: Option<Duration>) -> Throttle {
    Throttle {
        kind: ThrottleKind::Refused,
        wait,
        allowed_per_sec: None,
    }
}

fn far() -> Instant {
    Instant::now() + Duration::from_secs(3600)
}

#[tokio::test(start_paused = true)]
async fn a_refusal_halves_the_window_and_answers_grow_it_back() {
    let budget = Budget::new("r.example", 8);
    budget
        .admit(far())
        .await
        .unwrap()
        .limited(refused(Some(Duration::ZERO)));
    assert_eq!(budget.state().window, 4.0);
    for _ in 0..4 {
        budget.admit(far()).await.unwrap().answered();
    }
    assert!(
        (budget.state().window - 5.0).abs() < 0.1,
        "one more for a window of answers: {}",
        budget.state().window
    );
}

#[tokio::test(start_paused = true)]
async fn answers_to_requests_sent_before_a_refusal_do_not_cut_the_window_again() {
    let budget = Budget::new("r.example", 8);
    let (a, b, c) = (
        budget.admit(far()).await.unwrap(),
        budget.admit(far()).await.unwrap(),
        budget.admit(far()).await.unwrap(),
    );
    tokio::time::advance(Duration::from_millis(10)).await;
    a.limited(refused(Some(Duration::ZERO)));
    b.limited(refused(Some(Duration::ZERO)));
    c.limited(refused(Some(Duration::ZERO)));
    assert_eq!(budget.state().window, 4.0, "one cut for one refusal burst");
    tokio::time::advance(Duration::from_millis(10)).await;
    budget
        .admit(far())
        .await
        .unwrap()
        .limited(refused(Some(Duration::ZERO)));
    assert_eq!(
        budget.state().window,
        2.0,
        "a request sent after it cuts again"
    );
}

#[tokio::test(start_paused = true)]
async fn the_wait_a_registry_asks_for_holds_every_request_and_is_counted() {
    let budget = Budget::new("r.example", 8);
    let start = Instant::now();
    budget
        .admit(far())
        .await
        .unwrap()
        .limited(refused(Some(Duration::from_secs(3))));
    let (first, second) = tokio::join!(budget.admit(far()), budget.admit(far()));
    let (first, second) = (first.unwrap(), second.unwrap());
    assert!(first.started - start >= Duration::from_secs(3));
    assert!(second.started - start >= Duration::from_secs(3));
    let held = budget.state().throttled;
    assert!(
        held >= Duration::from_secs(3) && held < Duration::from_secs(4),
        "the 3 s counted once, not once per waiting request: {held:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_wait_past_the_deadline_fails_at_once_and_says_how_long() {
    let budget = Budget::new("r.example", 8);
    budget
        .admit(far())
        .await
        .unwrap()
        .limited(refused(Some(Duration::from_secs(21_600))));
    let start = Instant::now();
    let refused_now = budget
        .admit(start + Duration::from_secs(300))
        .await
        .err()
        .unwrap();
    assert_eq!(Instant::now(), start, "no wait before failing");
    assert!(refused_now > Duration::from_secs(21_000), "{refused_now:?}");
}

#[tokio::test(start_paused = true)]
async fn the_window_bounds_requests_in_flight_and_a_finished_one_lets_the_next_in() {
    let budget = Arc::new(Budget::new("r.example", 2));
    let (a, _b) = (
        budget.admit(far()).await.unwrap(),
        budget.admit(far()).await.unwrap(),
    );
    let waiting = {
        let budget = budget.clone();
        tokio::spawn(async move { budget.admit(far()).await.map(|t| t.answered()).is_ok() })
    };
    tokio::time::advance(Duration::from_secs(1)).await;
    assert!(
        !waiting.is_finished(),
        "a third waits while two are in flight"
    );
    drop(a);
    assert!(waiting.await.unwrap());
}

#[tokio::test(start_paused = true)]
async fn a_rate_the_registry_states_is_the_pace() {
    let budget = Budget::new("r.example", 8);
    let ghcr = Throttle {
        allowed_per_sec: Some(4.0),
        ..refused(Some(Duration::ZERO))
    };
    budget.admit(far()).await.unwrap().limited(ghcr);
    let start = Instant::now();
    for _ in 0..9 {
        drop(budget.admit(far()).await.unwrap());
    }
    let took = Instant::now() - start;
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_millis(2100),
        "9 starts at 4 a second: {took:?}"
    );
}

/// A registry that allows `rate` requests a second with a burst of as many, refusing the rest
/// with `Retry-After: 1` (whole seconds, as HTTP has it); refusals cost it nothing.
struct Bucket {
    rate: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn take(&mut self) -> bool {
        let now = Instant::now();
        self.tokens = (self.tokens + (now - self.at).as_secs_f64() * self.rate).min(self.rate);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[tokio::test(start_paused = true)]
async fn eight_workers_behind_five_a_second_get_at_least_four_a_second_through() {
    let budget = Arc::new(Budget::new("r.example", 32));
    let bucket = Arc::new(Mutex::new(Bucket {
        rate: 5.0,
        tokens: 5.0,
        at: Instant::now(),
    }));
    let (passed, refusals) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    let end = Instant::now() + Duration::from_secs(120);
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let (budget, bucket) = (budget.clone(), bucket.clone());
            let (passed, refusals) = (passed.clone(), refusals.clone());
            tokio::spawn(async move {
                while Instant::now() < end {
                    let ticket = budget.admit(far()).await.unwrap();
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    if bucket.lock().unwrap().take() {
                        passed.fetch_add(1, Ordering::Relaxed);
                        ticket.answered();
                    } else {
                        refusals.fetch_add(1, Ordering::Relaxed);
                        ticket.limited(refused(Some(Duration::from_secs(1))));
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    let (passed, refusals) = (
        passed.load(Ordering::Relaxed),
        refusals.load(Ordering::Relaxed),
    );
    assert!(
        f64::from(passed) >= 0.8 * 5.0 * 120.0,
        "{passed} passed in 120 s ({refusals} refused)"
    );
    assert!(
        refusals * 10 < passed,
        "the pace keeps refusals rare: {refusals} refused, {passed} passed"
    );
}

#[tokio::test(start_paused = true)]
async fn a_guessed_wait_doubles_per_time_limited_not_per_refused_request() {
    let budget = Budget::new("r.example", 8);
    let burst: Vec<_> = futures::future::join_all((0..6).map(|_| budget.admit(far())))
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let start = Instant::now();
    for ticket in burst {
        ticket.limited(refused(None));
    }
    assert_eq!(
        budget.state().resume_at,
        Some(start + FIRST_WAIT),
        "six refusals of one burst wait the first guess, not 2^5 times it"
    );
    tokio::time::advance(FIRST_WAIT).await;
    budget.admit(far()).await.unwrap().limited(refused(None));
    assert_eq!(
        budget.state().resume_at,
        Some(Instant::now() + FIRST_WAIT * 2)
    );
}

//! Time as a dependency: the one clock the store's "now" (leases, backoffs, due checks), the
//! workers' retry times and the watch's next checks read. In production it is the system's (and
//! on PostgreSQL the database's own, shared by every process); tests hold a manual one and move it
//! on, instead of sleeping until a lease or a backoff has passed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

/// The system clock, or a manual one that moves when told — and by one microsecond each time it is
/// read, so that what happens one after another gets times one after another, as with a real
/// clock.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    manual: Option<Arc<Mutex<DateTime<Utc>>>>,
}

impl Clock {
    /// The system's clock.
    pub fn system() -> Self {
        Self::default()
    }

    /// A clock that stands at the system's time now, and moves only by [`Clock::advance`].
    pub fn manual() -> Self {
        Self {
            manual: Some(Arc::new(Mutex::new(Utc::now()))),
        }
    }

    /// The time now.
    pub fn now(&self) -> DateTime<Utc> {
        match &self.manual {
            Some(at) => {
                let mut at = at.lock().unwrap_or_else(|e| e.into_inner());
                *at += chrono::Duration::microseconds(1);
                *at
            }
            None => Utc::now(),
        }
    }

    /// The time a manual clock stands at (`None` for the system's: its database decides).
    pub fn frozen(&self) -> Option<DateTime<Utc>> {
        self.manual.as_ref().map(|_| self.now())
    }

    /// Moves a manual clock on by `by` (the system's moves by itself: nothing happens).
    pub fn advance(&self, by: Duration) {
        if let Some(at) = &self.manual {
            let mut at = at.lock().unwrap_or_else(|e| e.into_inner());
            *at += chrono::Duration::from_std(by).unwrap_or(chrono::Duration::MAX);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_when_told_a_tick_per_reading_and_its_copies_move_with_it() {
        let clock = Clock::manual();
        let copy = clock.clone();
        let start = clock.now();

        std::thread::sleep(Duration::from_millis(5));
        let tick = chrono::Duration::microseconds(1);
        assert_eq!(clock.now(), start + tick, "a microsecond per reading");
        copy.advance(Duration::from_secs(90));

        assert_eq!(
            clock.now(),
            start + chrono::Duration::seconds(90) + tick * 2
        );
        assert!(clock.frozen().is_some());
        assert_eq!(Clock::system().frozen(), None);
    }
}

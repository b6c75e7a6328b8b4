//! What the store knows of its database's health: whether the last write (or the readiness
//! probe) went through, said once in the log when writes start failing and once when they work
//! again; the probe itself (one small committed write); and the pause before a write that
//! conflicted with another transaction is tried again.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::sql::{Backend, Session, Value};
use super::{DbError, Unavailable};

/// Whether writes are failing now, and why.
#[derive(Debug, Default)]
pub(super) struct Health {
    failing: Mutex<Option<Unavailable>>,
    /// Writes refused because the database could not take them.
    refused: AtomicU64,
}

impl Health {
    /// Notes what a write answered: a database that cannot take it marks the store failing, a
    /// write that went through marks it healthy again.
    pub(super) fn noted_write<T>(&self, result: Result<T, DbError>) -> Result<T, DbError> {
        match &result {
            Ok(_) => self.set(None, None),
            Err(e) => {
                if let Some(why) = e.unavailable() {
                    self.refused.fetch_add(1, Ordering::Relaxed);
                    self.set(Some(why), Some(e));
                }
            }
        }
        result
    }

    /// Why writes are failing now, and how many were refused so far.
    pub(super) fn now(&self) -> (Option<Unavailable>, u64) {
        let failing = *self.failing.lock().unwrap_or_else(|e| e.into_inner());
        (failing, self.refused.load(Ordering::Relaxed))
    }

    /// Notes what a read answered: only a database that cannot be reached says anything about
    /// writes.
    pub(super) fn noted_read<T>(&self, result: Result<T, DbError>) -> Result<T, DbError> {
        if let Err(e) = &result
            && e.unavailable() == Some(Unavailable::Unreachable)
        {
            self.set(Some(Unavailable::Unreachable), Some(e));
        }
        result
    }

    fn set(&self, now: Option<Unavailable>, cause: Option<&DbError>) {
        let mut failing = self.failing.lock().unwrap_or_else(|e| e.into_inner());
        match (*failing, now, cause) {
            (None, Some(why), Some(cause)) => {
                tracing::error!("the store cannot take writes: {}: {cause}", why.reason());
            }
            (Some(_), None, _) => tracing::warn!("the store takes writes again"),
            _ => {}
        }
        *failing = now;
    }
}

/// The readiness probe: one small write, committed (a database that is full, read-only or gone
/// refuses it as it would refuse a list).
pub(super) async fn probe<B: Backend>(db: &B) -> Result<(), DbError> {
    let mut session = db.write_one().await?;
    session
        .execute(&db.statements().probe, vec![Value::Int(Some(1))])
        .await?;
    session.commit().await
}

/// How long to wait before the `tries`-th new try of a write that conflicted with another
/// transaction: a few milliseconds, doubling, with jitter so the two sides do not meet again.
pub(super) fn conflict_pause(tries: u32) -> Duration {
    let base = 5u64 << tries.min(6);
    Duration::from_millis(base / 2 + rand::random::<u64>() % base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_store_is_healthy_again_after_one_write_goes_through() {
        let health = Health::default();
        let full = DbError::Sqlx(sqlx::Error::PoolClosed);
        assert!(health.noted_write::<()>(Err(full)).is_err());
        assert_eq!(
            *health.failing.lock().unwrap(),
            Some(Unavailable::Unreachable)
        );
        let corrupt = DbError::Corrupt {
            what: "spec",
            message: "m".into(),
        };
        let _ = health.noted_write::<()>(Err(corrupt));
        assert!(
            health.failing.lock().unwrap().is_some(),
            "a bug says nothing"
        );
        health.noted_write(Ok(())).unwrap();
        assert_eq!(*health.failing.lock().unwrap(), None);
    }

    #[test]
    fn the_pause_after_a_conflict_grows_and_stays_short() {
        for tries in 1..10 {
            let pause = conflict_pause(tries);
            assert!(pause >= Duration::from_millis(5), "{pause:?}");
            assert!(pause <= Duration::from_millis(480), "{pause:?}");
        }
    }
}

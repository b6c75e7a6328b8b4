//! Every SQL statement of the service, and its migrations, behind one [`Store`]: PostgreSQL for
//! production and several processes, or SQLite embedded for running with nothing else installed.
//! The choice is made once, from the database URL.
//!
//! The logic is written once (`lists.rs`, `queue.rs`, `watch.rs`) against the two backends'
//! common contract (`sql.rs`; every statement is in `statements.rs`); `postgres.rs` and
//! `sqlite.rs` only connect, bind and read.
//! Services call the store; the store never calls services: it imports only `model` and `spec`.
//! Completion and failure of a job are fenced by its attempt number, so a worker that lost its
//! lease cannot overwrite the work of the one that took the job over. Every write goes through
//! [`Store::writing`]: a conflict between transactions is made again, and what the database
//! answered is noted in its health (`health.rs`), which `/readyz` and `/metrics` read; which
//! errors mean "cannot take the work now" is `error.rs`.

mod error;
mod health;
mod lists;
mod postgres;
mod publish;
mod queue;
mod releases;
mod repair;
mod rows;
mod sql;
mod sqlite;
mod statements;
mod timeline;
mod watch;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

pub use error::{DbError, Unavailable};
pub use postgres::{JOBS_CHANNEL, MIGRATOR, PgStore};
pub use releases::{ReleaseRecord, ReleaseState, StageRecord};
pub use rows::{
    ClaimedJob, DriftRecord, JobKind, KeyPage, ListFilter, ListKey, ListRecord, NewList, Page,
    PublishMember, PushOutcome,
};
pub use sqlite::{MIGRATOR as SQLITE_MIGRATOR, SqliteStore};
pub use watch::{DriftFound, DriftRecorded};

use crate::model::{Clock, ListStatus};
use health::Health;

/// What `insert_list` did.
#[derive(Debug)]
pub enum Inserted {
    /// A new list and its push job were written.
    New(ListRecord),
    /// The idempotency key was used before with the same request: the first list.
    Existing(ListRecord),
    /// The idempotency key was used before with another request.
    KeyReused,
    /// The submission names an open release that expects other platforms (the message says
    /// which).
    Conflict(String),
}

/// What cancel and retry found.
#[derive(Debug)]
pub enum Transition {
    /// Done; the list as it is now.
    Done(Box<ListRecord>),
    /// No such list.
    NotFound,
    /// The list's status does not allow it.
    Conflict(ListStatus),
}

/// The store, on one of its two backends, and what it knows of the database's health.
#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
    health: Arc<Health>,
}

/// One of the two backends.
#[derive(Clone, Debug)]
enum Db {
    /// PostgreSQL.
    Postgres(PgStore),
    /// Embedded SQLite.
    Sqlite(SqliteStore),
}

/// Where idle workers learn that work was queued.
pub enum JobSignals {
    /// PostgreSQL's `LISTEN` on [`JOBS_CHANNEL`]: work queued by any process.
    Postgres(Box<sqlx::postgres::PgListener>),
    /// In-process: the one process using the embedded database.
    Local(Arc<tokio::sync::Notify>),
}

impl JobSignals {
    /// Waits for the next signal.
    pub async fn recv(&mut self) -> Result<(), DbError> {
        match self {
            Self::Postgres(listener) => listener.recv().await.map(|_| ()).map_err(DbError::from),
            Self::Local(notify) => {
                notify.notified().await;
                Ok(())
            }
        }
    }
}

/// Runs the same call on whichever backend the store is.
macro_rules! dispatch {
    ($self:ident, $store:ident => $call:expr) => {
        match &$self.db {
            Db::Postgres($store) => $call,
            Db::Sqlite($store) => $call,
        }
    };
}

/// Runs a write on whichever backend the store is: a conflict between transactions (which rolled
/// the whole write back) is tried again, and what the database answered is noted in its health.
macro_rules! write {
    ($self:ident, $store:ident => $call:expr) => {
        write!($self, $store => $call, wrote = |_| true)
    };
    ($self:ident, $store:ident => $call:expr, wrote = $wrote:expr) => {
        $self
            .writing(|| async { dispatch!($self, $store => $call) }, $wrote)
            .await
    };
}

/// Runs a read on whichever backend the store is, noting a database that does not answer.
macro_rules! read {
    ($self:ident, $store:ident => $call:expr) => {
        $self.health.noted_read(dispatch!($self, $store => $call))
    };
}

impl Store {
    /// Opens the database a URL names, migrating it: `postgres://…` (pool of `max_connections`)
    /// or `sqlite://path`, `sqlite:path`, `sqlite::memory:`.
    pub async fn open(url: &str, max_connections: u32) -> Result<Self, DbError> {
        Self::open_with_clock(url, max_connections, Clock::system()).await
    }

    /// The same, with "now" read from `clock` (a manual one in tests).
    pub async fn open_with_clock(
        url: &str,
        max_connections: u32,
        clock: Clock,
    ) -> Result<Self, DbError> {
        let db = if url.starts_with("sqlite:") {
            Db::Sqlite(SqliteStore::connect(url, clock).await?)
        } else {
            Db::Postgres(PgStore::connect(url, max_connections, clock).await?)
        };
        Ok(Self {
            db,
            health: Arc::default(),
        })
    }

    /// The clock its "now" is read from: the workers' and the watch's too.
    pub fn clock(&self) -> &Clock {
        match &self.db {
            Db::Postgres(s) => &s.pools.clock,
            Db::Sqlite(s) => &s.pools.clock,
        }
    }

    /// Which backend this is, and for SQLite where its file is, for the log.
    pub fn describe(&self) -> String {
        match &self.db {
            Db::Postgres(_) => "PostgreSQL".to_owned(),
            Db::Sqlite(s) => format!("SQLite ({})", s.location()),
        }
    }

    /// Whether the database takes a write now: a small write, committed. The answer is noted in
    /// the store's health (so the log says once when writes fail and once when they work again).
    pub async fn probe(&self) -> Result<(), DbError> {
        write!(self, s => health::probe(&s.pools).await)
    }

    /// Why writes are failing now (`None` while they go through), and how many writes failed so
    /// far because the database could not take them.
    pub fn health(&self) -> (Option<Unavailable>, u64) {
        self.health.now()
    }

    /// Where idle workers wait for queued work.
    pub async fn signals(&self) -> Result<JobSignals, DbError> {
        match &self.db {
            Db::Postgres(s) => Ok(JobSignals::Postgres(Box::new(s.listener().await?))),
            Db::Sqlite(s) => Ok(JobSignals::Local(s.wake())),
        }
    }

    /// Writes a list and its push job atomically; answers the first list for a repeated
    /// idempotency key.
    pub async fn insert_list(&self, new: &NewList, max_attempts: u32) -> Result<Inserted, DbError> {
        write!(self, s => lists::insert(&s.pools, new, max_attempts).await)
    }

    /// One list with its entries and attempts.
    pub async fn get_list(&self, id: Uuid) -> Result<Option<ListRecord>, DbError> {
        read!(self, s => lists::get(&s.pools, id).await)
    }

    /// Lists, newest first, filtered, one page at a time.
    pub async fn list_lists(&self, filter: &ListFilter) -> Result<Page, DbError> {
        read!(self, s => lists::page(&s.pools, filter).await)
    }

    /// The revisions of those of `ids` that exist now (one read for up to 128 of them).
    pub async fn list_revisions(&self, ids: &[Uuid]) -> Result<Vec<ListKey>, DbError> {
        read!(self, s => lists::revisions(&s.pools, ids).await)
    }

    /// Those of `ids` that exist, each as [`Store::get_list`] reads it, in no particular order.
    pub async fn get_lists(&self, ids: &[Uuid]) -> Result<Vec<ListRecord>, DbError> {
        read!(self, s => lists::get_many(&s.pools, ids).await)
    }

    /// The page [`Store::list_lists`] finds, as its lists' ids and revisions only.
    pub async fn list_keys(&self, filter: &ListFilter) -> Result<KeyPage, DbError> {
        read!(self, s => lists::page_keys(&s.pools, filter).await)
    }

    /// Cancels a queued list.
    pub async fn cancel(&self, id: Uuid) -> Result<Transition, DbError> {
        write!(self, s => lists::cancel(&s.pools, id).await)
    }

    /// Queues a failed or canceled list again, with a fresh set of attempts.
    pub async fn retry(&self, id: Uuid, max_attempts: u32) -> Result<Transition, DbError> {
        write!(self, s => lists::retry(&s.pools, id, max_attempts).await)
    }

    /// Claims the next due job under a lease, incrementing its attempt; a job whose lease expired
    /// (its worker died) is due again.
    pub async fn claim(
        &self,
        worker: &str,
        lease: Duration,
    ) -> Result<Option<ClaimedJob>, DbError> {
        write!(self, s => queue::claim(&s.pools, worker, lease).await, wrote = Option::is_some)
    }

    /// Extends a job's lease while its worker is still on it; false if the job was taken over.
    pub async fn extend_lease(&self, job: &ClaimedJob, lease: Duration) -> Result<bool, DbError> {
        write!(self, s => queue::extend_lease(&s.pools, job, lease).await)
    }

    /// Records a pushed list: digest, entries, status; queues its callback. False when fenced out.
    pub async fn complete_push(
        &self,
        job: &ClaimedJob,
        done: &PushOutcome,
        max_attempts: u32,
    ) -> Result<bool, DbError> {
        write!(self, s => queue::complete_push(&s.pools, job, done, max_attempts).await)
    }

    /// Records a failed attempt: retried at `retry_at`, or failed for good when `None` (with
    /// what became of each destination of a publish). False when fenced out.
    pub async fn fail_push(
        &self,
        job: &ClaimedJob,
        (code, message): (&str, &str),
        destinations: &[crate::model::Destination],
        retry_at: Option<DateTime<Utc>>,
        max_attempts: u32,
    ) -> Result<bool, DbError> {
        write!(self, s => queue::fail_push(
            &s.pools, job, code, message, destinations, retry_at, max_attempts
        ).await)
    }

    /// Records that a push was not made because `newer`, a newer list for its target, landed
    /// first; queues its callback. False when fenced out.
    pub async fn supersede(
        &self,
        job: &ClaimedJob,
        newer: Uuid,
        max_attempts: u32,
    ) -> Result<bool, DbError> {
        write!(self, s => queue::supersede(&s.pools, job, newer, max_attempts).await)
    }

    /// Records a stage's entries: its list `staged`, and the release's list queued when the
    /// release now has every platform it expects. False when fenced out.
    pub async fn complete_stage(
        &self,
        job: &ClaimedJob,
        entries: &[crate::model::Entry],
        sources: &[crate::model::SourcePin],
        max_attempts: u32,
    ) -> Result<bool, DbError> {
        write!(self, s => releases::complete_stage(&s.pools, job, entries, sources, max_attempts).await)
    }

    /// A staged release with its stage lists.
    pub async fn get_release(&self, id: Uuid) -> Result<Option<ReleaseRecord>, DbError> {
        read!(self, s => releases::get(&s.pools, id).await)
    }

    /// Ends the open releases whose deadline passed (pushed as they are, or failed); how many.
    pub async fn expire_releases(&self, max_attempts: u32) -> Result<usize, DbError> {
        write!(self, s => releases::expire(&s.pools, max_attempts).await, wrote = |n| *n > 0)
    }

    /// Starts following a list, or (`on` false) stops following it and its follow-ups; the list
    /// as it is now.
    pub async fn set_follow(&self, id: Uuid, on: bool) -> Result<Option<ListRecord>, DbError> {
        write!(self, s => lists::set_follow(&s.pools, id, on).await)
    }

    /// Sets whether the watch keeps a landed list whole (`repair`), when it is the list its target
    /// holds now (else a conflict), and makes it due for a check now.
    pub async fn set_repair(
        &self,
        id: Uuid,
        repair: crate::model::Repair,
    ) -> Result<Transition, DbError> {
        write!(self, s => lists::set_repair(&s.pools, id, repair).await)
    }

    /// Takes up to `batch` watched lists whose check is due, moving their next check `next_in`
    /// on (so no other process takes them meanwhile), and reads them.
    pub async fn take_due_checks(
        &self,
        batch: i64,
        next_in: Duration,
    ) -> Result<Vec<ListRecord>, DbError> {
        write!(self, s => watch::take_due(&s.pools, batch, next_in).await, wrote = |due| !due.is_empty())
    }

    /// Records what a check of a watched list found, queueing its callback when it became
    /// drifted and its follow-up when it is followed and a source moved.
    pub async fn record_drift(
        &self,
        id: Uuid,
        found: &DriftFound,
        max_attempts: u32,
    ) -> Result<DriftRecorded, DbError> {
        write!(self, s => watch::record(&s.pools, id, found, max_attempts).await)
    }

    /// Records that the checks of `ids` found each in sync, in one write; how many are still
    /// watched and were recorded.
    pub async fn record_in_sync(&self, ids: &[Uuid]) -> Result<u64, DbError> {
        write!(self, s => watch::record_in_sync(&s.pools, ids).await)
    }

    /// Makes the watched lists that `repository` concerns (their target's, or a source's) due
    /// now; how many.
    pub async fn wake_watched(&self, repository: &str) -> Result<u64, DbError> {
        write!(self, s => watch::wake(&s.pools, repository).await, wrote = |n| *n > 0)
    }

    /// How far behind the watch is (for metrics): how many watched lists are due now, and since
    /// when the oldest of them is.
    pub async fn watch_backlog(&self) -> Result<(i64, Option<DateTime<Utc>>), DbError> {
        read!(self, s => watch::backlog(&s.pools).await)
    }

    /// The drift events of `target` (each change of what the watch found of the list it held),
    /// newest first, at most `limit`.
    pub async fn drift_events(
        &self,
        target: &str,
        limit: i64,
    ) -> Result<Vec<crate::model::DriftEvent>, DbError> {
        read!(self, s => timeline::for_target(&s.pools, target, limit).await)
    }

    /// How many watched lists are drifted (for metrics).
    pub async fn drifted_count(&self) -> Result<i64, DbError> {
        read!(self, s => watch::drifted(&s.pools).await)
    }

    /// Records a callback delivery attempt. False when fenced out.
    pub async fn record_callback(
        &self,
        job: &ClaimedJob,
        outcome: Result<(), &str>,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<bool, DbError> {
        write!(self, s => queue::record_callback(&s.pools, job, outcome, retry_at).await)
    }

    /// Jobs waiting or running, by kind (for metrics).
    pub async fn queue_depth(&self) -> Result<Vec<(String, i64)>, DbError> {
        read!(self, s => queue::depth(&s.pools).await)
    }

    /// When the next job is due, if any is waiting (so idle workers know how long to sleep).
    pub async fn next_due(&self) -> Result<Option<DateTime<Utc>>, DbError> {
        read!(self, s => queue::next_due(&s.pools).await)
    }

    /// Runs `write` (a whole transaction, or one statement), again from the start while the
    /// database answers that it conflicted with another transaction and rolled it back (a
    /// deadlock, a serialization failure); notes the outcome in the store's health: a failure,
    /// or a success that wrote something (`wrote`: a claim that found nothing due proves nothing).
    async fn writing<T, F, Fut>(&self, mut write: F, wrote: fn(&T) -> bool) -> Result<T, DbError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, DbError>>,
    {
        let mut tries = 1;
        loop {
            let result = write().await;
            match &result {
                Err(e) if e.is_conflict() && tries < CONFLICT_TRIES => {
                    tracing::debug!("tried again after a conflict between transactions: {e}");
                    tokio::time::sleep(health::conflict_pause(tries)).await;
                    tries += 1;
                }
                Ok(done) if !wrote(done) => return result,
                _ => return self.health.noted_write(result),
            }
        }
    }
}

/// How many times a write that conflicted with another transaction is made in all.
const CONFLICT_TRIES: u32 = 8;

//! The embedded store: SQLite in one file (or in memory), for running with nothing else installed.
//!
//! The same schema meaning and the same queue semantics as PostgreSQL: a claim is one short write
//! transaction (SQLite has one writer, so no `SKIP LOCKED` is needed), leases and the attempt fence
//! work the same, and workers are woken in-process. WAL mode, foreign keys on, one writer
//! connection; a lock file refuses a second process on the same database.

use std::fs::File;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};
use tokio::sync::Notify;
use uuid::Uuid;

mod rows;

use super::records::{
    self, ClaimedJob, JobKind, ListFilter, ListRecord, ListStatus, NewList, Page, PushOutcome,
};
use super::{DbError, Inserted, Transition};
use rows::{ClaimRow, EntryRow, LIST_SELECT, ListRow};

/// The SQLite migrations, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

/// A SQLite database: one writer connection, readers beside it, and the workers' wake-up.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    wake: Arc<Notify>,
    location: String,
    _lock: Option<Arc<File>>,
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub(super) fn time(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

fn now() -> i64 {
    micros(Utc::now())
}

impl SqliteStore {
    /// Opens (creating) the database at `url` (`sqlite://path`, `sqlite:path` or `sqlite::memory:`)
    /// and migrates it. Refuses a file another process has open.
    pub(super) async fn connect(url: &str) -> Result<Self, DbError> {
        let memory = url.contains(":memory:") || url.contains("mode=memory");
        let options: SqliteConnectOptions = url
            .parse::<SqliteConnectOptions>()?
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let options = if memory {
            options
        } else {
            options
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
        };
        let location = if memory {
            "in memory".to_owned()
        } else {
            options.get_filename().display().to_string()
        };
        let lock = if memory {
            None
        } else {
            Some(Arc::new(lock_file(options.get_filename())?))
        };
        // One connection writes. An in-memory database lives in its one connection, so it reads
        // there too.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options.clone())
            .await?;
        MIGRATOR.run(&writer).await.map_err(sqlx::Error::from)?;
        let reader = if memory {
            writer.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(options.read_only(true))
                .await?
        };
        Ok(Self {
            writer,
            reader,
            wake: Arc::new(Notify::new()),
            location,
            _lock: lock,
        })
    }

    /// The database file, or "in memory".
    pub(super) fn location(&self) -> &str {
        &self.location
    }

    /// Where idle workers wait to be woken.
    pub(super) fn wake(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    pub(super) async fn ping(&self) -> Result<(), DbError> {
        sqlx::query("select 1").execute(&self.reader).await?;
        Ok(())
    }

    pub(super) async fn insert_list(
        &self,
        new: &NewList,
        max_attempts: u32,
    ) -> Result<Inserted, DbError> {
        let mut tx = self.writer.begin().await?;
        if let Some(key) = &new.idempotency_key {
            let existing: Option<(Uuid, String)> =
                sqlx::query_as("select list_id, request_hash from list where idempotency_key = $1")
                    .bind(key)
                    .fetch_optional(&mut *tx)
                    .await?;
            if let Some((id, hash)) = existing {
                tx.rollback().await?;
                if hash != new.request_hash {
                    return Ok(Inserted::KeyReused);
                }
                let found = self.get_list(id).await?;
                return Ok(found.map_or(Inserted::KeyReused, Inserted::Existing));
            }
        }
        let id = Uuid::new_v4();
        let at = now();
        sqlx::query(
            "insert into list (list_id, target, tags, output_type, ignore_missing, spec, spec_text, \
             spec_format, callback_url, idempotency_key, request_hash, created_at, updated_at) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)",
        )
        .bind(id)
        .bind(&new.target)
        .bind(sqlx::types::Json(&new.tags))
        .bind(&new.output_type)
        .bind(new.ignore_missing)
        .bind(new.spec.to_string())
        .bind(&new.spec_text)
        .bind(&new.spec_format)
        .bind(&new.callback_url)
        .bind(&new.idempotency_key)
        .bind(&new.request_hash)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        insert_job(&mut tx, id, JobKind::Push, max_attempts).await?;
        tx.commit().await?;
        self.wake.notify_waiters();
        let list = self.get_list(id).await?.ok_or(DbError::Corrupt {
            what: "list",
            message: "it vanished after insert".into(),
        })?;
        Ok(Inserted::New(list))
    }

    pub(super) async fn get_list(&self, id: Uuid) -> Result<Option<ListRecord>, DbError> {
        let row = sqlx::query_as::<_, ListRow>(sqlx::AssertSqlSafe(format!(
            "{LIST_SELECT} where l.list_id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.reader)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(self.with_entries(vec![row]).await?.pop())
    }

    pub(super) async fn list_lists(&self, filter: &ListFilter) -> Result<Page, DbError> {
        let limit = filter.limit.clamp(1, 200);
        // Built from constants only: the filters are bound parameters.
        let rows = sqlx::query_as::<_, ListRow>(sqlx::AssertSqlSafe(format!(
            "{LIST_SELECT} where ($1 is null or l.status = $1) \
               and ($2 is null or l.target = $2 or l.target like $2 || ':%') \
               and ($3 is null or l.created_at < $3 or (l.created_at = $3 and l.list_id < $4)) \
             order by l.created_at desc, l.list_id desc limit $5"
        )))
        .bind(filter.status.map(ListStatus::as_str))
        .bind(&filter.target)
        .bind(filter.before.map(|(t, _)| micros(t)))
        .bind(filter.before.map(|(_, id)| id))
        .bind(limit + 1)
        .fetch_all(&self.reader)
        .await?;
        let more = rows.len() as i64 > limit;
        let rows: Vec<_> = rows.into_iter().take(limit as usize).collect();
        let next = if more {
            rows.last().map(|r| (time(r.created_at), r.list_id))
        } else {
            None
        };
        Ok(Page {
            items: self.with_entries(rows).await?,
            next,
        })
    }

    async fn with_entries(&self, rows: Vec<ListRow>) -> Result<Vec<ListRecord>, DbError> {
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let entries = sqlx::query_as::<_, EntryRow>(
                "select image, digest, media_type, size, platform, annotations, attestation \
                 from list_entry where list_id = $1 order by position",
            )
            .bind(row.list_id)
            .fetch_all(&self.reader)
            .await?;
            out.push(row.into_record(entries)?);
        }
        Ok(out)
    }

    pub(super) async fn cancel(&self, id: Uuid) -> Result<Transition, DbError> {
        let mut tx = self.writer.begin().await?;
        let found: Option<(String, Option<i64>)> = sqlx::query_as(
            "select l.status, j.locked_until from list l \
             join job j on j.list_id = l.list_id and j.kind = 'push' where l.list_id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((status, locked_until)) = found else {
            return Ok(Transition::NotFound);
        };
        let status = ListStatus::parse(&status)?;
        let running = locked_until.is_some_and(|t| t > now());
        if status != ListStatus::Queued || running {
            return Ok(Transition::Conflict(if running {
                ListStatus::Running
            } else {
                status
            }));
        }
        let at = now();
        sqlx::query("update job set state = 'canceled', finished_at = $2 where list_id = $1 and kind = 'push'")
            .bind(id)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        sqlx::query("update list set status = 'canceled', finished_at = $2, updated_at = $2 where list_id = $1")
            .bind(id)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.transition_result(id).await
    }

    pub(super) async fn retry(&self, id: Uuid, max_attempts: u32) -> Result<Transition, DbError> {
        let mut tx = self.writer.begin().await?;
        let found: Option<(String,)> = sqlx::query_as("select status from list where list_id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some((status,)) = found else {
            return Ok(Transition::NotFound);
        };
        let status = ListStatus::parse(&status)?;
        if !matches!(status, ListStatus::Failed | ListStatus::Canceled) {
            return Ok(Transition::Conflict(status));
        }
        let at = now();
        sqlx::query(
            "update job set state = 'ready', run_at = $3, locked_until = null, \
             max_attempts = attempt + $2, finished_at = null where list_id = $1 and kind = 'push'",
        )
        .bind(id)
        .bind(max_attempts as i32)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "update list set status = 'queued', error_code = null, error_message = null, \
             finished_at = null, updated_at = $2 where list_id = $1",
        )
        .bind(id)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.wake.notify_waiters();
        self.transition_result(id).await
    }

    async fn transition_result(&self, id: Uuid) -> Result<Transition, DbError> {
        Ok(match self.get_list(id).await? {
            Some(list) => Transition::Done(Box::new(list)),
            None => Transition::NotFound,
        })
    }

    /// One short write transaction: pick the next due job, take its lease, bump its attempt.
    pub(super) async fn claim(
        &self,
        worker: &str,
        lease: Duration,
    ) -> Result<Option<ClaimedJob>, DbError> {
        let mut tx = self.writer.begin().await?;
        let at = now();
        let until = at + lease.as_micros() as i64;
        let row = sqlx::query_as::<_, ClaimRow>(
            "update job set attempt = attempt + 1, locked_until = $2, locked_by = $3 \
             where job_id = (select job_id from job where state = 'ready' and run_at <= $1 \
                 and (locked_until is null or locked_until < $1) order by run_at, job_id limit 1) \
             returning job_id, list_id, kind, attempt, max_attempts",
        )
        .bind(at)
        .bind(until)
        .bind(worker)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.commit().await?;
            return Ok(None);
        };
        let (spec, output_type, ignore_missing, callback_url): (
            String,
            String,
            bool,
            Option<String>,
        ) = sqlx::query_as(
            "select spec, output_type, ignore_missing, callback_url from list where list_id = $1",
        )
        .bind(row.list_id)
        .fetch_one(&mut *tx)
        .await?;
        if row.kind == "push" {
            sqlx::query(
                "update list set status = 'running', started_at = coalesce(started_at, $2), \
                 updated_at = $2 where list_id = $1",
            )
            .bind(row.list_id)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(Some(records::claimed(
            row.job_id,
            row.list_id,
            &row.kind,
            row.attempt,
            row.max_attempts,
            &spec,
            &output_type,
            ignore_missing,
            callback_url,
        )?))
    }

    pub(super) async fn extend_lease(
        &self,
        job: &ClaimedJob,
        lease: Duration,
    ) -> Result<bool, DbError> {
        let done = sqlx::query(
            "update job set locked_until = $3 where job_id = $1 and attempt = $2 and state = 'ready'",
        )
        .bind(job.job_id)
        .bind(job.attempt)
        .bind(now() + lease.as_micros() as i64)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(super) async fn complete_push(
        &self,
        job: &ClaimedJob,
        done: &PushOutcome,
        max_attempts: u32,
    ) -> Result<bool, DbError> {
        let mut tx = self.writer.begin().await?;
        if !finish_job(&mut tx, job, "done", None).await? {
            return Ok(false);
        }
        sqlx::query("delete from list_entry where list_id = $1")
            .bind(job.list_id)
            .execute(&mut *tx)
            .await?;
        for (position, e) in done.entries.iter().enumerate() {
            sqlx::query(
                "insert into list_entry (list_id, position, image, digest, media_type, size, \
                 platform, annotations, attestation) values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(job.list_id)
            .bind(position as i32)
            .bind(&e.image)
            .bind(&e.digest)
            .bind(&e.media_type)
            .bind(e.size)
            .bind(e.platform.as_ref().map(sqlx::types::Json))
            .bind(sqlx::types::Json(&e.annotations))
            .bind(e.attestation)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "update list set status = 'succeeded', digest = $2, media_type = $3, size = $4, \
             error_code = null, error_message = null, finished_at = $5, updated_at = $5 \
             where list_id = $1",
        )
        .bind(job.list_id)
        .bind(&done.digest)
        .bind(&done.media_type)
        .bind(done.size)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        queue_callback(&mut tx, job, max_attempts).await?;
        tx.commit().await?;
        self.wake.notify_waiters();
        Ok(true)
    }

    pub(super) async fn fail_push(
        &self,
        job: &ClaimedJob,
        code: &str,
        message: &str,
        retry_at: Option<DateTime<Utc>>,
        max_attempts: u32,
    ) -> Result<bool, DbError> {
        let mut tx = self.writer.begin().await?;
        let fenced = match retry_at {
            Some(at) => reschedule(&mut tx, job, at, message).await?,
            None => finish_job(&mut tx, job, "failed", Some(message)).await?,
        };
        if !fenced {
            return Ok(false);
        }
        let status = if retry_at.is_some() {
            "queued"
        } else {
            "failed"
        };
        let at = now();
        sqlx::query(
            "update list set status = $2, error_code = $3, error_message = $4, updated_at = $5, \
             finished_at = case when $2 = 'failed' then $5 else null end where list_id = $1",
        )
        .bind(job.list_id)
        .bind(status)
        .bind(code)
        .bind(message)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        if retry_at.is_none() {
            queue_callback(&mut tx, job, max_attempts).await?;
        }
        tx.commit().await?;
        self.wake.notify_waiters();
        Ok(true)
    }

    pub(super) async fn record_callback(
        &self,
        job: &ClaimedJob,
        outcome: Result<(), &str>,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<bool, DbError> {
        let mut tx = self.writer.begin().await?;
        let (status, error) = records::callback_status(outcome, retry_at);
        let fenced = match (status, retry_at) {
            ("retrying", Some(at)) => {
                reschedule(&mut tx, job, at, error.unwrap_or_default()).await?
            }
            ("delivered", _) => finish_job(&mut tx, job, "done", None).await?,
            _ => finish_job(&mut tx, job, "failed", error).await?,
        };
        if !fenced {
            return Ok(false);
        }
        sqlx::query(
            "update list set callback_status = $2, callback_attempts = $3, callback_error = $4, \
             updated_at = $5 where list_id = $1",
        )
        .bind(job.list_id)
        .bind(status)
        .bind(job.attempt)
        .bind(error)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    pub(super) async fn queue_depth(&self) -> Result<Vec<(String, i64)>, DbError> {
        Ok(sqlx::query_as(
            "select kind, count(*) from job where state = 'ready' group by kind order by kind",
        )
        .fetch_all(&self.reader)
        .await?)
    }

    pub(super) async fn next_due(&self) -> Result<Option<DateTime<Utc>>, DbError> {
        let row: (Option<i64>,) =
            sqlx::query_as("select min(max(run_at, coalesce(locked_until, run_at))) from job where state = 'ready'")
                .fetch_one(&self.reader)
                .await?;
        Ok(row.0.map(time))
    }
}

/// Refuses a database file another process holds.
fn lock_file(db: &std::path::Path) -> Result<File, DbError> {
    let path = {
        let mut p = db.as_os_str().to_owned();
        p.push(".lock");
        std::path::PathBuf::from(p)
    };
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| DbError::Corrupt {
            what: "lock file",
            message: format!("cannot open {}: {e}", path.display()),
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(DbError::InUse(format!(
            "another manifold process is using {}; to run several processes on one queue, use \
             PostgreSQL (DATABASE_URL=postgres://…)",
            db.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(DbError::Corrupt {
            what: "lock file",
            message: format!("cannot lock {}: {e}", path.display()),
        }),
    }
}

async fn insert_job(
    tx: &mut Transaction<'_, Sqlite>,
    list_id: Uuid,
    kind: JobKind,
    max_attempts: u32,
) -> Result<(), DbError> {
    let at = now();
    sqlx::query(
        "insert into job (list_id, kind, max_attempts, run_at, created_at) values ($1, $2, $3, $4, $4) \
         on conflict (list_id, kind) do update set state = 'ready', attempt = 0, \
         max_attempts = excluded.max_attempts, run_at = excluded.run_at, locked_until = null, \
         last_error = null, finished_at = null",
    )
    .bind(list_id)
    .bind(kind.as_str())
    .bind(max_attempts as i32)
    .bind(at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn queue_callback(
    tx: &mut Transaction<'_, Sqlite>,
    job: &ClaimedJob,
    max_attempts: u32,
) -> Result<(), DbError> {
    if job.callback_url.is_none() {
        return Ok(());
    }
    insert_job(tx, job.list_id, JobKind::Callback, max_attempts).await?;
    sqlx::query("update list set callback_status = 'pending' where list_id = $1")
        .bind(job.list_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn reschedule(
    tx: &mut Transaction<'_, Sqlite>,
    job: &ClaimedJob,
    at: DateTime<Utc>,
    error: &str,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "update job set run_at = $3, locked_until = null, last_error = $4 \
         where job_id = $1 and attempt = $2 and state = 'ready'",
    )
    .bind(job.job_id)
    .bind(job.attempt)
    .bind(micros(at))
    .bind(error)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

async fn finish_job(
    tx: &mut Transaction<'_, Sqlite>,
    job: &ClaimedJob,
    state: &str,
    error: Option<&str>,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "update job set state = $3, locked_until = null, finished_at = $5, \
         last_error = coalesce($4, last_error) \
         where job_id = $1 and attempt = $2 and state = 'ready'",
    )
    .bind(job.job_id)
    .bind(job.attempt)
    .bind(state)
    .bind(error)
    .bind(now())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

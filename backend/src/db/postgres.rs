//! The PostgreSQL store: the production backend, shared by any number of service processes.
//!
//! Claims use `for update skip locked` under a lease; a trigger (`notify_job_ready`) wakes the
//! workers of every process through `LISTEN/NOTIFY`.

use std::collections::BTreeMap;
use std::sync::LazyLock;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::records::{
    self, ClaimedJob, EntryRecord, JobKind, ListFilter, ListRecord, ListStatus, NewList, Page,
    PushOutcome,
};
use super::{DbError, Inserted, Transition};

/// The PostgreSQL migrations, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// The channel workers listen on.
pub const JOBS_CHANNEL: &str = "manifold_jobs";

/// A list and its push job written by one statement (so, outside a transaction, in one round trip
/// and atomically), answering the list as stored, read like [`records::LIST_SELECT`] reads it.
static INSERT_LIST: LazyLock<String> = LazyLock::new(|| {
    let (columns, _) = records::LIST_SELECT
        .split_once(" from list l ")
        .expect("LIST_SELECT reads from list l");
    format!(
        "with l as (insert into list (list_id, target, tags, output_type, ignore_missing, spec, \
         spec_text, spec_format, callback_url, idempotency_key, request_hash) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) returning *), \
         j as (insert into job (list_id, kind, max_attempts) select list_id, 'push', $12 from l \
         returning list_id, attempt) \
         {columns} from l left join j on j.list_id = l.list_id"
    )
});

/// One list with its entries, as JSON, in one query.
static GET_LIST: LazyLock<String> = LazyLock::new(|| {
    let (columns, from) = records::LIST_SELECT
        .split_once(" from list l ")
        .expect("LIST_SELECT reads from list l");
    format!(
        "{columns}, (select coalesce(json_agg(json_build_object('image', e.image, \
         'digest', e.digest, 'media_type', e.media_type, 'size', e.size, 'platform', e.platform, \
         'annotations', e.annotations, 'attestation', e.attestation) order by e.position), '[]') \
         from list_entry e where e.list_id = l.list_id) as entries \
         from list l {from} where l.list_id = $1"
    )
});

/// A list row with its entries.
#[derive(sqlx::FromRow)]
struct ListWithEntries {
    #[sqlx(flatten)]
    list: records::ListRow,
    entries: sqlx::types::Json<Vec<StoredEntry>>,
}

/// An entry as [`GET_LIST`] aggregates it.
#[derive(serde::Deserialize)]
struct StoredEntry {
    image: String,
    digest: String,
    media_type: String,
    size: i64,
    platform: Option<crate::model::Platform>,
    annotations: BTreeMap<String, String>,
    attestation: bool,
}

impl From<StoredEntry> for EntryRecord {
    fn from(e: StoredEntry) -> Self {
        Self {
            image: e.image,
            digest: e.digest,
            media_type: e.media_type,
            size: e.size,
            platform: e.platform,
            annotations: e.annotations,
            attestation: e.attestation,
        }
    }
}

/// A pool of connections to PostgreSQL.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects and runs the migrations.
    pub(super) async fn connect(url: &str, max_connections: u32) -> Result<Self, DbError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?;
        MIGRATOR.run(&pool).await.map_err(sqlx::Error::from)?;
        Ok(Self { pool })
    }

    /// Whether the database answers.
    pub(super) async fn ping(&self) -> Result<(), DbError> {
        sqlx::query("select 1").execute(&self.pool).await?;
        Ok(())
    }

    /// A listener on the jobs channel.
    pub(super) async fn listener(&self) -> Result<PgListener, DbError> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(JOBS_CHANNEL).await?;
        Ok(listener)
    }

    /// Writes a list and its push job atomically (the trigger wakes the workers). Without an
    /// idempotency key that is one statement; with one, a transaction that first looks the key up.
    pub(super) async fn insert_list(
        &self,
        new: &NewList,
        max_attempts: u32,
    ) -> Result<Inserted, DbError> {
        let Some(key) = &new.idempotency_key else {
            let row = insert_list_query(new, max_attempts)
                .fetch_one(&self.pool)
                .await?;
            return Ok(Inserted::New(records::assemble(row, std::iter::empty())?));
        };
        let mut tx = self.pool.begin().await?;
        // Serialise concurrent first uses of one key.
        sqlx::query("select pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(key)
            .execute(&mut *tx)
            .await?;
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
        let row = insert_list_query(new, max_attempts)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Inserted::New(records::assemble(row, std::iter::empty())?))
    }

    /// One list with its entries and attempts (one query).
    pub(super) async fn get_list(&self, id: Uuid) -> Result<Option<ListRecord>, DbError> {
        let row = sqlx::query_as::<_, ListWithEntries>(sqlx::AssertSqlSafe(GET_LIST.as_str()))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let mut list = records::assemble(row.list, std::iter::empty())?;
        list.entries = row.entries.0.into_iter().map(EntryRecord::from).collect();
        Ok(Some(list))
    }

    /// Lists, newest first, filtered, one page at a time.
    pub(super) async fn list_lists(&self, filter: &ListFilter) -> Result<Page, DbError> {
        let limit = filter.limit.clamp(1, 200);
        // Built from constants only: the filters are bound parameters.
        let rows = sqlx::query_as::<_, records::ListRow>(sqlx::AssertSqlSafe(format!(
            "{} where ($1::text is null or l.status = $1) \
               and ($2::text is null or l.target = $2 or l.target like $2 || ':%') \
               and ($3::timestamptz is null or (l.created_at, l.list_id) < ($3, $4)) \
             order by l.created_at desc, l.list_id desc limit $5",
            records::LIST_SELECT
        )))
        .bind(filter.status.map(ListStatus::as_str))
        .bind(&filter.target)
        .bind(filter.before.map(|(t, _)| t))
        .bind(filter.before.map(|(_, id)| id))
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let more = rows.len() as i64 > limit;
        let rows: Vec<_> = rows.into_iter().take(limit as usize).collect();
        let next = if more {
            rows.last().map(|r| (r.created_at, r.list_id))
        } else {
            None
        };
        Ok(Page {
            items: self.with_entries(rows).await?,
            next,
        })
    }

    async fn with_entries(&self, rows: Vec<records::ListRow>) -> Result<Vec<ListRecord>, DbError> {
        let ids: Vec<Uuid> = rows.iter().map(|r| r.list_id).collect();
        let entries = sqlx::query_as::<_, records::EntryRow>(
            "select list_id, position, image, digest, media_type, size, platform, annotations, \
             attestation from list_entry where list_id = any($1) order by list_id, position",
        )
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                let id = row.list_id;
                records::assemble(row, entries.iter().filter(|e| e.list_id == id))
            })
            .collect()
    }

    /// Cancels a queued list.
    pub(super) async fn cancel(&self, id: Uuid) -> Result<Transition, DbError> {
        let mut tx = self.pool.begin().await?;
        let status: Option<(String, Option<DateTime<Utc>>)> = sqlx::query_as(
            "select l.status, j.locked_until from list l \
             join job j on j.list_id = l.list_id and j.kind = 'push' \
             where l.list_id = $1 for update of l, j",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((status, locked_until)) = status else {
            return Ok(Transition::NotFound);
        };
        let status = ListStatus::parse(&status)?;
        let running = locked_until.is_some_and(|t| t > Utc::now());
        if status != ListStatus::Queued || running {
            return Ok(Transition::Conflict(if running {
                ListStatus::Running
            } else {
                status
            }));
        }
        sqlx::query("update job set state = 'canceled', finished_at = now() where list_id = $1 and kind = 'push'")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("update list set status = 'canceled', finished_at = now(), updated_at = now() where list_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.transition_result(id).await
    }

    /// Queues a failed or canceled list again, with a fresh set of attempts.
    pub(super) async fn retry(&self, id: Uuid, max_attempts: u32) -> Result<Transition, DbError> {
        let mut tx = self.pool.begin().await?;
        let status: Option<(String,)> =
            sqlx::query_as("select status from list where list_id = $1 for update")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some((status,)) = status else {
            return Ok(Transition::NotFound);
        };
        let status = ListStatus::parse(&status)?;
        if !matches!(status, ListStatus::Failed | ListStatus::Canceled) {
            return Ok(Transition::Conflict(status));
        }
        sqlx::query(
            "update job set state = 'ready', run_at = now(), locked_until = null, \
             max_attempts = attempt + $2, finished_at = null where list_id = $1 and kind = 'push'",
        )
        .bind(id)
        .bind(max_attempts as i32)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "update list set status = 'queued', error_code = null, error_message = null, \
             finished_at = null, updated_at = now() where list_id = $1",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.transition_result(id).await
    }

    async fn transition_result(&self, id: Uuid) -> Result<Transition, DbError> {
        Ok(match self.get_list(id).await? {
            Some(list) => Transition::Done(Box::new(list)),
            None => Transition::NotFound,
        })
    }

    /// Claims the next due job: `for update skip locked`, attempt incremented, a lease taken.
    /// A job whose lease expired (its worker died) is due again.
    pub(super) async fn claim(
        &self,
        worker: &str,
        lease: Duration,
    ) -> Result<Option<ClaimedJob>, DbError> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query_as::<_, records::ClaimRow>(
            "with next as ( \
               select job_id from job \
               where state = 'ready' and run_at <= now() \
                 and (locked_until is null or locked_until < now()) \
               order by run_at, job_id \
               for update skip locked limit 1) \
             update job j set attempt = j.attempt + 1, \
               locked_until = now() + make_interval(secs => $2), locked_by = $1 \
             from next, list l where j.job_id = next.job_id and l.list_id = j.list_id \
             returning j.job_id, j.list_id, j.kind, j.attempt, j.max_attempts, l.spec, \
               l.output_type, l.ignore_missing, l.callback_url",
        )
        .bind(worker)
        .bind(lease.as_secs_f64())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.commit().await?;
            return Ok(None);
        };
        if row.kind == "push" {
            sqlx::query(
                "update list set status = 'running', started_at = coalesce(started_at, now()), \
                 updated_at = now() where list_id = $1",
            )
            .bind(row.list_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(Some(row.into_claimed()?))
    }

    /// Extends a job's lease while its worker is still on it; false if the job was taken over.
    pub(super) async fn extend_lease(
        &self,
        job: &ClaimedJob,
        lease: Duration,
    ) -> Result<bool, DbError> {
        let done = sqlx::query(
            "update job set locked_until = now() + make_interval(secs => $3) \
             where job_id = $1 and attempt = $2 and state = 'ready'",
        )
        .bind(job.job_id)
        .bind(job.attempt)
        .bind(lease.as_secs_f64())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records a pushed list: digest, entries, status; queues its callback. False when fenced out.
    pub(super) async fn complete_push(
        &self,
        job: &ClaimedJob,
        done: &PushOutcome,
        max_attempts: u32,
    ) -> Result<bool, DbError> {
        let mut tx = self.pool.begin().await?;
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
             error_code = null, error_message = null, finished_at = now(), updated_at = now() \
             where list_id = $1",
        )
        .bind(job.list_id)
        .bind(&done.digest)
        .bind(&done.media_type)
        .bind(done.size)
        .execute(&mut *tx)
        .await?;
        queue_callback(&mut tx, job, max_attempts).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Records a failed attempt: retried at `retry_at`, or failed for good when `None`.
    /// False when fenced out.
    pub(super) async fn fail_push(
        &self,
        job: &ClaimedJob,
        code: &str,
        message: &str,
        retry_at: Option<DateTime<Utc>>,
        max_attempts: u32,
    ) -> Result<bool, DbError> {
        let mut tx = self.pool.begin().await?;
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
        sqlx::query(
            "update list set status = $2, error_code = $3, error_message = $4, updated_at = now(), \
             finished_at = case when $2 = 'failed' then now() else null end where list_id = $1",
        )
        .bind(job.list_id)
        .bind(status)
        .bind(code)
        .bind(message)
        .execute(&mut *tx)
        .await?;
        if retry_at.is_none() {
            queue_callback(&mut tx, job, max_attempts).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Records a callback delivery attempt.
    pub(super) async fn record_callback(
        &self,
        job: &ClaimedJob,
        outcome: Result<(), &str>,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<bool, DbError> {
        let mut tx = self.pool.begin().await?;
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
             updated_at = now() where list_id = $1",
        )
        .bind(job.list_id)
        .bind(status)
        .bind(job.attempt)
        .bind(error)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Jobs waiting or running, by kind (for metrics).
    pub(super) async fn queue_depth(&self) -> Result<Vec<(String, i64)>, DbError> {
        Ok(sqlx::query_as(
            "select kind, count(*) from job where state = 'ready' group by kind order by kind",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// When the next job is due, if any is waiting (so idle workers know how long to sleep).
    pub(super) async fn next_due(&self) -> Result<Option<DateTime<Utc>>, DbError> {
        let row: (Option<DateTime<Utc>>,) = sqlx::query_as(
            "select min(greatest(run_at, coalesce(locked_until, run_at))) from job where state = 'ready'",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(row.0)
    }
}

/// [`INSERT_LIST`] with its parameters bound: a new id, the list, the job's attempts.
fn insert_list_query(
    new: &NewList,
    max_attempts: u32,
) -> sqlx::query::QueryAs<'_, Postgres, records::ListRow, sqlx::postgres::PgArguments> {
    sqlx::query_as::<_, records::ListRow>(sqlx::AssertSqlSafe(INSERT_LIST.as_str()))
        .bind(Uuid::new_v4())
        .bind(&new.target)
        .bind(sqlx::types::Json(&new.tags))
        .bind(&new.output_type)
        .bind(new.ignore_missing)
        .bind(&new.spec)
        .bind(&new.spec_text)
        .bind(&new.spec_format)
        .bind(&new.callback_url)
        .bind(&new.idempotency_key)
        .bind(&new.request_hash)
        .bind(max_attempts as i32)
}

async fn insert_job(
    tx: &mut Transaction<'_, Postgres>,
    list_id: Uuid,
    kind: JobKind,
    max_attempts: u32,
) -> Result<(), DbError> {
    sqlx::query(
        "insert into job (list_id, kind, max_attempts) values ($1, $2, $3) \
         on conflict (list_id, kind) do update set state = 'ready', attempt = 0, \
         max_attempts = excluded.max_attempts, run_at = now(), locked_until = null, \
         last_error = null, finished_at = null",
    )
    .bind(list_id)
    .bind(kind.as_str())
    .bind(max_attempts as i32)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn queue_callback(
    tx: &mut Transaction<'_, Postgres>,
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

/// Puts a job back in the queue for `at`, if this worker still holds it (same attempt).
async fn reschedule(
    tx: &mut Transaction<'_, Postgres>,
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
    .bind(at)
    .bind(error)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Ends a job if this worker still holds it (same attempt).
async fn finish_job(
    tx: &mut Transaction<'_, Postgres>,
    job: &ClaimedJob,
    state: &str,
    error: Option<&str>,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "update job set state = $3, locked_until = null, finished_at = now(), \
         last_error = coalesce($4, last_error) \
         where job_id = $1 and attempt = $2 and state = 'ready'",
    )
    .bind(job.job_id)
    .bind(job.attempt)
    .bind(state)
    .bind(error)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

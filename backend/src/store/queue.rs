//! The job queue: claim under a lease, renew it, record an outcome fenced by the attempt number,
//! reschedule or finish, queue a callback — once, for both backends.
//!
//! A job is `ready` while waiting or running; a claim takes the due job with the earliest
//! `run_at` whose lease (if any) has expired, and bumps its attempt. Push jobs of one target run
//! one at a time, oldest first; one that a newer list has overtaken ends `superseded`. Every later write names the
//! job *and* the attempt it was claimed with, so a worker that lost its lease changes nothing.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::DbError;
use super::publish::{self, PublishStatements};
use super::releases::{self, Settled};
use super::rows::{self, ClaimedJob, JobKind, PushOutcome};
use super::sql::{Backend, Row as _, Session, Value, args};
use super::statements::QueueStatements;
use crate::model::{CallbackStatus, Destination};

/// Claims the next due job, taking a lease and bumping its attempt; marks a push `running`.
/// A push job waits while another job of its target holds a lease or an older one is due; where
/// several processes claim at once, the target is locked for the transaction first, and the claim
/// checks it again in a statement that sees every claim committed before the lock. The list's row
/// is locked before its job's (the store's one lock order); a list another transaction holds is
/// passed over, so a claim never waits on one. A job whose stored submission cannot be read fails
/// here, alone (`UNREADABLE_JOB`), and the claim goes on to the next.
pub(super) async fn claim<B: Backend>(
    db: &B,
    worker: &str,
    lease: Duration,
) -> Result<Option<ClaimedJob>, DbError> {
    let st = &db.statements().queue;
    let mut tx = db.begin().await?;
    let candidates = tx.fetch_all(&st.claim_candidates, Vec::new()).await?;
    let publish_st = &db.statements().publish;
    let mut unreadable = false;
    for candidate in candidates {
        let is_push = candidate.text("kind")?.as_deref() == Some(JobKind::Push.as_str());
        if !takes_candidate(&mut tx, st, publish_st, &candidate, is_push).await? {
            continue;
        }
        let params = vec![
            Value::from(worker),
            Value::Secs(lease.as_secs_f64()),
            Value::Int(candidate.int("job_id")?),
        ];
        let Some(job) = tx.fetch_optional(&st.claim_job, params).await? else {
            continue;
        };
        match claimed_job(&mut tx, st, publish_st, &job, is_push).await {
            Ok(claimed) => {
                tx.commit().await?;
                return Ok(Some(claimed));
            }
            Err(DbError::Corrupt { what, message }) => {
                fail_unreadable(&mut tx, st, &job, &format!("its {what}: {message}")).await?;
                unreadable = true;
            }
            Err(e) => return Err(e),
        }
    }
    tx.commit().await?;
    if unreadable {
        db.queued();
    }
    Ok(None)
}

/// Whether a candidate may be claimed in this transaction: its target taken (push jobs, where
/// several processes claim) and its list's row locked, neither held by another transaction.
async fn takes_candidate<S: Session>(
    tx: &mut S,
    st: &QueueStatements,
    publish_st: &PublishStatements,
    candidate: &S::Row,
    is_push: bool,
) -> Result<bool, DbError> {
    if is_push && let Some(lock) = &st.target_lock {
        let target = candidate.text("target")?;
        let targets = match candidate.uuid_opt("publish_id")? {
            Some(first) => publish::targets(tx, publish_st, first, target).await?,
            None => vec![target],
        };
        for target in targets {
            let locked = tx.fetch_optional(lock, args![target.as_deref()]).await?;
            if !locked
                .map(|row| row.bool("locked"))
                .transpose()?
                .unwrap_or(false)
            {
                return Ok(false);
            }
        }
    }
    match &st.try_lock_list {
        Some(lock) => {
            let list = candidate.uuid("list_id")?;
            Ok(tx.fetch_optional(lock, args![list]).await?.is_some())
        }
        None => Ok(true),
    }
}

/// Ends a claimed job whose stored submission cannot be read: a push fails with
/// `UNREADABLE_JOB` and the reason, its list with it, and its callback (if any) is queued; a
/// callback fails, its list's callback with it.
async fn fail_unreadable<S: Session>(
    tx: &mut S,
    st: &QueueStatements,
    job: &S::Row,
    reason: &str,
) -> Result<(), DbError> {
    let job_id = job.int("job_id")?.unwrap_or_default();
    let list_id = job.uuid("list_id")?;
    let attempt = job.int("attempt")?.unwrap_or_default();
    let message = rows::storable(&format!(
        "the stored submission cannot be read ({reason}); it was not pushed"
    ))
    .into_owned();
    tracing::error!(list = %list_id, "job {job_id} failed: {message}");
    tx.execute(
        &st.finish_job,
        args![job_id, attempt, "failed", message.as_str()],
    )
    .await?;
    if job.text("kind")?.as_deref() != Some(JobKind::Push.as_str()) {
        let failed = CallbackStatus::Failed.as_str();
        tx.execute(
            &st.callback_list,
            args![list_id, failed, attempt, message.as_str()],
        )
        .await?;
        return Ok(());
    }
    let code = crate::model::ErrorCode::UnreadableJob.as_str().into_owned();
    tx.execute(&st.fail_list, args![list_id, "failed", &code, &message])
        .await?;
    let callback = tx
        .fetch_optional(&st.callback_of, args![list_id])
        .await?
        .and_then(|row| rows::options(&row).ok())
        .and_then(|options| options.callback_url);
    if callback.is_some() {
        let max_attempts = job.int("max_attempts")?.unwrap_or(1);
        queue_event(tx, st, list_id, max_attempts as u32, FINISHED).await?;
    }
    Ok(())
}

/// The claimed job with its list, marked `running` if a push; a push that a newer list for its
/// target has overtaken (one that landed already) says so.
async fn claimed_job<S: Session>(
    tx: &mut S,
    st: &QueueStatements,
    publish_st: &PublishStatements,
    job: &S::Row,
    is_push: bool,
) -> Result<ClaimedJob, DbError> {
    let list_id = job.uuid("list_id")?;
    let statement = if is_push {
        &st.claim_list_running
    } else {
        &st.claim_list_read
    };
    let list = tx
        .fetch_optional(statement, args![list_id])
        .await?
        .ok_or_else(|| DbError::Corrupt {
            what: "job",
            message: format!("its list {list_id} does not exist"),
        })?;
    let mut claimed = rows::claimed(job, &list)?;
    if is_push {
        claimed.superseded_by = list.uuid_opt("superseded_by")?;
        publish::claimed(tx, publish_st, &mut claimed).await?;
    }
    Ok(claimed)
}

/// Extends a job's lease while its worker is still on it; false if the job was taken over.
pub(super) async fn extend_lease<B: Backend>(
    db: &B,
    job: &ClaimedJob,
    lease: Duration,
) -> Result<bool, DbError> {
    let mut session = db.write_one().await?;
    let changed = session
        .execute(
            &db.statements().queue.extend_lease,
            vec![
                Value::from(job.job_id),
                Value::from(i64::from(job.attempt)),
                Value::Secs(lease.as_secs_f64()),
            ],
        )
        .await?;
    session.commit().await?;
    Ok(changed == 1)
}

/// Records a pushed list: digest, entries, status; queues its callback. False when fenced out.
pub(super) async fn complete_push<B: Backend>(
    db: &B,
    job: &ClaimedJob,
    done: &PushOutcome,
    max_attempts: u32,
) -> Result<bool, DbError> {
    let st = &db.statements().queue;
    let mut tx = db.begin().await?;
    if !finish_claimed(&mut tx, st, job).await? {
        return Ok(false);
    }
    for list in publish::lists(job) {
        succeed(&mut tx, st, list, done).await?;
    }
    let publish_st = &db.statements().publish;
    publish::record_outcomes(&mut tx, publish_st, job, &done.destinations).await?;
    queue_callback(&mut tx, st, job, max_attempts, FINISHED).await?;
    if let Some(release) = released(job) {
        let landed = Settled::Released(done.digest.as_str(), &done.media_type, done.size);
        releases::settle(&mut tx, db.statements(), release, landed, max_attempts).await?;
    }
    tx.commit().await?;
    db.queued();
    Ok(true)
}

/// Records list `id` landed as `done` says: its entries, digest, status; the watch moved to it
/// from the lists its target held before.
async fn succeed<S: Session>(
    tx: &mut S,
    st: &QueueStatements,
    id: uuid::Uuid,
    done: &PushOutcome,
) -> Result<(), DbError> {
    write_entries(tx, st, id, &done.entries).await?;
    let size = i64::try_from(done.size).unwrap_or(i64::MAX);
    let sources = serde_json::to_value(&done.sources).unwrap_or_default();
    let params = vec![
        Value::Uuid(id),
        Value::from(done.digest.as_str()),
        Value::from(&done.media_type),
        Value::from(size),
        Value::Json(sources),
        Value::Time(done.watch_at),
    ];
    tx.execute(&st.succeed_list, params).await?;
    tx.execute(&st.unwatch_others, args![id]).await?;
    tx.execute(&st.replace_others, args![id]).await?;
    Ok(())
}

/// Records a failed attempt: retried at `retry_at`, or failed for good when `None`. False
/// when fenced out.
pub(super) async fn fail_push<B: Backend>(
    db: &B,
    job: &ClaimedJob,
    code: &str,
    message: &str,
    destinations: &[Destination],
    retry_at: Option<DateTime<Utc>>,
    max_attempts: u32,
) -> Result<bool, DbError> {
    let st = &db.statements().queue;
    let (code, message) = (rows::storable(code), rows::storable(message));
    let (code, message) = (code.as_ref(), message.as_ref());
    let mut tx = db.begin().await?;
    lock_list(&mut tx, st, job).await?;
    let fenced = match retry_at {
        Some(at) => reschedule(&mut tx, st, job, at, message).await?,
        None => finish_job(&mut tx, st, job, "failed", Some(message)).await?,
    };
    if !fenced {
        return Ok(false);
    }
    let status = if retry_at.is_some() {
        "queued"
    } else {
        "failed"
    };
    for list in publish::lists(job) {
        tx.execute(&st.fail_list, args![list, status, code, message])
            .await?;
    }
    if retry_at.is_none() {
        let publish_st = &db.statements().publish;
        publish::record_outcomes(&mut tx, publish_st, job, destinations).await?;
        queue_callback(&mut tx, st, job, max_attempts, FINISHED).await?;
        if let Some(release) = released(job) {
            let message = format!("the release's list {} failed: {message}", job.list_id);
            let failed = Settled::Failed(code, &message);
            releases::settle(&mut tx, db.statements(), release, failed, max_attempts).await?;
        }
    }
    tx.commit().await?;
    db.queued();
    Ok(true)
}

/// Records that a push was not made because `newer`, a newer list for its target, landed first;
/// queues its callback. False when fenced out.
pub(super) async fn supersede<B: Backend>(
    db: &B,
    job: &ClaimedJob,
    newer: uuid::Uuid,
    max_attempts: u32,
) -> Result<bool, DbError> {
    let st = &db.statements().queue;
    let mut tx = db.begin().await?;
    lock_list(&mut tx, st, job).await?;
    if !finish_job(&mut tx, st, job, "done", None).await? {
        return Ok(false);
    }
    for list in publish::lists(job) {
        tx.execute(&st.supersede_list, args![list, newer]).await?;
    }
    queue_callback(&mut tx, st, job, max_attempts, FINISHED).await?;
    if let Some(release) = released(job) {
        let message =
            format!("the release's list was overtaken by list {newer}, which landed first");
        let failed = Settled::Failed("SUPERSEDED", &message);
        releases::settle(&mut tx, db.statements(), release, failed, max_attempts).await?;
    }
    tx.commit().await?;
    db.queued();
    Ok(true)
}

/// Records a callback delivery attempt: delivered, retried at `retry_at`, or failed. False when
/// fenced out.
pub(super) async fn record_callback<B: Backend>(
    db: &B,
    job: &ClaimedJob,
    outcome: Result<(), &str>,
    retry_at: Option<DateTime<Utc>>,
) -> Result<bool, DbError> {
    let st = &db.statements().queue;
    let mut tx = db.begin().await?;
    lock_list(&mut tx, st, job).await?;
    let outcome = outcome.map_err(rows::storable);
    let outcome = outcome.as_ref().map(|_| ()).map_err(AsRef::as_ref);
    let (status, error) = match (outcome, retry_at) {
        (Ok(()), _) => (CallbackStatus::Delivered, None),
        (Err(e), Some(_)) => (CallbackStatus::Retrying, Some(e)),
        (Err(e), None) => (CallbackStatus::Failed, Some(e)),
    };
    let fenced = match (status, retry_at) {
        (CallbackStatus::Retrying, Some(at)) => {
            reschedule(&mut tx, st, job, at, error.unwrap_or_default()).await?
        }
        (CallbackStatus::Delivered, _) => finish_job(&mut tx, st, job, "done", None).await?,
        _ => finish_job(&mut tx, st, job, "failed", error).await?,
    };
    if !fenced {
        return Ok(false);
    }
    tx.execute(
        &st.callback_list,
        args![job.list_id, status.as_str(), i64::from(job.attempt), error],
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Jobs waiting or running, by kind.
pub(super) async fn depth<B: Backend>(db: &B) -> Result<Vec<(String, i64)>, DbError> {
    let mut session = db.read().await?;
    session
        .fetch_all(&db.statements().queue.queue_depth, Vec::new())
        .await?
        .iter()
        .map(rows::depth)
        .collect()
}

/// When the next job is due (or its lease ends), if any is waiting.
pub(super) async fn next_due<B: Backend>(db: &B) -> Result<Option<DateTime<Utc>>, DbError> {
    let mut session = db.read().await?;
    match session
        .fetch_optional(&db.statements().queue.next_due, Vec::new())
        .await?
    {
        Some(row) => row.time("due"),
        None => Ok(None),
    }
}

/// The callback event of a list that reached a final status.
pub(super) const FINISHED: &str = "list.finished";

/// Queues the list's callback job reporting `event`, when it has a callback.
async fn queue_callback<S: Session>(
    tx: &mut S,
    st: &QueueStatements,
    job: &ClaimedJob,
    max_attempts: u32,
    event: &str,
) -> Result<(), DbError> {
    if job.options.callback_url.is_none() {
        return Ok(());
    }
    queue_event(tx, st, job.list_id, max_attempts, event).await
}

/// Queues a callback job for list `id` reporting `event` (the list has a callback URL).
pub(super) async fn queue_event<S: Session>(
    tx: &mut S,
    st: &QueueStatements,
    id: uuid::Uuid,
    max_attempts: u32,
    event: &str,
) -> Result<(), DbError> {
    let kind = JobKind::Callback.as_str();
    tx.execute(&st.insert_job, args![id, kind, i64::from(max_attempts)])
        .await?;
    tx.execute(&st.callback_pending, args![id, event]).await?;
    Ok(())
}

/// Locks the job's list for the rest of the transaction, where rows are locked: every
/// transaction that writes a list and its jobs takes the list's row first, so two of them never
/// wait on each other in a circle.
async fn lock_list<S: Session>(
    tx: &mut S,
    st: &QueueStatements,
    job: &ClaimedJob,
) -> Result<(), DbError> {
    if let Some(lock) = &st.lock_list {
        tx.fetch_optional(lock, args![job.list_id]).await?;
    }
    Ok(())
}

/// The release a claimed job's list pushes, when it is a release's list.
fn released(job: &ClaimedJob) -> Option<uuid::Uuid> {
    job.release_id
        .filter(|_| job.operation == crate::model::Operation::Release)
}

/// Locks the job's list and ends its job `done`, if this worker still holds it.
pub(super) async fn finish_claimed<S: Session>(
    tx: &mut S,
    st: &QueueStatements,
    job: &ClaimedJob,
) -> Result<bool, DbError> {
    lock_list(tx, st, job).await?;
    finish_job(tx, st, job, "done", None).await
}

/// Replaces list `id`'s entries with `entries`, in order.
pub(super) async fn write_entries<S: Session>(
    tx: &mut S,
    st: &QueueStatements,
    id: uuid::Uuid,
    entries: &[crate::model::Entry],
) -> Result<(), DbError> {
    tx.execute(&st.delete_entries, args![id]).await?;
    if !entries.is_empty() {
        let params = entries
            .iter()
            .enumerate()
            .flat_map(|(position, e)| rows::entry_args(id, position, e))
            .collect();
        tx.execute(&st.insert_entries(entries.len()), params)
            .await?;
    }
    Ok(())
}

/// Puts a job back in the queue for `at`, if this worker still holds it (same attempt).
async fn reschedule<S: Session>(
    tx: &mut S,
    st: &QueueStatements,
    job: &ClaimedJob,
    at: DateTime<Utc>,
    error: &str,
) -> Result<bool, DbError> {
    let changed = tx
        .execute(
            &st.reschedule,
            args![job.job_id, i64::from(job.attempt), at, error],
        )
        .await?;
    Ok(changed == 1)
}

/// Ends a job if this worker still holds it (same attempt).
async fn finish_job<S: Session>(
    tx: &mut S,
    st: &QueueStatements,
    job: &ClaimedJob,
    state: &str,
    error: Option<&str>,
) -> Result<bool, DbError> {
    let changed = tx
        .execute(
            &st.finish_job,
            args![job.job_id, i64::from(job.attempt), state, error],
        )
        .await?;
    Ok(changed == 1)
}

//! The watch's side of the store: taking the lists due for a check (each process takes its own,
//! and moves their next check on as it takes them), recording what a check found, queueing the
//! callback of a list that became drifted and the follow-up of a followed list whose source moved
//! and the repair of a list kept whole found broken (`repair.rs`), and keeping each change of what
//! it found as a drift event of the target's timeline (`timeline.rs`) — once, for both backends.

use std::time::Duration;

use uuid::Uuid;

use chrono::{DateTime, Utc};

use super::queue::queue_event;
use super::repair;
use super::rows;
use super::sql::{Backend, Row as _, Session, Value, args};
use super::timeline;
use super::{DbError, ListRecord};
use crate::model::{DriftReason, DriftStatus};

/// What a check found.
#[derive(Debug, Clone)]
pub struct DriftFound {
    /// In sync, drifted, or unknown.
    pub status: DriftStatus,
    /// What drifted.
    pub reasons: Vec<DriftReason>,
    /// Why the registry could not be asked.
    pub error: Option<String>,
}

/// What recording a check did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DriftRecorded {
    /// Whether the list is still watched (a newer list may have landed meanwhile).
    pub recorded: bool,
    /// Whether it is drifted now and was not alerted of since it was last in sync.
    pub became_drifted: bool,
    /// The follow-up queued because a source of the followed list moved.
    pub follow_up: Option<Uuid>,
    /// The repair queued because the list, kept whole, was found broken.
    pub repair: Option<Uuid>,
}

/// The callback event of a list that became drifted.
const DRIFTED: &str = "list.drifted";

/// Takes up to `batch` lists whose check is due, the longest due first (answered in no order),
/// moving their next check `next_in` on, and reads them (with their entries) in the same
/// transaction: one write and one read per batch.
pub(super) async fn take_due<B: Backend>(
    db: &B,
    batch: i64,
    next_in: Duration,
) -> Result<Vec<ListRecord>, DbError> {
    let mut tx = db.begin().await?;
    let taken = tx
        .fetch_all(
            &db.statements().watch.take_due,
            vec![Value::Secs(next_in.as_secs_f64()), Value::from(batch)],
        )
        .await?
        .iter()
        .map(|row| row.uuid("list_id"))
        .collect::<Result<Vec<_>, _>>()?;
    if taken.is_empty() {
        return Ok(Vec::new());
    }
    let (within, ids) = id_list(&taken);
    let sql = format!(
        "{} where l.list_id in ({within})",
        db.statements().lists.page_select
    );
    let found = tx.fetch_all(&sql, ids).await?;
    tx.commit().await?;
    found.iter().map(rows::list).collect()
}

/// `$1, $2, …` for each of `ids`, and their values.
fn id_list(ids: &[Uuid]) -> (String, Vec<Value>) {
    let within = (1..=ids.len()).map(|n| format!("${n}")).collect::<Vec<_>>();
    (
        within.join(", "),
        ids.iter().map(|id| Value::Uuid(*id)).collect(),
    )
}

/// Records that the checks of `ids` found each in sync, in one transaction: what [`record`] writes
/// for an in-sync check (which queues nothing; a list whose last drift event was not "in sync"
/// gets one). Lists no longer watched are left alone; how many were recorded.
pub(super) async fn record_in_sync<B: Backend>(db: &B, ids: &[Uuid]) -> Result<u64, DbError> {
    if ids.is_empty() {
        return Ok(0);
    }
    let (within, ids) = id_list(ids);
    let st = &db.statements().watch;
    let sql = format!("{} and list_id in ({within})", st.in_sync);
    let mut tx = db.begin().await?;
    tx.execute(&timeline::in_sync_events(st, &within), ids.clone())
        .await?;
    let recorded = tx.execute(&sql, ids).await?;
    tx.commit().await?;
    Ok(recorded)
}

/// How far behind the watch is: how many watched lists are due now, and since when the oldest of
/// them is.
pub(super) async fn backlog<B: Backend>(db: &B) -> Result<(i64, Option<DateTime<Utc>>), DbError> {
    let mut session = db.read().await?;
    let row = session
        .fetch_optional(&db.statements().watch.backlog, Vec::new())
        .await?;
    match row {
        Some(row) => Ok((row.int("n")?.unwrap_or(0), row.time("oldest")?)),
        None => Ok((0, None)),
    }
}

/// Records what a check of list `id` found; queues its `list.drifted` callback when it became
/// drifted, and, when it is followed and a source moved, a follow-up list from the same spec
/// (unless a newer list for the target is waiting already) that takes the following over.
pub(super) async fn record<B: Backend>(
    db: &B,
    id: Uuid,
    found: &DriftFound,
    max_attempts: u32,
) -> Result<DriftRecorded, DbError> {
    let st = &db.statements().watch;
    let queue = &db.statements().queue;
    let mut tx = db.begin().await?;
    let Some(list) = tx.fetch_optional(&st.find, args![id]).await? else {
        return Ok(DriftRecorded::default());
    };
    // Alerted once when it drifts, and again only after it was found in sync (a registry that
    // could not be asked meanwhile changes nothing).
    let was_alerted = list.bool("drift_alerted")?;
    let became_drifted = found.status == DriftStatus::Drifted && !was_alerted;
    let alerted = match found.status {
        DriftStatus::InSync => false,
        DriftStatus::Drifted => true,
        DriftStatus::Unknown => was_alerted,
    };
    let moved = found
        .reasons
        .iter()
        .any(|r| matches!(r, DriftReason::SourceMoved { .. }));
    let follows = moved && list.bool("follow")?;
    let decision = match follows {
        // The follow-up pushes the list again: it makes it whole too.
        true => repair::Decision::None,
        false => {
            let watched = repair::Watched::read(&list)?;
            repair::decide(&mut tx, st, &watched, &found.reasons).await?
        }
    };
    let error = match &decision {
        repair::Decision::Stopped(why) => Some(why.as_str()),
        _ => found.error.as_deref(),
    };
    let reasons = serde_json::to_value(&found.reasons).unwrap_or_default();
    let params = vec![
        Value::Uuid(id),
        Value::from(found.status.as_str()),
        Value::Json(reasons),
        Value::from(error),
        Value::Bool(alerted),
    ];
    tx.execute(&st.record, params).await?;
    timeline::note(&mut tx, st, id, &list, found).await?;
    let mut done = DriftRecorded {
        recorded: true,
        became_drifted,
        follow_up: None,
        repair: None,
    };
    if decision == repair::Decision::Queue {
        let watched = repair::Watched::read(&list)?;
        done.repair = Some(repair::queue(&mut tx, st, queue, id, &watched, max_attempts).await?);
    }
    if follows {
        let target = list.text("target")?;
        let pending = tx
            .fetch_optional(
                &st.pending_newer,
                vec![Value::from(target.as_deref()), Value::Int(list.int("seq")?)],
            )
            .await?;
        if pending.is_none() {
            let next = Uuid::now_v7();
            tx.execute(&st.follow_up, args![id, next]).await?;
            tx.execute(
                &queue.insert_job,
                args![next, "push", i64::from(max_attempts)],
            )
            .await?;
            tx.execute(&st.handed_over, args![id, next]).await?;
            done.follow_up = Some(next);
        }
    }
    let has_callback = rows::options(&list)?.callback_url.is_some();
    if done.became_drifted && has_callback && done.follow_up.is_none() {
        queue_event(&mut tx, queue, id, max_attempts, DRIFTED).await?;
    }
    tx.commit().await?;
    if done.follow_up.is_some() || done.repair.is_some() || done.became_drifted {
        db.queued();
    }
    Ok(done)
}

/// How many watched lists are drifted.
pub(super) async fn drifted<B: Backend>(db: &B) -> Result<i64, DbError> {
    let mut session = db.read().await?;
    let row = session
        .fetch_optional(&db.statements().watch.drifted, Vec::new())
        .await?;
    Ok(row.map(|r| r.int("n")).transpose()?.flatten().unwrap_or(0))
}

/// Makes the watched lists that `repository` (`registry/repository`) concerns due now — those
/// pushed to it, and those with a source in it — so the watch checks them at once (a registry
/// said something changed there). How many.
pub(super) async fn wake<B: Backend>(db: &B, repository: &str) -> Result<u64, DbError> {
    let mut session = db.write_one().await?;
    let pattern = format!("%\"{repository}:%");
    let woken = session
        .execute(
            &db.statements().watch.wake,
            args![repository, pattern.as_str()],
        )
        .await?;
    session.commit().await?;
    Ok(woken)
}

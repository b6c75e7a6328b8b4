//! A publish in the queue, once for both backends: one submission written to several targets is
//! one list per destination, each in its own target's order, history and watch. The first list
//! (`publish_id` names it on every list of the group) holds the one push job; the others are
//! written beside it, move with it (running, succeeded, failed, superseded, queued again, canceled)
//! in the transactions that move it, and keep what became of their own destination.
//!
//! A claim of the job takes every destination's target (where several processes claim) and waits
//! while any destination has an older list queued (`statements::BLOCKED`).

use uuid::Uuid;

use super::DbError;
use super::rows::{ClaimedJob, NewList};
use super::sql::{Row as _, Session, Value, args};
use super::statements::Dialect;
use crate::model::Destination;

/// The statements of a publish's lists.
pub(crate) struct PublishStatements {
    /// Makes list $1 one of publish $2.
    pub join: String,
    /// The group's lists other than its first ($1), in order: id and target.
    pub members: String,
    /// The publish a list ($1) is one of: its first list (itself, for a list of one target).
    pub leader: String,
    /// Marks the group's other lists running, as the claim marks its first.
    pub running: String,
    /// What became of list $1's destination ($2).
    pub outcome: String,
}

impl PublishStatements {
    pub(crate) fn new(d: &Dialect) -> Self {
        let now = d.now;
        Self {
            join: "update list set publish_id = $2 where list_id = $1".to_owned(),
            members: "select list_id, target from list where owner = $1 and list_id <> $1 \
                 order by seq"
                .to_owned(),
            leader: "select owner from list where list_id = $1".to_owned(),
            running: format!(
                "update list set status = 'running', started_at = coalesce(started_at, {now}), \
                 updated_at = {now} where owner = $1 and list_id <> $1"
            ),
            outcome: "update list set publish_outcome = $2 where list_id = $1".to_owned(),
        }
    }
}

/// Writes a publish's further destinations beside its first list `first` (written already, with
/// the job): each a list of its own with its own work, no job, no callback (the first list's is
/// the submission's), no idempotency key.
pub(super) async fn insert_members<S: Session>(
    tx: &mut S,
    insert_list: &str,
    st: &PublishStatements,
    first: Uuid,
    new: &NewList,
    params: impl Fn(Uuid, &NewList) -> Vec<Value>,
) -> Result<(), DbError> {
    if new.more.is_empty() {
        return Ok(());
    }
    tx.execute(&st.join, args![first, first]).await?;
    for (target, spec) in &new.more {
        let mut member = new.clone();
        member.target = target.clone();
        member.spec = spec.clone();
        member.idempotency_key = None;
        member.options.callback_url = None;
        member.more = Vec::new();
        let id = Uuid::now_v7();
        tx.execute(insert_list, params(id, &member)).await?;
        tx.execute(&st.join, args![id, first]).await?;
    }
    Ok(())
}

/// The other lists of the publish `first` runs, in order (none for a list of one target).
pub(super) async fn members<S: Session>(
    tx: &mut S,
    st: &PublishStatements,
    first: Uuid,
) -> Result<Vec<(Uuid, String)>, DbError> {
    let rows = tx.fetch_all(&st.members, args![first]).await?;
    rows.iter()
        .map(|row| {
            Ok((
                row.uuid("list_id")?,
                row.text("target")?.unwrap_or_default(),
            ))
        })
        .collect()
}

/// The ids of [`members`].
pub(super) async fn member_ids<S: Session>(
    tx: &mut S,
    st: &PublishStatements,
    first: Uuid,
) -> Result<Vec<Uuid>, DbError> {
    Ok(members(tx, st, first)
        .await?
        .into_iter()
        .map(|(id, _)| id)
        .collect())
}

/// The first list of the publish list `id` is one of (`id` itself when it is not one).
pub(super) async fn leader<S: Session>(
    tx: &mut S,
    st: &PublishStatements,
    id: Uuid,
) -> Result<Uuid, DbError> {
    Ok(match tx.fetch_optional(&st.leader, args![id]).await? {
        Some(row) => row.uuid("owner")?,
        None => id,
    })
}

/// A claimed publish: its other lists read and marked running with the first.
pub(super) async fn claimed<S: Session>(
    tx: &mut S,
    st: &PublishStatements,
    job: &mut ClaimedJob,
) -> Result<(), DbError> {
    job.members = members(tx, st, job.list_id).await?;
    if !job.members.is_empty() {
        tx.execute(&st.running, args![job.list_id]).await?;
    }
    Ok(())
}

/// Every list of the claimed job's publish, the first first (one, for a list of one target).
pub(super) fn lists(job: &ClaimedJob) -> impl Iterator<Item = Uuid> + '_ {
    std::iter::once(job.list_id).chain(job.members.iter().map(|(id, _)| *id))
}

/// Records what became of each destination of a publish with its list.
pub(super) async fn record_outcomes<S: Session>(
    tx: &mut S,
    st: &PublishStatements,
    job: &ClaimedJob,
    destinations: &[Destination],
) -> Result<(), DbError> {
    if job.members.is_empty() {
        return Ok(());
    }
    let targets = std::iter::once((job.list_id, job.target.as_str()))
        .chain(job.members.iter().map(|(id, t)| (*id, t.as_str())));
    for (id, target) in targets {
        let Some(found) = destinations.iter().find(|d| d.target == target) else {
            continue;
        };
        let outcome = serde_json::to_value(found).unwrap_or_default();
        tx.execute(&st.outcome, vec![Value::Uuid(id), Value::Json(outcome)])
            .await?;
    }
    Ok(())
}

/// The targets a claim of publish `first` takes: every destination's.
pub(super) async fn targets<S: Session>(
    tx: &mut S,
    st: &PublishStatements,
    first: Uuid,
    target: Option<String>,
) -> Result<Vec<Option<String>>, DbError> {
    let mut all = vec![target];
    for (_, other) in members(tx, st, first).await? {
        all.push(Some(other));
    }
    Ok(all)
}

//! A target's timeline between its lists: the drift events — each change of what the watch found
//! of the list the target holds (drifted and why, back in sync), written in the transaction that
//! records the check (`watch.rs`) and only when the state changed from the list's last event
//! (`DriftEvent::is_change`) — and their read, newest first. Once, for both backends.

use uuid::Uuid;

use super::DbError;
use super::rows::{json, named};
use super::sql::{Backend, Row, Session, Value, args};
use super::statements::WatchStatements;
use super::watch::DriftFound;
use crate::model::{Digest, DriftEvent, DriftStatus};

/// Keeps what a check of the watched list `id` found as an event when it changes the list's
/// state; `list` is the list's row as the watch's `find` read (and locked) it. Whether it did.
pub(super) async fn note<S: Session>(
    tx: &mut S,
    st: &WatchStatements,
    id: Uuid,
    list: &impl Row,
    found: &DriftFound,
) -> Result<bool, DbError> {
    let last = match tx.fetch_optional(&st.last_event, args![id]).await? {
        Some(row) => Some((
            named::<DriftStatus>(
                "drift event status",
                &row.text("status")?.unwrap_or_default(),
            )?,
            json("drift event reasons", row.json("reasons")?)?.unwrap_or_default(),
        )),
        None => None,
    };
    let last = last.as_ref().map(|(s, r): &(_, Vec<_>)| (*s, r.as_slice()));
    if !DriftEvent::is_change(last, found.status, &found.reasons) {
        return Ok(false);
    }
    let target = list.text("target")?.unwrap_or_default();
    let digest: Option<Digest> = list
        .text("digest")?
        .map(|d| named("digest", &d))
        .transpose()?;
    let observed = DriftEvent::observed(&target, digest.as_ref(), &found.reasons);
    let params = vec![
        Value::Uuid(id),
        Value::from(target.as_str()),
        Value::from(found.status.as_str()),
        Value::Json(serde_json::to_value(&found.reasons).unwrap_or_default()),
        Value::from(observed.as_ref().map(Digest::as_str)),
    ];
    tx.execute(&st.insert_event, params).await?;
    Ok(true)
}

/// The statement that keeps a "back in sync" event for each of the watched lists `within` names
/// (`$1, $2, …`) whose last event was not one already — what [`note`] writes for an in-sync
/// check, for a batch at once.
pub(super) fn in_sync_events(st: &WatchStatements, within: &str) -> String {
    format!("{} and l.list_id in ({within})", st.in_sync_events)
}

/// The drift events of `target`, newest first, at most `limit`.
pub(super) async fn for_target<B: Backend>(
    db: &B,
    target: &str,
    limit: i64,
) -> Result<Vec<DriftEvent>, DbError> {
    let mut session = db.read().await?;
    let rows = session
        .fetch_all(&db.statements().watch.target_events, args![target, limit])
        .await?;
    rows.iter()
        .map(|row| {
            Ok(DriftEvent {
                at: row.time("at")?.unwrap_or_default(),
                list_id: row.uuid("list_id")?,
                status: named(
                    "drift event status",
                    &row.text("status")?.unwrap_or_default(),
                )?,
                reasons: json("drift event reasons", row.json("reasons")?)?.unwrap_or_default(),
                observed: row
                    .text("observed")?
                    .map(|d| named("digest", &d))
                    .transpose()?,
            })
        })
        .collect()
}

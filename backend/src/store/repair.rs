//! The watch's repairs: when a check of a list that asks to be kept whole (`repair`) finds it
//! broken, a list of operation `repair` is queued in the transaction that records the finding —
//! unless another writer moved the tag (and only `"tag"` says to put it back), a newer list of the
//! target is waiting already, or the target had [`LIMIT`] repairs in the last hour (then the
//! finding's error says why, and nothing is queued). Decides and writes; never calls up.

use uuid::Uuid;

use super::DbError;
use super::rows;
use super::sql::{Row, Session, Value, args};
use super::statements::{QueueStatements, WatchStatements};
use crate::model::{Digest, DriftReason, Reference, Repair};
use crate::spec::{CopySpec, Work};

/// Repairs of one target queued within an hour, at most.
pub(crate) const LIMIT: i64 = 3;

/// What a repair reads of the watched list's row.
pub(super) struct Watched {
    target: String,
    seq: i64,
    mode: Repair,
    digest: Option<String>,
    tags: Vec<String>,
}

impl Watched {
    /// The watched list's row, as `find` reads it.
    pub(super) fn read(list: &impl Row) -> Result<Self, DbError> {
        Ok(Self {
            target: list.text("target")?.unwrap_or_default(),
            seq: list.int("seq")?.unwrap_or_default(),
            mode: rows::options(list)?.repair,
            digest: list.text("digest")?,
            tags: rows::json("tags", list.json("tags")?)?.unwrap_or_default(),
        })
    }
}

/// What a finding asks of the repair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Decision {
    /// Nothing to repair, or nothing the list asks to repair.
    None,
    /// Repaired too often lately: the finding's error.
    Stopped(String),
    /// A repair list to queue.
    Queue,
}

/// What the check of the watched `list` asks of the repair.
pub(super) async fn decide<S: Session>(
    tx: &mut S,
    st: &WatchStatements,
    list: &Watched,
    reasons: &[DriftReason],
) -> Result<Decision, DbError> {
    let mode = list.mode;
    if !mode.is_on() {
        return Ok(Decision::None);
    }
    let target = &list.target;
    let missing = reasons
        .iter()
        .any(|r| matches!(r, DriftReason::ChildMissing { .. }));
    let (mut ours, mut foreign) = (false, false);
    for reason in reasons {
        if let DriftReason::TagMoved { found, .. } = reason {
            let pushed = match found {
                Some(d) => tx
                    .fetch_optional(&st.pushed_here, args![target.as_str(), d.as_str()])
                    .await?
                    .is_some(),
                None => false,
            };
            (ours, foreign) = (ours || pushed, foreign || !pushed);
        }
    }
    let wanted = match mode {
        Repair::Off => false,
        Repair::Children => (missing || ours) && !foreign,
        Repair::Tag => missing || ours || foreign,
    };
    if !wanted {
        return Ok(Decision::None);
    }
    let pending = tx
        .fetch_optional(
            &st.pending_newer,
            vec![Value::from(target.as_str()), Value::Int(Some(list.seq))],
        )
        .await?;
    if pending.is_some() {
        return Ok(Decision::None);
    }
    let recent = tx
        .fetch_optional(
            &st.repairs_since,
            vec![Value::from(target.as_str()), Value::Secs(-3600.0)],
        )
        .await?
        .map(|r| r.int("n"))
        .transpose()?
        .flatten()
        .unwrap_or(0);
    if recent >= LIMIT {
        return Ok(Decision::Stopped(format!(
            "repair stopped: {recent} repairs of {target} in the last hour (at most {LIMIT}); \
             it resumes when the hour has passed"
        )));
    }
    Ok(Decision::Queue)
}

/// Queues the repair of list `id`: the same target, tags and options, its work
/// a copy of its own digest (which the job pushes again from the recorded entries).
pub(super) async fn queue<S: Session>(
    tx: &mut S,
    st: &WatchStatements,
    queue: &QueueStatements,
    id: Uuid,
    list: &Watched,
    max_attempts: u32,
) -> Result<Uuid, DbError> {
    let corrupt = |message: String| DbError::Corrupt {
        what: "list",
        message,
    };
    let image = Reference::parse(&list.target).map_err(|e| corrupt(e.to_string()))?;
    let digest: Digest = rows::named("digest", list.digest.as_deref().unwrap_or_default())?;
    let work = Work::Copy(CopySpec {
        source: image.with_digest(&digest),
        image,
        more_targets: Vec::new(),
        tags: list.tags.clone(),
    });
    let text = serde_json::json!({"repair_of": id, "digest": digest}).to_string();
    let next = Uuid::now_v7();
    tx.execute(
        &st.repair,
        vec![
            Value::Uuid(id),
            Value::Uuid(next),
            Value::Json(work.to_stored()),
            Value::from(text.as_str()),
        ],
    )
    .await?;
    tx.execute(
        &queue.insert_job,
        args![next, "push", i64::from(max_attempts)],
    )
    .await?;
    Ok(next)
}

//! The records the store writes and reads, and the reading of them from rows — once, for both
//! backends. Stored names become model types here; a name that does not read back is a
//! [`DbError::Corrupt`], never a panic.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::DbError;
use super::sql::Row;
use crate::model::{
    CallbackStatus, Destination, Digest, DriftReason, DriftStatus, Entry, ErrorCode, Identity,
    ListOptions, ListStatus, Operation, SourcePin, SpecFormat,
};
use crate::spec::Work;

/// The two kinds of job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// Push a list.
    Push,
    /// Tell the submitter how it went.
    Callback,
}

impl JobKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Push => "push",
            Self::Callback => "callback",
        }
    }
}

/// A list to write.
#[derive(Debug, Clone)]
pub struct NewList {
    /// The target reference.
    pub target: String,
    /// Extra tags.
    pub tags: Vec<String>,
    /// What it does to the target.
    pub operation: Operation,
    /// The submission's options (kept as one document; `follow` also as the list's switch).
    pub options: ListOptions,
    /// The validated work (a spec, a removal, a copy), as JSON.
    pub spec: serde_json::Value,
    /// The spec as submitted.
    pub spec_text: String,
    /// The format it was submitted in.
    pub spec_format: SpecFormat,
    /// The client's idempotency key.
    pub idempotency_key: Option<String>,
    /// The request's fingerprint, to tell a repeat from a reused key.
    pub request_hash: String,
    /// Who submitted it, when an OIDC ID token did.
    pub identity: Option<Identity>,
    /// A publish's further destinations, each written as a list of its own beside this one
    /// (which runs the publish): its target and its own work, as JSON.
    pub more: Vec<(String, serde_json::Value)>,
}

/// One list of a publish (one submission written to several targets), as each list of it shows
/// the others.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct PublishMember {
    /// The list.
    pub list_id: Uuid,
    /// Its destination.
    pub target: String,
    /// Its status.
    pub status: ListStatus,
    /// What its tag holds now, once the publish ended: the list's digest where published.
    pub digest: Option<Digest>,
    /// What became of its destination, once the publish ended.
    pub outcome: Option<Destination>,
}

/// What the watch last found a pushed list to be.
#[derive(Debug, Clone)]
pub struct DriftRecord {
    /// In sync, drifted, or unknown.
    pub status: DriftStatus,
    /// When it was found.
    pub checked_at: Option<DateTime<Utc>>,
    /// What drifted.
    pub reasons: Vec<DriftReason>,
    /// Why the registry could not be asked, when the status is unknown.
    pub error: Option<String>,
}

/// A recorded list.
#[derive(Debug, Clone)]
pub struct ListRecord {
    /// Its id.
    pub id: Uuid,
    /// Its revision: moved on by every update of its row (a trigger), so that an answer kept
    /// at one revision is known stale at another.
    pub revision: i64,
    /// Its status.
    pub status: ListStatus,
    /// The target reference.
    pub target: String,
    /// Extra tags.
    pub tags: Vec<String>,
    /// What it does to the target.
    pub operation: Operation,
    /// The submission's options; `follow` is whether it is followed now.
    pub options: ListOptions,
    /// The spec as submitted.
    pub spec_text: String,
    /// The format it was submitted in.
    pub spec_format: SpecFormat,
    /// The list's digest once pushed.
    pub digest: Option<Digest>,
    /// Its media type once pushed.
    pub media_type: Option<String>,
    /// Its size once pushed.
    pub size: Option<u64>,
    /// The last error's code.
    pub error_code: Option<ErrorCode>,
    /// The last error's message.
    pub error_message: Option<String>,
    /// Attempts made so far.
    pub attempts: i32,
    /// Attempts it gets (none for a list whose job is gone).
    pub max_attempts: Option<i32>,
    /// When a list waiting out a backoff is tried next.
    pub retry_at: Option<DateTime<Utc>>,
    /// How the callback's delivery goes, once queued.
    pub callback_status: Option<CallbackStatus>,
    /// Callback deliveries tried.
    pub callback_attempts: i32,
    /// The last callback error.
    pub callback_error: Option<String>,
    /// When it was submitted.
    pub created_at: DateTime<Utc>,
    /// When a worker first took it.
    pub started_at: Option<DateTime<Utc>>,
    /// When it reached a final status.
    pub finished_at: Option<DateTime<Utc>>,
    /// Its entries, once pushed.
    pub entries: Vec<Entry>,
    /// Its place in the order of submissions (higher is newer).
    pub sequence: i64,
    /// The newer list that landed first, when this one was superseded.
    pub superseded_by: Option<Uuid>,
    /// The list it re-pushes (a follow-up).
    pub follows: Option<Uuid>,
    /// The follow-up that took the following over.
    pub followed_by: Option<Uuid>,
    /// What the watch last found, once pushed.
    pub drift: Option<DriftRecord>,
    /// Whether the watch checks it (the list that landed last on its target).
    pub watched: bool,
    /// The digests its sources named by tag resolved to.
    pub sources: Vec<SourcePin>,
    /// What its pending callback reports.
    pub callback_event: Option<String>,
    /// The staged release it brings platforms to (a stage) or pushes (a release).
    pub release_id: Option<Uuid>,
    /// The list that landed on its target after it (so the target no longer holds it).
    pub replaced_by: Option<Uuid>,
    /// Who submitted it, when an OIDC ID token did.
    pub identity: Option<Identity>,
    /// The publish it is one destination of: the group's first list (which runs it).
    pub publish_id: Option<Uuid>,
    /// Every list of that publish, this one included, in the order of its destinations.
    pub publish: Vec<PublishMember>,
}

/// What a finished push recorded.
#[derive(Debug, Clone)]
pub struct PushOutcome {
    /// The list's digest.
    pub digest: Digest,
    /// Its media type.
    pub media_type: String,
    /// Its size.
    pub size: u64,
    /// Its entries.
    pub entries: Vec<Entry>,
    /// The digests its sources named by tag resolved to.
    pub sources: Vec<SourcePin>,
    /// When the watch first checks it (none: it is not watched).
    pub watch_at: Option<DateTime<Utc>>,
    /// With several destinations: what became of each.
    pub destinations: Vec<Destination>,
}

/// Filters of the list listing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ListFilter {
    /// Only this status.
    pub status: Option<ListStatus>,
    /// Only this target (with or without its tag).
    pub target: Option<String>,
    /// Only lists older than this (cursor).
    pub before: Option<(DateTime<Utc>, Uuid)>,
    /// Page size.
    pub limit: i64,
}

/// A list's id and its revision now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListKey {
    /// Its id.
    pub id: Uuid,
    /// Its revision.
    pub revision: i64,
}

/// One page of lists, as their keys only.
#[derive(Debug, Clone)]
pub struct KeyPage {
    /// The lists' keys, in page order.
    pub items: Vec<ListKey>,
    /// The cursor of the next page, if there is one.
    pub next: Option<(DateTime<Utc>, Uuid)>,
}

/// One page of lists.
#[derive(Debug, Clone)]
pub struct Page {
    /// The lists.
    pub items: Vec<ListRecord>,
    /// The cursor of the next page, if there is one.
    pub next: Option<(DateTime<Utc>, Uuid)>,
}

/// A job a worker holds.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    /// The job.
    pub job_id: i64,
    /// Its list.
    pub list_id: Uuid,
    /// Push or callback.
    pub kind: JobKind,
    /// This attempt's number (1-based): the fencing token.
    pub attempt: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// What it does to the target.
    pub operation: Operation,
    /// The work: the list to push, the entries to remove, the reference to copy.
    pub work: Work,
    /// The submission's options.
    pub options: ListOptions,
    /// The target reference.
    pub target: String,
    /// The list's place in the order of submissions.
    pub sequence: i64,
    /// A newer list for the target that landed already, so this one must not be pushed.
    pub superseded_by: Option<Uuid>,
    /// The staged release it brings platforms to (a stage) or pushes (a release).
    pub release_id: Option<Uuid>,
    /// A publish's other lists (the claimed list runs it): each one's id and destination, in
    /// order.
    pub members: Vec<(Uuid, String)>,
}

/// Text that came from outside (a registry's error, a callback host's answer) as it can be stored:
/// PostgreSQL's text holds no NUL character, so each becomes U+FFFD.
pub(crate) fn storable(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains('\0') {
        std::borrow::Cow::Owned(text.replace('\0', "\u{fffd}"))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// A column that must not be null.
fn required<T>(column: &str, value: Option<T>) -> Result<T, DbError> {
    value.ok_or_else(|| DbError::Corrupt {
        what: "column",
        message: format!("{column} is null"),
    })
}

/// A stored name read back as its type.
pub(super) fn named<T: std::str::FromStr>(what: &'static str, text: &str) -> Result<T, DbError>
where
    T::Err: std::fmt::Display,
{
    text.parse().map_err(|e: T::Err| DbError::Corrupt {
        what,
        message: e.to_string(),
    })
}

/// A JSON column read as `T`.
pub(super) fn json<T: DeserializeOwned>(
    what: &'static str,
    value: Option<serde_json::Value>,
) -> Result<Option<T>, DbError> {
    value
        .filter(|v| !v.is_null())
        .map(|v| {
            serde_json::from_value(v).map_err(|e| DbError::Corrupt {
                what,
                message: e.to_string(),
            })
        })
        .transpose()
}

fn int32(row: &impl Row, column: &str) -> Result<i32, DbError> {
    let n = required(column, row.int(column)?)?;
    i32::try_from(n).map_err(|_| DbError::Corrupt {
        what: "count",
        message: format!("{column} is {n}"),
    })
}

/// A list as every list read selects it (see `sql::LIST_COLUMNS`).
pub(crate) fn list(row: &impl Row) -> Result<ListRecord, DbError> {
    Ok(ListRecord {
        id: row.uuid("list_id")?,
        revision: row.int("revision")?.unwrap_or(0),
        status: named("list status", &required("status", row.text("status")?)?)?,
        target: required("target", row.text("target")?)?,
        tags: json("tags", row.json("tags")?)?.unwrap_or_default(),
        operation: named("operation", &required("operation", row.text("operation")?)?)?,
        options: options(row)?,
        spec_text: required("spec_text", row.text("spec_text")?)?,
        spec_format: named(
            "spec format",
            &required("spec_format", row.text("spec_format")?)?,
        )?,
        digest: row
            .text("digest")?
            .map(|d| named("digest", &d))
            .transpose()?,
        media_type: row.text("media_type")?,
        size: row.int("size")?.map(|s| s.max(0) as u64),
        error_code: row.text("error_code")?.map(|c| ErrorCode::parse(&c)),
        error_message: row.text("error_message")?,
        attempts: int32(row, "attempts")?,
        max_attempts: row.int("max_attempts")?.and_then(|n| i32::try_from(n).ok()),
        retry_at: retry_at(row)?,
        callback_status: row
            .text("callback_status")?
            .map(|s| named("callback status", &s))
            .transpose()?,
        callback_attempts: int32(row, "callback_attempts")?,
        callback_error: row.text("callback_error")?,
        created_at: required("created_at", row.time("created_at")?)?,
        started_at: row.time("started_at")?,
        finished_at: row.time("finished_at")?,
        entries: json("entries", row.json("entries")?)?.unwrap_or_default(),
        sequence: required("seq", row.int("seq")?)?,
        superseded_by: row.uuid_opt("superseded_by")?,
        follows: row.uuid_opt("follows")?,
        followed_by: row.uuid_opt("followed_by")?,
        drift: drift(row)?,
        watched: row.time("drift_next_at")?.is_some(),
        sources: json("sources", row.json("sources")?)?.unwrap_or_default(),
        callback_event: row.text("callback_event")?,
        release_id: row.uuid_opt("release_id")?,
        replaced_by: row.uuid_opt("replaced_by")?,
        identity: json("identity", row.json("identity")?)?,
        publish_id: row.uuid_opt("publish_id")?,
        publish: json("publish", row.json("publish")?)?.unwrap_or_default(),
    })
}

/// A list's options: its `options` document, with `follow` as the list's switch says now.
pub(crate) fn options(row: &impl Row) -> Result<ListOptions, DbError> {
    let mut options: ListOptions = json("options", row.json("options")?)?.unwrap_or_default();
    options.follow = row.bool("follow")?;
    Ok(options)
}

/// When a queued list that failed an attempt is tried again.
fn retry_at(row: &impl Row) -> Result<Option<DateTime<Utc>>, DbError> {
    let waiting = row.text("status")?.as_deref() == Some(ListStatus::Queued.as_str());
    let tried = row.int("attempts")?.unwrap_or(0) > 0;
    Ok(if waiting && tried {
        row.time("next_run")?
    } else {
        None
    })
}

/// What the watch last found, if it looked.
fn drift(row: &impl Row) -> Result<Option<DriftRecord>, DbError> {
    let Some(status) = row.text("drift_status")? else {
        return Ok(None);
    };
    Ok(Some(DriftRecord {
        status: named("drift status", &status)?,
        checked_at: row.time("drift_checked_at")?,
        reasons: json("drift reasons", row.json("drift_reasons")?)?.unwrap_or_default(),
        error: row.text("drift_error")?,
    }))
}

/// A claimed job from the job row the claim returned and its list's row.
pub(crate) fn claimed(job: &impl Row, list: &impl Row) -> Result<ClaimedJob, DbError> {
    let kind = required("kind", job.text("kind")?)?;
    let operation: Operation = named(
        "operation",
        &required("operation", list.text("operation")?)?,
    )?;
    let spec = required("spec", list.json("spec")?)?;
    let work = Work::from_stored(operation, spec).map_err(|e| DbError::Corrupt {
        what: "spec",
        message: e.to_string(),
    })?;
    Ok(ClaimedJob {
        job_id: required("job_id", job.int("job_id")?)?,
        list_id: job.uuid("list_id")?,
        kind: if kind == "callback" {
            JobKind::Callback
        } else {
            JobKind::Push
        },
        attempt: int32(job, "attempt")?,
        max_attempts: int32(job, "max_attempts")?,
        operation,
        work,
        options: options(list)?,
        target: required("target", list.text("target")?)?,
        sequence: required("seq", list.int("seq")?)?,
        superseded_by: None,
        release_id: list.uuid_opt("release_id")?,
        members: Vec::new(),
    })
}

/// `(kind, count)` rows.
pub(crate) fn depth(row: &impl Row) -> Result<(String, i64), DbError> {
    Ok((
        required("kind", row.text("kind")?)?,
        required("n", row.int("n")?)?,
    ))
}

/// The parameters of one `list_entry` row (`sql::ENTRY_COLUMNS` of them).
pub(crate) fn entry_args(list_id: Uuid, position: usize, e: &Entry) -> Vec<super::sql::Value> {
    use super::sql::Value;
    let annotations: &BTreeMap<String, String> = &e.annotations;
    vec![
        Value::Uuid(list_id),
        Value::Int(Some(position as i64)),
        Value::from(e.image.as_str()),
        Value::from(e.digest.as_str()),
        Value::from(e.media_type.as_str()),
        Value::Int(Some(e.size.min(i64::MAX as u64) as i64)),
        match &e.platform {
            Some(p) => Value::Json(serde_json::to_value(p).unwrap_or_default()),
            None => Value::Json(serde_json::Value::Null),
        },
        Value::Json(serde_json::to_value(annotations).unwrap_or_default()),
        Value::Bool(e.attestation),
    ]
}

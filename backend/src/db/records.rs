//! The plain records the store reads and writes, and the rows they are read from.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use uuid::Uuid;

use super::DbError;
use crate::model::{ListType, Platform};
use crate::spec::ListSpec;

/// The columns every list read selects, joined with its push job's attempts.
pub(super) const LIST_SELECT: &str = "select l.list_id, l.status, l.target, l.tags, l.output_type, \
    l.ignore_missing, l.spec_text, l.spec_format, l.callback_url, l.digest, l.media_type, l.size, \
    l.error_code, l.error_message, l.callback_status, l.callback_attempts, l.callback_error, \
    l.created_at, l.started_at, l.finished_at, coalesce(j.attempt, 0) as attempts \
    from list l left join job j on j.list_id = l.list_id and j.kind = 'push'";

/// Where a list is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ListStatus {
    /// Waiting for a worker (or for its next attempt).
    Queued,
    /// A worker is pushing it.
    Running,
    /// Pushed; the digest is recorded.
    Succeeded,
    /// Failed for good; the error is recorded.
    Failed,
    /// Canceled before it ran.
    Canceled,
}

impl ListStatus {
    /// Every status, in life order.
    pub const ALL: [ListStatus; 5] = [
        Self::Queued,
        Self::Running,
        Self::Succeeded,
        Self::Failed,
        Self::Canceled,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Canceled => "canceled",
        }
    }

    /// Reads a stored name.
    pub fn parse(s: &str) -> Result<Self, DbError> {
        Self::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| DbError::Corrupt {
                what: "list status",
                message: s.to_owned(),
            })
    }

    /// Whether the list will not change any more by itself.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Canceled)
    }
}

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
    /// `docker`, `oci` or `auto`.
    pub output_type: String,
    /// Skip missing sources.
    pub ignore_missing: bool,
    /// The validated spec, as JSON.
    pub spec: serde_json::Value,
    /// The spec as submitted.
    pub spec_text: String,
    /// `json` or `yaml`.
    pub spec_format: String,
    /// Where to POST the result.
    pub callback_url: Option<String>,
    /// The client's idempotency key.
    pub idempotency_key: Option<String>,
    /// A hash of the request, to tell a repeat from a reused key.
    pub request_hash: String,
}

/// A recorded list.
#[derive(Debug, Clone)]
pub struct ListRecord {
    /// Its id.
    pub id: Uuid,
    /// Its status.
    pub status: ListStatus,
    /// The target reference.
    pub target: String,
    /// Extra tags.
    pub tags: Vec<String>,
    /// The output type asked for.
    pub output_type: String,
    /// Whether missing sources are skipped.
    pub ignore_missing: bool,
    /// The spec as submitted.
    pub spec_text: String,
    /// `json` or `yaml`.
    pub spec_format: String,
    /// The callback URL.
    pub callback_url: Option<String>,
    /// The list's digest once pushed.
    pub digest: Option<String>,
    /// Its media type once pushed.
    pub media_type: Option<String>,
    /// Its size once pushed.
    pub size: Option<i64>,
    /// The last error's code.
    pub error_code: Option<String>,
    /// The last error's message.
    pub error_message: Option<String>,
    /// Attempts made so far.
    pub attempts: i32,
    /// `pending`, `retrying`, `delivered` or `failed`.
    pub callback_status: Option<String>,
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
    pub entries: Vec<EntryRecord>,
}

/// A recorded entry of a pushed list.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EntryRecord {
    /// Where it came from.
    pub image: String,
    /// Its digest.
    pub digest: String,
    /// Its media type.
    pub media_type: String,
    /// Its size.
    pub size: i64,
    /// Its platform (none for attestations).
    pub platform: Option<Platform>,
    /// Its descriptor annotations.
    pub annotations: BTreeMap<String, String>,
    /// Whether it is an attestation.
    pub attestation: bool,
}

/// What a finished push recorded.
#[derive(Debug, Clone)]
pub struct PushOutcome {
    /// The list's digest.
    pub digest: String,
    /// Its media type.
    pub media_type: String,
    /// Its size.
    pub size: i64,
    /// Its entries.
    pub entries: Vec<EntryRecord>,
}

/// Filters of the list listing.
#[derive(Debug, Clone, Default)]
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
    /// The spec to push.
    pub spec: ListSpec,
    /// The output type.
    pub output: ListType,
    /// Skip missing sources.
    pub ignore_missing: bool,
    /// Where to POST the result.
    pub callback_url: Option<String>,
}

#[derive(sqlx::FromRow)]
pub(super) struct ListRow {
    pub list_id: Uuid,
    status: String,
    target: String,
    tags: Json<Vec<String>>,
    output_type: String,
    ignore_missing: bool,
    spec_text: String,
    spec_format: String,
    callback_url: Option<String>,
    digest: Option<String>,
    media_type: Option<String>,
    size: Option<i64>,
    error_code: Option<String>,
    error_message: Option<String>,
    callback_status: Option<String>,
    callback_attempts: i32,
    callback_error: Option<String>,
    pub created_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    attempts: i32,
}

#[derive(sqlx::FromRow)]
pub(super) struct EntryRow {
    pub list_id: Uuid,
    #[expect(dead_code, reason = "rows come ordered by it")]
    position: i32,
    image: String,
    digest: String,
    media_type: String,
    size: i64,
    platform: Option<Json<Platform>>,
    annotations: Json<BTreeMap<String, String>>,
    attestation: bool,
}

#[derive(sqlx::FromRow)]
pub(super) struct ClaimRow {
    job_id: i64,
    pub list_id: Uuid,
    pub kind: String,
    attempt: i32,
    max_attempts: i32,
    spec: serde_json::Value,
    output_type: String,
    ignore_missing: bool,
    callback_url: Option<String>,
}

impl ClaimRow {
    pub(super) fn into_claimed(self) -> Result<ClaimedJob, DbError> {
        claimed(
            self.job_id,
            self.list_id,
            &self.kind,
            self.attempt,
            self.max_attempts,
            &self.spec.to_string(),
            &self.output_type,
            self.ignore_missing,
            self.callback_url,
        )
    }
}

/// A claimed job from its stored parts; the spec is parsed again (it was validated on the way in).
#[expect(clippy::too_many_arguments, reason = "one per stored column")]
pub(super) fn claimed(
    job_id: i64,
    list_id: Uuid,
    kind: &str,
    attempt: i32,
    max_attempts: i32,
    spec: &str,
    output_type: &str,
    ignore_missing: bool,
    callback_url: Option<String>,
) -> Result<ClaimedJob, DbError> {
    let spec = crate::spec::parse::from_json(spec).map_err(|e| DbError::Corrupt {
        what: "spec",
        message: e.to_string(),
    })?;
    let output = match output_type {
        "docker" => ListType::Docker,
        "oci" => ListType::Oci,
        _ => ListType::Auto,
    };
    Ok(ClaimedJob {
        job_id,
        list_id,
        kind: if kind == "callback" {
            JobKind::Callback
        } else {
            JobKind::Push
        },
        attempt,
        max_attempts,
        spec,
        output,
        ignore_missing,
        callback_url,
    })
}

/// The callback status to record for a delivery's outcome, and its error.
pub(super) fn callback_status(
    outcome: Result<(), &str>,
    retry_at: Option<DateTime<Utc>>,
) -> (&'static str, Option<&str>) {
    match (outcome, retry_at) {
        (Ok(()), _) => ("delivered", None),
        (Err(e), Some(_)) => ("retrying", Some(e)),
        (Err(e), None) => ("failed", Some(e)),
    }
}

pub(super) fn assemble<'a>(
    row: ListRow,
    entries: impl Iterator<Item = &'a EntryRow>,
) -> Result<ListRecord, DbError> {
    Ok(ListRecord {
        id: row.list_id,
        status: ListStatus::parse(&row.status)?,
        target: row.target,
        tags: row.tags.0,
        output_type: row.output_type,
        ignore_missing: row.ignore_missing,
        spec_text: row.spec_text,
        spec_format: row.spec_format,
        callback_url: row.callback_url,
        digest: row.digest,
        media_type: row.media_type,
        size: row.size,
        error_code: row.error_code,
        error_message: row.error_message,
        attempts: row.attempts,
        callback_status: row.callback_status,
        callback_attempts: row.callback_attempts,
        callback_error: row.callback_error,
        created_at: row.created_at,
        started_at: row.started_at,
        finished_at: row.finished_at,
        entries: entries
            .map(|e| EntryRecord {
                image: e.image.clone(),
                digest: e.digest.clone(),
                media_type: e.media_type.clone(),
                size: e.size,
                platform: e.platform.as_ref().map(|p| p.0.clone()),
                annotations: e.annotations.0.clone(),
                attestation: e.attestation,
            })
            .collect(),
    })
}

//! The rows the SQLite store reads (timestamps as microseconds, JSON as text) and their turning
//! into the store's records.

use super::time;
use crate::db::DbError;
use crate::db::records::{EntryRecord, ListRecord, ListStatus};
use uuid::Uuid;

pub(super) const LIST_SELECT: &str = "select l.list_id, l.status, l.target, l.tags, l.output_type, \
    l.ignore_missing, l.spec_text, l.spec_format, l.callback_url, l.digest, l.media_type, l.size, \
    l.error_code, l.error_message, l.callback_status, l.callback_attempts, l.callback_error, \
    l.created_at, l.started_at, l.finished_at, coalesce(j.attempt, 0) as attempts \
    from list l left join job j on j.list_id = l.list_id and j.kind = 'push'";

#[derive(sqlx::FromRow)]
pub(super) struct ListRow {
    pub(super) list_id: Uuid,
    status: String,
    target: String,
    tags: sqlx::types::Json<Vec<String>>,
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
    pub(super) created_at: i64,
    started_at: Option<i64>,
    finished_at: Option<i64>,
    attempts: i32,
}

#[derive(sqlx::FromRow)]
pub(super) struct EntryRow {
    image: String,
    digest: String,
    media_type: String,
    size: i64,
    platform: Option<sqlx::types::Json<crate::model::Platform>>,
    annotations: sqlx::types::Json<std::collections::BTreeMap<String, String>>,
    attestation: bool,
}

#[derive(sqlx::FromRow)]
pub(super) struct ClaimRow {
    pub(super) job_id: i64,
    pub(super) list_id: Uuid,
    pub(super) kind: String,
    pub(super) attempt: i32,
    pub(super) max_attempts: i32,
}

impl ListRow {
    pub(super) fn into_record(self, entries: Vec<EntryRow>) -> Result<ListRecord, DbError> {
        Ok(ListRecord {
            id: self.list_id,
            status: ListStatus::parse(&self.status)?,
            target: self.target,
            tags: self.tags.0,
            output_type: self.output_type,
            ignore_missing: self.ignore_missing,
            spec_text: self.spec_text,
            spec_format: self.spec_format,
            callback_url: self.callback_url,
            digest: self.digest,
            media_type: self.media_type,
            size: self.size,
            error_code: self.error_code,
            error_message: self.error_message,
            attempts: self.attempts,
            callback_status: self.callback_status,
            callback_attempts: self.callback_attempts,
            callback_error: self.callback_error,
            created_at: time(self.created_at),
            started_at: self.started_at.map(time),
            finished_at: self.finished_at.map(time),
            entries: entries
                .into_iter()
                .map(|e| EntryRecord {
                    image: e.image,
                    digest: e.digest,
                    media_type: e.media_type,
                    size: e.size,
                    platform: e.platform.map(|p| p.0),
                    annotations: e.annotations.0,
                    attestation: e.attestation,
                })
                .collect(),
        })
    }
}

//! The list resource as the API answers it and callbacks carry it: one representation, built from
//! the store's records, documented in the OpenAPI document.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::db::{EntryRecord, ListRecord, ListStatus};

/// A list submitted for pushing, and what became of it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ListResource {
    /// The list's id.
    pub id: Uuid,
    /// `queued`, `running`, `succeeded`, `failed` or `canceled`.
    #[schema(value_type = String, example = "succeeded")]
    pub status: ListStatus,
    /// The target reference.
    #[schema(example = "registry.example:5000/demo:v0.2")]
    pub target: String,
    /// Extra tags.
    pub tags: Vec<String>,
    /// The list type asked for: `docker`, `oci` or `auto`.
    #[serde(rename = "type")]
    pub output_type: String,
    /// Whether missing sources are skipped.
    pub ignore_missing: bool,
    /// The list's digest, once pushed.
    #[schema(example = "sha256:7c2f…")]
    pub digest: Option<String>,
    /// The list's media type, once pushed.
    pub media_type: Option<String>,
    /// The list's size in bytes, once pushed.
    pub size: Option<i64>,
    /// The list's entries, once pushed.
    pub entries: Vec<EntryResource>,
    /// Attempts made.
    pub attempts: i32,
    /// The last error, if an attempt failed.
    pub error: Option<ErrorInfo>,
    /// The callback and its delivery, if one was asked for.
    pub callback: Option<CallbackInfo>,
    /// When the list was submitted.
    pub created_at: DateTime<Utc>,
    /// When a worker first took it.
    pub started_at: Option<DateTime<Utc>>,
    /// When it reached a final status.
    pub finished_at: Option<DateTime<Utc>>,
    /// The spec as submitted.
    pub spec: SpecInfo,
}

/// One entry of a pushed list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EntryResource {
    /// The source image it came from.
    pub image: String,
    /// The child's digest.
    pub digest: String,
    /// The child's media type.
    pub media_type: String,
    /// The child manifest's size.
    pub size: i64,
    /// Its platform (none for attestations).
    #[schema(value_type = Option<Object>)]
    pub platform: Option<crate::model::Platform>,
    /// Descriptor annotations.
    pub annotations: BTreeMap<String, String>,
    /// Whether it is an attestation of another entry.
    pub attestation: bool,
}

/// An error recorded on a list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorInfo {
    /// A stable code (the registry's own, e.g. `MANIFEST_UNKNOWN`, or `REGISTRY_UNREACHABLE`).
    pub code: String,
    /// What went wrong and what to do.
    pub message: String,
}

/// A callback and how its delivery went.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CallbackInfo {
    /// Where the result is POSTed.
    pub url: String,
    /// `pending`, `retrying`, `delivered` or `failed` (none until the list finishes).
    pub status: Option<String>,
    /// Deliveries tried.
    pub attempts: i32,
    /// The last delivery error.
    pub error: Option<String>,
}

/// The spec as it was submitted.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SpecInfo {
    /// `json` or `yaml`.
    pub format: String,
    /// The text.
    pub text: String,
}

impl From<&EntryRecord> for EntryResource {
    fn from(e: &EntryRecord) -> Self {
        Self {
            image: e.image.clone(),
            digest: e.digest.clone(),
            media_type: e.media_type.clone(),
            size: e.size,
            platform: e.platform.clone(),
            annotations: e.annotations.clone(),
            attestation: e.attestation,
        }
    }
}

impl From<&ListRecord> for ListResource {
    fn from(l: &ListRecord) -> Self {
        Self {
            id: l.id,
            status: l.status,
            target: l.target.clone(),
            tags: l.tags.clone(),
            output_type: l.output_type.clone(),
            ignore_missing: l.ignore_missing,
            digest: l.digest.clone(),
            media_type: l.media_type.clone(),
            size: l.size,
            entries: l.entries.iter().map(EntryResource::from).collect(),
            attempts: l.attempts,
            error: match (&l.error_code, &l.error_message) {
                (Some(code), Some(message)) => Some(ErrorInfo {
                    code: code.clone(),
                    message: message.clone(),
                }),
                _ => None,
            },
            callback: l.callback_url.as_ref().map(|url| CallbackInfo {
                url: url.clone(),
                status: l.callback_status.clone(),
                attempts: l.callback_attempts,
                error: l.callback_error.clone(),
            }),
            created_at: l.created_at,
            started_at: l.started_at,
            finished_at: l.finished_at,
            spec: SpecInfo {
                format: l.spec_format.clone(),
                text: l.spec_text.clone(),
            },
        }
    }
}

//! Staged releases as the service shows them: which platforms a release expects, which arrived
//! (from which list, with which image) and which it awaits, its deadline, and its list once
//! queued — one representation for the API, the pages and `manifold submit`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{ServiceError, Services, lists::parse_id};
use crate::model::{Digest, Identity, ListStatus, OnDeadline};
use crate::store::{ReleaseRecord, ReleaseState};

/// A staged release: platforms gathered from several submissions, its tag moved once, when every
/// expected platform is there.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReleaseResource {
    /// The release's id.
    pub id: Uuid,
    /// Its key: the `release` its submissions named, or their target.
    #[schema(example = "demo:v0.3")]
    pub key: String,
    /// The target reference.
    #[schema(example = "registry.example:5000/demo:v0.3")]
    pub target: String,
    /// `open` (platforms arriving), `releasing` (its list queued), `released` or `failed`.
    #[schema(value_type = String, example = "open")]
    pub state: ReleaseState,
    /// The platforms it expects, in the order its list holds them.
    pub expect: Vec<String>,
    /// The platforms that arrived, each from the latest list that brought it.
    pub arrived: Vec<ArrivedPlatform>,
    /// The expected platforms that have not arrived.
    pub awaited: Vec<String>,
    /// When an incomplete release ends.
    pub deadline_at: DateTime<Utc>,
    /// What the deadline does: `fail` (the tag is not moved) or `push` (what arrived is pushed).
    pub on_deadline: OnDeadline,
    /// The release's list (operation `release`), once queued.
    pub list_id: Option<Uuid>,
    /// Why it failed.
    pub error: Option<String>,
    /// Its submissions, in order: each list and its status.
    pub stages: Vec<StageSummary>,
    /// When its first submission came.
    pub created_at: DateTime<Utc>,
    /// When it was released or failed.
    pub finished_at: Option<DateTime<Utc>>,
}

/// One platform of a release that arrived.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ArrivedPlatform {
    /// The platform, as written (`linux/arm64`).
    pub platform: String,
    /// The list (the submission) that brought it.
    pub list_id: Uuid,
    /// The source image it came from.
    pub image: String,
    /// The child's digest.
    pub digest: Digest,
    /// The CI job that brought it, when it submitted with an OIDC ID token.
    pub submitted_by: Option<Identity>,
}

/// One submission of a release.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StageSummary {
    /// The list.
    pub list_id: Uuid,
    /// The CI job that submitted it, when an OIDC ID token did.
    pub submitted_by: Option<Identity>,
    /// Its status.
    pub status: ListStatus,
    /// When it was submitted.
    pub created_at: DateTime<Utc>,
}

impl From<ReleaseRecord> for ReleaseResource {
    fn from(r: ReleaseRecord) -> Self {
        let composed = r.composed();
        let who = |list: Uuid| {
            r.stages
                .iter()
                .find(|s| s.id == list)
                .and_then(|s| s.identity.clone())
        };
        Self {
            id: r.id,
            arrived: composed
                .arrived
                .iter()
                .map(|a| ArrivedPlatform {
                    platform: a.platform.to_string(),
                    list_id: a.list,
                    image: a.entry.image.clone(),
                    digest: a.entry.digest.clone(),
                    submitted_by: who(a.list),
                })
                .collect(),
            awaited: composed.awaited.iter().map(ToString::to_string).collect(),
            expect: r.expect.iter().map(ToString::to_string).collect(),
            stages: r
                .stages
                .iter()
                .map(|s| StageSummary {
                    list_id: s.id,
                    submitted_by: s.identity.clone(),
                    status: s.status,
                    created_at: s.created_at,
                })
                .collect(),
            key: r.key,
            target: r.target,
            state: r.state,
            deadline_at: r.deadline_at,
            on_deadline: r.on_deadline,
            list_id: r.list_id,
            error: r.error_message,
            created_at: r.created_at,
            finished_at: r.finished_at,
        }
    }
}

impl Services {
    /// One staged release.
    pub async fn release(&self, id: &str) -> Result<ReleaseResource, ServiceError> {
        let id = parse_id(id)?;
        self.store
            .get_release(id)
            .await?
            .map(ReleaseResource::from)
            .ok_or(ServiceError::NotFound("the release"))
    }
}

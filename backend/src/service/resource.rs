//! The list as the service shows it — the API's answers, the callbacks' bodies and the pages' data:
//! one representation, made from the store's record in one place, documented in the OpenAPI
//! document.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::model::{
    Audience, CallbackStatus, Digest, DriftReason, DriftStatus, Entry, ErrorCode, Identity,
    ListFormat, ListStatus, ListType, Operation, Outcome, SpecFormat,
};
use crate::store::{ListRecord, PublishMember};

/// A list submitted for pushing, and what became of it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ListResource {
    /// The list's id.
    pub id: Uuid,
    /// `queued`, `running`, `staged` (a stage of a staged release: its children are in the
    /// target repository, the tag moves when the release has every platform), `succeeded`,
    /// `failed`, `canceled` or `superseded` (not pushed: a newer list for the same target landed
    /// first; `superseded_by` names it).
    #[schema(example = "succeeded")]
    pub status: ListStatus,
    /// Its place in the order of submissions: within a target, a higher sequence is newer, and
    /// lists of one target run one at a time in this order. An explicit retry takes a new one.
    pub sequence: i64,
    /// The newer list that landed first, when this one is `superseded`.
    pub superseded_by: Option<Uuid>,
    /// Whether a new list is queued from the same spec when one of its sources moves.
    pub follow: bool,
    /// Whether the watch keeps it whole: `false`, `true` (missing children made present again)
    /// or `"tag"` (and its tag put back whoever moved it).
    pub repair: crate::model::Repair,
    /// The list this one re-pushes because a source of it moved.
    pub follows: Option<Uuid>,
    /// The list that re-pushed this one (and took the following over).
    pub followed_by: Option<Uuid>,
    /// The staged release this list brings platforms to (operation `stage`) or pushes
    /// (operation `release`): `GET /releases/{release_id}`.
    pub release_id: Option<Uuid>,
    /// The list that landed on the target after this one: the target no longer holds this list
    /// (it is history; `POST /lists/{id}/rollback` makes the target hold it again).
    pub replaced_by: Option<Uuid>,
    /// Whether the target holds this list now, as far as manifold pushed it: it landed, and no
    /// list landed on the target since (`drift` says whether the registry still agrees).
    pub current: bool,
    /// What the watch last found, for the list that landed last on its target (none for the
    /// others, and while the watch has not looked).
    pub drift: Option<DriftInfo>,
    /// The target reference.
    #[schema(example = "registry.example:5000/demo:v0.2")]
    pub target: String,
    /// Extra tags.
    pub tags: Vec<String>,
    /// The list type asked for: `docker`, `oci` or `auto`.
    #[serde(rename = "type")]
    #[schema(example = "auto")]
    pub list_type: ListType,
    /// How the list document is written: `manifold` (compact JSON) or `manifest-tool` (the bytes
    /// manifest-tool v2 pushes for the same spec, and so its digest).
    #[schema(example = "manifold")]
    pub format: ListFormat,
    /// Whether missing sources are skipped.
    pub ignore_missing: bool,
    /// What it does to the target: `push` (the list replaces what the tag holds), `append` (its
    /// entries are merged into the list the tag holds), `remove` (entries are removed from that
    /// list), `copy` (another reference is copied there, byte for byte), `stage` (its platforms
    /// brought to a staged release), `release` (a staged release's list, pushed once) or
    /// `rollback` (an earlier list's digest made the target's again).
    #[schema(example = "push")]
    pub operation: Operation,
    /// Whether the spec's platforms are taken without checking them against the images'
    /// configs (`trust_platforms`).
    pub trust_platforms: bool,
    /// Whether the push brings what refers to the children (signatures, attestations, SBOMs)
    /// into the target too (`referrers`; a copy does by default).
    pub referrers: bool,
    /// Whether the index takes the `org.opencontainers.image.*` annotations its image children
    /// agree on (`inherit_annotations`).
    pub inherit_annotations: bool,
    /// The list's digest, once pushed.
    pub digest: Option<Digest>,
    /// The list's media type, once pushed.
    pub media_type: Option<String>,
    /// The list's size in bytes, once pushed.
    pub size: Option<u64>,
    /// The list's entries, once pushed.
    pub entries: Vec<Entry>,
    /// Attempts made.
    pub attempts: i32,
    /// Attempts it gets in all (a retry gives it more).
    pub max_attempts: Option<i32>,
    /// When a queued list whose last attempt failed is tried again (its `error` is that attempt's).
    pub retry_at: Option<DateTime<Utc>>,
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
    /// Who submitted it, when a CI job's OIDC ID token did (its issuer, subject, repository,
    /// ref, run, and the rule that let it); none for an API token.
    pub submitted_by: Option<Identity>,
    /// When it was submitted with several targets (a publish): every destination's list, this
    /// one included, in the submission's order — one list per destination, each in its own
    /// target's order, history and watch, all moved by one job in two phases (every child
    /// present everywhere, then every tag). Empty for a list of one target.
    pub destinations: Vec<DestinationInfo>,
}

/// One destination of a publish and what became of it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DestinationInfo {
    /// Its list.
    pub list_id: Uuid,
    /// The destination (a tag).
    #[schema(example = "registry.example:5000/demo:v0.2")]
    pub target: String,
    /// Its list's status (they move together).
    pub status: ListStatus,
    /// What its tag holds now, once the publish ended: the list's digest where published,
    /// else what it held before, if anything.
    pub digest: Option<Digest>,
    /// Once the publish ended: `published` (every tag holds the list), `untouched` (no tag was
    /// moved: the publish failed before), `put_back` (tags were moved, then put back) or
    /// `stranded` (a tag moved could not be put back: `error` says which).
    pub outcome: Option<Outcome>,
    /// Why it failed, or what could not be put back.
    pub error: Option<String>,
}

impl From<PublishMember> for DestinationInfo {
    fn from(m: PublishMember) -> Self {
        let (outcome, held, error) = match m.outcome {
            Some(d) => (Some(d.outcome), d.digest, d.error),
            None => (None, None, None),
        };
        Self {
            list_id: m.list_id,
            target: m.target,
            status: m.status,
            digest: held.or(m.digest),
            outcome,
            error,
        }
    }
}

/// What the watch last found a pushed list to be in its registry.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DriftInfo {
    /// `in_sync`, `drifted` or `unknown` (the registry could not be asked: `error` says why).
    #[schema(example = "in_sync")]
    pub status: DriftStatus,
    /// When it was found.
    pub checked_at: Option<DateTime<Utc>>,
    /// What drifted: `tag_moved` (a tag holds another list, or none), `child_missing` (a child
    /// manifest is gone from the target repository), `source_moved` (a source tag names another
    /// manifest than the one pushed).
    pub reasons: Vec<DriftReason>,
    /// Why the registry could not be asked.
    pub error: Option<String>,
}

/// An error recorded on a list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorInfo {
    /// A stable code (the registry's own, e.g. `MANIFEST_UNKNOWN`, or `REGISTRY_UNREACHABLE`).
    pub code: ErrorCode,
    /// What went wrong.
    pub message: String,
    /// What the code usually means and what to do, when there is advice for it.
    pub advice: Option<String>,
}

/// A callback and how its delivery went.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CallbackInfo {
    /// Where the result is POSTed.
    pub url: String,
    /// `pending`, `retrying`, `delivered` or `failed` (none until the list finishes).
    pub status: Option<CallbackStatus>,
    /// Deliveries tried.
    pub attempts: i32,
    /// The last delivery error.
    pub error: Option<String>,
}

/// The spec as it was submitted.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SpecInfo {
    /// `json` or `yaml`.
    pub format: SpecFormat,
    /// The text.
    pub text: String,
}

impl From<ListRecord> for ListResource {
    fn from(l: ListRecord) -> Self {
        Self {
            error: match (l.error_code, l.error_message) {
                (Some(code), Some(message)) => Some(ErrorInfo {
                    advice: code.advice(Audience::Service).map(str::to_owned),
                    code,
                    message,
                }),
                _ => None,
            },
            callback: l.options.callback_url.map(|url| CallbackInfo {
                url,
                status: l.callback_status,
                attempts: l.callback_attempts,
                error: l.callback_error,
            }),
            drift: l.drift.filter(|_| l.watched).map(|d| DriftInfo {
                status: d.status,
                checked_at: d.checked_at,
                reasons: d.reasons,
                error: d.error,
            }),
            id: l.id,
            status: l.status,
            sequence: l.sequence,
            superseded_by: l.superseded_by,
            follow: l.options.follow,
            repair: l.options.repair,
            follows: l.follows,
            release_id: l.release_id,
            replaced_by: l.replaced_by,
            current: l.status == ListStatus::Succeeded
                && l.replaced_by.is_none()
                && l.operation != Operation::Stage,
            followed_by: l.followed_by,
            target: l.target,
            tags: l.tags,
            list_type: l.options.list_type,
            format: l.options.format,
            ignore_missing: l.options.ignore_missing,
            operation: l.operation,
            trust_platforms: l.options.trust_platforms,
            referrers: l.options.referrers,
            inherit_annotations: l.options.inherit_annotations,
            digest: l.digest,
            media_type: l.media_type,
            size: l.size,
            entries: l.entries,
            attempts: l.attempts,
            max_attempts: l.max_attempts,
            retry_at: l.retry_at,
            created_at: l.created_at,
            started_at: l.started_at,
            finished_at: l.finished_at,
            spec: SpecInfo {
                format: l.spec_format,
                text: l.spec_text,
            },
            submitted_by: l.identity,
            destinations: l.publish.into_iter().map(DestinationInfo::from).collect(),
        }
    }
}

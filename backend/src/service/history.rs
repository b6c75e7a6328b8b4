//! A target's history and rollback: every list that landed on a target, newest first, marking
//! the one it holds now, and its timeline — those lists and, between them, the drift events the
//! watch kept (the tag moved, a child gone, back in sync), newest first; and a rollback, which queues a list (operation `rollback`) that makes
//! the target hold an earlier list's digest again — the registry's own bytes copied back under
//! the tag when it still has them, else the list pushed again from the entries manifold recorded
//! (the job decides: `jobs/push.rs`).

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::lists::Queued;
use super::{ListResource, PageQuery, ServiceError, Services};
use crate::model::{Digest, DriftEvent, ListOptions, ListStatus, Operation, Reference, SpecFormat};
use crate::spec::{CopySpec, Work};

/// Most lists a target's history shows.
const HISTORY_LIMIT: i64 = 200;

/// What a target held through manifold.
#[derive(Debug, Serialize, ToSchema)]
pub struct TargetHistory {
    /// The target reference.
    pub target: String,
    /// The list the target holds now (as far as manifold pushed it), if any.
    pub current: Option<uuid::Uuid>,
    /// Every list that landed on it, newest first: each with its operation, digest and when.
    pub items: Vec<ListResource>,
    /// What happened to it, newest first: each list of `items` when it landed, and between them
    /// the drift events of those lists — each change of what the watch found (the tag moved to
    /// something manifold did not push, a child gone, back in sync), kept as it happened.
    pub timeline: Vec<TimelineEntry>,
}

/// One moment of a target's timeline: a list landed on it, or the watch found the list it held
/// changed in the registry.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TimelineEntry {
    /// A list landed on the target (`kind: list`); its `operation` is what moved the tag.
    List(LandedList),
    /// A drift event (`kind: drift`): the state the watch found of the list the target held
    /// changed.
    Drift(DriftEvent),
}

/// A list of a target's timeline.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LandedList {
    /// When it landed.
    pub at: DateTime<Utc>,
    /// The list (one of `items`).
    pub list_id: Uuid,
    /// What moved the tag: `push`, `append`, `remove`, `copy`, `release`, `rollback`, `repair`.
    #[schema(example = "push")]
    pub operation: Operation,
    /// The digest it made the tag hold.
    pub digest: Option<Digest>,
}

impl TimelineEntry {
    /// When it happened.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            Self::List(l) => l.at,
            Self::Drift(e) => e.at,
        }
    }
}

/// `lists` (newest first) and the drift events of those lists, newest first; a list before an
/// event of the same moment (it landed before the watch could look at it).
pub fn timeline(lists: &[ListResource], events: Vec<DriftEvent>) -> Vec<TimelineEntry> {
    let mut entries: Vec<TimelineEntry> = lists
        .iter()
        .map(|l| {
            TimelineEntry::List(LandedList {
                at: l.finished_at.unwrap_or(l.created_at),
                list_id: l.id,
                operation: l.operation,
                digest: l.digest.clone(),
            })
        })
        .collect();
    entries.extend(
        events
            .into_iter()
            .filter(|e| lists.iter().any(|l| l.id == e.list_id))
            .map(TimelineEntry::Drift),
    );
    entries.sort_by(|a, b| {
        let drift_first = |e: &TimelineEntry| matches!(e, TimelineEntry::Drift(_));
        b.at()
            .cmp(&a.at())
            .then(drift_first(b).cmp(&drift_first(a)))
    });
    entries
}

impl Services {
    /// The lists that landed on `target` (a reference; no tag means `latest`), newest first (at
    /// most 200).
    pub async fn history(&self, target: &str) -> Result<TargetHistory, ServiceError> {
        let reference = Reference::parse(target).map_err(|e| {
            ServiceError::invalid(
                crate::model::ErrorCode::InvalidReference,
                "target",
                e.to_string(),
            )
        })?;
        let page = self
            .lists(&PageQuery {
                status: Some(ListStatus::Succeeded),
                target: Some(reference.to_string()),
                limit: Some(HISTORY_LIMIT),
                cursor: None,
            })
            .await?;
        let items: Vec<ListResource> = page
            .items
            .into_iter()
            .filter(|l| l.operation != Operation::Stage)
            .collect();
        let target = reference.to_string();
        let events = self.store.drift_events(&target, HISTORY_LIMIT).await?;
        Ok(TargetHistory {
            current: items.iter().find(|l| l.current).map(|l| l.id),
            timeline: timeline(&items, events),
            target,
            items,
        })
    }

    /// Queues a rollback of list `id`'s target to that list's digest, in the target's order.
    pub async fn rollback(&self, id: &str) -> Result<ListResource, ServiceError> {
        let list = self.list(id).await?;
        let conflict = |rule| ServiceError::Conflict {
            status: list.status,
            rule,
        };
        let Some(digest) = list
            .digest
            .clone()
            .filter(|_| list.status == ListStatus::Succeeded)
        else {
            return Err(conflict("only a list that landed can be rolled back to"));
        };
        if list.operation == Operation::Stage {
            return Err(conflict(
                "a stage of a release never landed on its own: roll back to the release's list",
            ));
        }
        let target = Reference::parse(&list.target)
            .map_err(|e| ServiceError::Failed(format!("stored target: {e}")))?;
        let work = Work::Copy(CopySpec {
            source: target.with_digest(&digest),
            image: target,
            tags: list.tags.clone(),
            more_targets: Vec::new(),
        });
        let text = serde_json::json!({"rollback_to": list.id, "digest": digest}).to_string();
        self.queue(Queued {
            operation: Operation::Rollback,
            work: &work,
            options: ListOptions::default(),
            text,
            format: SpecFormat::Json,
            idempotency_key: None,
            caller: None,
        })
        .await
    }
}

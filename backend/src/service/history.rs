//! A target's history and rollback: every list that landed on a target, newest first, marking
//! the one it holds now; and a rollback, which queues a list (operation `rollback`) that makes
//! the target hold an earlier list's digest again — the registry's own bytes copied back under
//! the tag when it still has them, else the list pushed again from the entries manifold recorded
//! (the job decides: `jobs/push.rs`).

use serde::Serialize;
use utoipa::ToSchema;

use super::lists::Queued;
use super::{ListResource, PageQuery, ServiceError, Services};
use crate::model::{ListOptions, ListStatus, Operation, Reference, SpecFormat};
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
        Ok(TargetHistory {
            target: reference.to_string(),
            current: items.iter().find(|l| l.current).map(|l| l.id),
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

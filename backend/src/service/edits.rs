//! The edits of what a tag holds that take no spec: remove entries from the list it holds, or
//! copy a list or image to it from another reference. Each is queued as a list is — the same
//! queue, the same record followed at `/lists/{id}`, the same allow-lists, idempotency key and
//! callback — so that what happens to one target happens in the order it was asked for.

use super::lists::Queued;
use super::{ListResource, ServiceError, Services};
use crate::model::{ListType, SpecFormat};
use crate::spec::Work;

/// A removal or a copy, as asked for.
#[derive(Debug, Clone)]
pub struct Edit {
    /// What to do.
    pub work: Work,
    /// Where the service POSTs the result.
    pub callback_url: Option<String>,
    /// The request as submitted (JSON).
    pub text: String,
    /// The client's idempotency key.
    pub idempotency_key: Option<String>,
    /// For a copy: bring what refers to the source and its children (signatures,
    /// attestations, SBOMs) along — the default.
    pub referrers: bool,
}

impl Services {
    /// Queues a removal or a copy: checked, written with its push job in one transaction.
    pub async fn edit(&self, edit: &Edit) -> Result<ListResource, ServiceError> {
        edit.refuse_nul()?;
        self.queue(Queued {
            operation: edit.work.operation(false),
            work: &edit.work,
            output: ListType::Auto,
            ignore_missing: false,
            trust_platforms: false,
            follow: false,
            referrers: edit.referrers && matches!(edit.work, Work::Copy(_)),
            callback_url: edit.callback_url.clone(),
            text: edit.text.clone(),
            format: SpecFormat::Json,
            idempotency_key: edit.idempotency_key.as_deref(),
        })
        .await
    }
}

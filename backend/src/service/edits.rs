//! The edits of what a tag holds that take no spec: remove entries from the list it holds, or
//! copy a list or image to it from another reference. Each is queued as a list is — the same
//! queue, the same record followed at `/lists/{id}`, the same allow-lists, idempotency key and
//! callback — so that what happens to one target happens in the order it was asked for.

use super::lists::Queued;
use super::{IdToken, ListResource, ServiceError, Services};
use crate::model::{AskedOptions, ListOptions, SpecFormat};
use crate::spec::Work;

/// A removal or a copy, as asked for.
#[derive(Debug, Clone)]
pub struct Edit {
    /// What to do.
    pub work: Work,
    /// What the request asks beside it: `callback_url`, and for a copy `referrers` (bring what
    /// refers to the source and its children along; on unless asked otherwise).
    pub asked: AskedOptions,
    /// The request as submitted (JSON).
    pub text: String,
    /// The client's idempotency key.
    pub idempotency_key: Option<String>,
}

impl Services {
    /// Queues a removal or a copy: checked, written with its push job in one transaction.
    pub async fn edit(&self, edit: &Edit) -> Result<ListResource, ServiceError> {
        self.edit_as(edit, None).await
    }

    /// Queues a removal or a copy a caller asked for: with a CI job's ID token, under the same
    /// rules as a list it submits.
    pub async fn edit_as(
        &self,
        edit: &Edit,
        caller: Option<&IdToken>,
    ) -> Result<ListResource, ServiceError> {
        edit.refuse_nul()?;
        let copy = matches!(edit.work, Work::Copy(_));
        let options = ListOptions {
            referrers: copy && edit.asked.referrers.unwrap_or(true),
            callback_url: edit.asked.callback_url.clone(),
            ..ListOptions::default()
        };
        self.queue(Queued {
            operation: edit.work.operation(false),
            work: &edit.work,
            options,
            text: edit.text.clone(),
            format: SpecFormat::Json,
            idempotency_key: edit.idempotency_key.as_deref(),
            caller,
        })
        .await
    }
}

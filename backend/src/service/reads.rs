//! Reads of lists as the JSON the API serves — one list, or a page — made from the answers kept
//! in memory (`cache.rs`) while the database says they are current.
//!
//! Why an answer kept is never stale, with any number of processes on one database: every update
//! of a list's row moves its `revision` on (a trigger, whoever writes), and an answer is served
//! only at the revision the database has now. Before a kept answer is served its revision is
//! read — by a read that started after the request did, so a change committed before the request
//! came is always seen. The reads of revisions are shared (`rounds.rs`): while one is running,
//! every request that comes waits for the next, which asks for all their ids at once; under load
//! one indexed read answers dozens of requests. A page reads its lists' ids and revisions in one
//! query — shared the same way by the requests for the same page — and takes the kept answers at
//! those revisions; the others are read in one more.
//!
//! Only finished lists are kept (queued and running ones change at every step of their push);
//! what the answers are made of is [`super::ListResource`], serialised here once per revision.

use std::collections::HashMap;
use std::sync::Arc;

use uuid::Uuid;

use super::cache::{Json, tag_of};
use super::lists::{filter_of, parse_id};
use super::rounds::Rounds;
use super::{ListResource, PageQuery, ServiceError, Services};
use crate::store::{DbError, KeyPage, ListFilter, ListRecord, Store};

/// The shared reads: of lists' revisions (all ids in one round), and of pages' keys (one round per
/// filter).
#[derive(Default)]
pub(super) struct Shared {
    revisions: Arc<Rounds<(), Uuid, HashMap<Uuid, i64>>>,
    pages: Arc<Rounds<ListFilter, (), KeyPage>>,
}

impl Shared {
    /// The revision of `id` now, read after this call began (`Ok(None)`: no such list), or
    /// `Err(())` when the read failed.
    async fn revision(&self, store: &Store, id: Uuid) -> Result<Option<i64>, ()> {
        let store = store.clone();
        let found = self
            .revisions
            .join((), id, move |mut ids: Vec<Uuid>| {
                let store = store.clone();
                async move {
                    ids.sort_unstable();
                    ids.dedup();
                    match store.list_revisions(&ids).await {
                        Ok(keys) => Some(keys.into_iter().map(|k| (k.id, k.revision)).collect()),
                        Err(e) => {
                            tracing::debug!("a shared read of revisions failed: {e}");
                            None
                        }
                    }
                }
            })
            .await
            .ok_or(())?;
        Ok(found.get(&id).copied())
    }

    /// The keys of the page `filter` finds now, read after this call began; the store's error
    /// when the shared read failed (read again alone, to have it).
    async fn page(&self, store: &Store, filter: &ListFilter) -> Result<Arc<KeyPage>, DbError> {
        let (shared, asked) = (store.clone(), filter.clone());
        let found = self
            .pages
            .join(filter.clone(), (), move |_| {
                let (store, filter) = (shared.clone(), asked.clone());
                async move { store.list_keys(&filter).await.ok() }
            })
            .await;
        match found {
            Some(page) => Ok(page),
            None => Ok(Arc::new(store.list_keys(filter).await?)),
        }
    }
}

/// A page as JSON, and a tag of its content.
fn page_json(items: &[Json], next_cursor: Option<&str>) -> Json {
    let cursor = serde_json::to_string(&next_cursor).unwrap_or_else(|_| "null".to_owned());
    let size: usize = items.iter().map(|j| j.body.len() + 1).sum();
    let mut body = Vec::with_capacity(size + cursor.len() + 32);
    body.extend_from_slice(b"{\"items\":[");
    for (n, item) in items.iter().enumerate() {
        if n > 0 {
            body.push(b',');
        }
        body.extend_from_slice(&item.body);
    }
    body.extend_from_slice(b"],\"next_cursor\":");
    body.extend_from_slice(cursor.as_bytes());
    body.push(b'}');
    // The page's bytes follow from its items' and its cursor: a tag of their tags is one of its
    // content, without hashing the page's bytes again.
    let tag = tag_of(
        items
            .iter()
            .map(|j| j.tag.as_bytes())
            .chain([cursor.as_bytes()]),
    );
    Json {
        body: body.into(),
        tag,
    }
}

impl Services {
    /// One list as the JSON the API serves, by the id in a path: the answer kept for it while
    /// its revision is the database's, else read (and kept, when the list is finished).
    pub async fn list_json(&self, id: &str) -> Result<Json, ServiceError> {
        let id = parse_id(id)?;
        if let Some((revision, json)) = self.cache.get(id) {
            match self.shared.revision(&self.store, id).await {
                Ok(Some(now)) if now == revision => {
                    self.cache.count(true);
                    return Ok(json);
                }
                Ok(None) => {
                    self.cache.remove(id);
                    return Err(ServiceError::NotFound("the list"));
                }
                Ok(Some(_)) | Err(()) => self.cache.remove(id),
            }
        }
        self.cache.count(false);
        let list = self
            .store
            .get_list(id)
            .await?
            .ok_or(ServiceError::NotFound("the list"))?;
        Ok(self.answer(list))
    }

    /// A page of lists as the JSON the API serves: its lists' ids and revisions read in one
    /// query, the answers kept at those revisions taken, the others read in one more.
    pub async fn lists_json(&self, query: &PageQuery) -> Result<Json, ServiceError> {
        let filter = filter_of(query)?;
        let keys = self.shared.page(&self.store, &filter).await?;
        let mut items: Vec<Option<Json>> = keys
            .items
            .iter()
            .map(|k| self.cache.get_at(k.id, k.revision))
            .collect();
        let missing: Vec<Uuid> = keys
            .items
            .iter()
            .zip(&items)
            .filter(|(_, json)| json.is_none())
            .map(|(k, _)| k.id)
            .collect();
        if !missing.is_empty() {
            let mut read: HashMap<Uuid, ListRecord> = self
                .store
                .get_lists(&missing)
                .await?
                .into_iter()
                // One whose status changed since its id was read no longer belongs to the page.
                .filter(|l| filter.status.is_none_or(|s| s == l.status))
                .map(|l| (l.id, l))
                .collect();
            for (key, item) in keys.items.iter().zip(items.iter_mut()) {
                if item.is_none() {
                    *item = read.remove(&key.id).map(|l| self.answer(l));
                }
            }
        }
        let items: Vec<Json> = items.into_iter().flatten().collect();
        let cursor = keys.next.map(|(t, id)| super::lists::encode_cursor(t, id));
        Ok(page_json(&items, cursor.as_deref()))
    }

    /// A list read from the store, serialised; kept when it is finished.
    fn answer(&self, list: ListRecord) -> Json {
        let (id, revision, finished) = (list.id, list.revision, list.status.is_final());
        let resource = ListResource::from(list);
        let json = Json::new(serde_json::to_vec(&resource).unwrap_or_default());
        if finished {
            self.cache.put(id, revision, &json);
        }
        json
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_written_as_serde_writes_a_list_page() {
        let items = [
            Json::new(b"{\"a\":1}".to_vec()),
            Json::new(b"{\"b\":2}".to_vec()),
        ];
        let page = page_json(&items, Some("c\"1"));
        let expected = serde_json::json!({
            "items": [{"a": 1}, {"b": 2}],
            "next_cursor": "c\"1",
        });
        assert_eq!(page.body.as_ref(), expected.to_string().as_bytes());
        let last = page_json(&items[..1], None);
        assert_eq!(
            last.body.as_ref(),
            b"{\"items\":[{\"a\":1}],\"next_cursor\":null}"
        );
        assert_ne!(page.tag, last.tag);
        assert_eq!(page.tag, page_json(&items, Some("c\"1")).tag);
        assert_ne!(page.tag, page_json(&items, None).tag);
    }
}

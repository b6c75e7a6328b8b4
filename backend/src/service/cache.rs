//! The answers of finished lists kept in memory: each list's JSON as it is served, with its
//! content tag and the revision of the row it was made from, bounded by the bytes it holds.
//!
//! Owns what is kept and what is let go — nothing else: whether a kept answer is still the list's
//! is asked of the store by `reads.rs`, which takes an answer from here only at the revision the
//! database has now. When the bytes would pass the bound, the answers read least lately go first
//! (a clock: each answer has a "read since" mark, and the hand passes over marked ones once).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use sha2::Digest as _;
use uuid::Uuid;

use crate::metrics::CacheStats;

/// What every kept answer costs beside its bytes (the map's entry, the queue's slot).
const OVERHEAD: usize = 128;

/// One answer as it is served: the JSON, and a tag derived from its bytes only (equal bytes,
/// equal tag), which the adapters make an entity tag of.
#[derive(Debug, Clone)]
pub struct Json {
    /// The JSON document.
    pub body: Bytes,
    /// Hex of the first 16 bytes of the body's SHA-256.
    pub tag: String,
}

impl Json {
    /// An answer of these bytes.
    pub fn new(body: Vec<u8>) -> Self {
        let tag = tag_of([body.as_slice()]);
        Self {
            body: Bytes::from(body),
            tag,
        }
    }
}

/// Hex of the first 16 bytes of the SHA-256 of `parts`, one after another.
pub(super) fn tag_of<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> String {
    let mut hash = sha2::Sha256::new();
    for part in parts {
        hash.update(part);
    }
    hex::encode(&hash.finalize()[..16])
}

struct Kept {
    revision: i64,
    json: Json,
    read_since: bool,
}

#[derive(Default)]
struct Inner {
    kept: HashMap<Uuid, Kept>,
    /// The clock's ring: every kept id once, the hand at the front.
    ring: VecDeque<Uuid>,
    bytes: usize,
}

/// The kept answers, and how often one was asked for and found.
pub struct ListCache {
    bound: usize,
    inner: Mutex<Inner>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl ListCache {
    /// A cache of at most `bound` bytes (0: nothing is kept).
    pub fn new(bound: usize) -> Self {
        Self {
            bound,
            inner: Mutex::default(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The answer kept for `id`, and its revision.
    pub fn get(&self, id: Uuid) -> Option<(i64, Json)> {
        let mut inner = self.inner.lock().expect("lock");
        let kept = inner.kept.get_mut(&id)?;
        kept.read_since = true;
        Some((kept.revision, kept.json.clone()))
    }

    /// The answer kept for `id` at `revision` exactly, counted as a hit or a miss.
    pub fn get_at(&self, id: Uuid, revision: i64) -> Option<Json> {
        let found = self.get(id).filter(|(r, _)| *r == revision);
        self.count(found.is_some());
        found.map(|(_, json)| json)
    }

    /// Counts a read that was (`hit`) or was not answered from a kept answer.
    pub fn count(&self, hit: bool) {
        let counter = if hit { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Keeps `json` as the answer of `id` at `revision` (over an older one), letting the least
    /// lately read go while the bound is passed. An answer larger than the bound is not kept.
    pub fn put(&self, id: Uuid, revision: i64, json: &Json) {
        let cost = json.body.len() + OVERHEAD;
        if cost > self.bound {
            return;
        }
        let mut inner = self.inner.lock().expect("lock");
        if let Some(old) = inner.kept.get(&id) {
            if old.revision > revision {
                return;
            }
            let old_cost = old.json.body.len() + OVERHEAD;
            inner.bytes -= old_cost;
        } else {
            inner.ring.push_back(id);
        }
        inner.bytes += cost;
        let kept = Kept {
            revision,
            json: json.clone(),
            read_since: false,
        };
        inner.kept.insert(id, kept);
        while inner.bytes > self.bound {
            inner.evict_one(id);
        }
    }

    /// Lets the answer of `id` go (it is stale, or its list is gone).
    pub fn remove(&self, id: Uuid) {
        let mut inner = self.inner.lock().expect("lock");
        if let Some(old) = inner.kept.remove(&id) {
            inner.bytes -= old.json.body.len() + OVERHEAD;
            inner.ring.retain(|k| *k != id);
        }
    }

    /// What it holds and how it served.
    pub fn stats(&self) -> CacheStats {
        let inner = self.inner.lock().expect("lock");
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: inner.kept.len() as u64,
            bytes: inner.bytes as u64,
        }
    }
}

impl Inner {
    /// Lets one answer go: the first under the hand not read since it last passed (`keep`, the
    /// one just put, only when nothing else is left).
    fn evict_one(&mut self, keep: Uuid) {
        for _ in 0..=2 * self.ring.len() {
            let Some(id) = self.ring.pop_front() else {
                return;
            };
            let Some(kept) = self.kept.get_mut(&id) else {
                continue;
            };
            if (kept.read_since || id == keep) && self.ring.len() > 1 {
                kept.read_since = false;
                self.ring.push_back(id);
                continue;
            }
            if let Some(gone) = self.kept.remove(&id) {
                self.bytes -= gone.json.body.len() + OVERHEAD;
            }
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(len: usize) -> Json {
        Json::new(vec![b'x'; len])
    }

    #[test]
    fn a_tag_is_the_same_for_the_same_bytes_and_differs_for_others() {
        assert_eq!(Json::new(b"{}".to_vec()).tag, Json::new(b"{}".to_vec()).tag);
        assert_ne!(Json::new(b"{}".to_vec()).tag, Json::new(b"[]".to_vec()).tag);
        assert_eq!(Json::new(b"{}".to_vec()).tag.len(), 32);
    }

    #[test]
    fn an_answer_is_found_only_at_its_revision() {
        let cache = ListCache::new(10_000);
        let id = Uuid::now_v7();
        cache.put(id, 3, &json(10));
        assert!(cache.get_at(id, 3).is_some());
        assert!(cache.get_at(id, 4).is_none());
        cache.put(id, 2, &json(20));
        assert_eq!(
            cache.get(id).map(|(r, _)| r),
            Some(3),
            "an older one does not replace it"
        );
        let stats = cache.stats();
        assert_eq!((stats.hits, stats.misses, stats.entries), (1, 1, 1));
    }

    #[test]
    fn the_bytes_kept_stay_within_the_bound_and_the_lately_read_stay() {
        let bound = 10 * (1_000 + OVERHEAD);
        let cache = ListCache::new(bound);
        let ids: Vec<Uuid> = (0..40).map(|_| Uuid::now_v7()).collect();
        for (n, id) in ids.iter().enumerate() {
            cache.put(*id, 1, &json(1_000));
            assert!(
                cache.get(ids[0]).is_some(),
                "the one read each time stays ({n})"
            );
            assert!(cache.stats().bytes as usize <= bound);
        }
        let stats = cache.stats();
        assert_eq!(stats.entries, 10);
        assert!(cache.get(ids[1]).is_none(), "one not read since went");
        assert!(cache.get(ids[39]).is_some(), "the last one put stays");
    }

    #[test]
    fn an_answer_larger_than_the_bound_is_not_kept_and_a_removed_one_is_gone() {
        let cache = ListCache::new(500);
        let id = Uuid::now_v7();
        cache.put(id, 1, &json(1_000));
        assert_eq!(cache.stats().entries, 0);
        cache.put(id, 1, &json(10));
        cache.remove(id);
        assert_eq!(cache.stats(), CacheStats::default());
        assert!(ListCache::new(0).get(id).is_none());
    }
}

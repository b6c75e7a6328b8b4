//! Small blobs a client has read whole (the configs the platform check reads), kept for the
//! client's life so that copying one into a target does not read it from its source again.
//! Content-addressed, so never stale; bounded in size and in total.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;

use crate::model::Digest;

/// The largest blob kept.
pub(crate) const SMALL_BLOB: u64 = 1024 * 1024;
/// The most bytes kept in all.
const TOTAL: usize = 32 * 1024 * 1024;

/// Blobs by digest, and their total size.
#[derive(Default)]
pub(crate) struct SmallBlobs {
    kept: Mutex<(HashMap<String, Bytes>, usize)>,
}

impl SmallBlobs {
    /// Keeps `bytes` (whose digest was checked) if it is small and there is room.
    pub(crate) fn keep(&self, digest: &Digest, bytes: &Bytes) {
        if bytes.len() as u64 > SMALL_BLOB {
            return;
        }
        let mut kept = self.kept.lock().expect("lock");
        let (blobs, total) = &mut *kept;
        if *total + bytes.len() <= TOTAL && !blobs.contains_key(digest.as_str()) {
            *total += bytes.len();
            blobs.insert(digest.to_string(), bytes.clone());
        }
    }

    /// The blob, if kept.
    pub(crate) fn get(&self, digest: &Digest) -> Option<Bytes> {
        self.kept
            .lock()
            .expect("lock")
            .0
            .get(digest.as_str())
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_blobs_are_kept_until_the_total_is_reached_and_large_ones_never() {
        let blobs = SmallBlobs::default();
        let small = Bytes::from_static(b"{}");
        let digest = Digest::of(&small);
        blobs.keep(&digest, &small);
        assert_eq!(blobs.get(&digest), Some(small));
        let large = Bytes::from(vec![0u8; SMALL_BLOB as usize + 1]);
        blobs.keep(&Digest::of(&large), &large);
        assert_eq!(blobs.get(&Digest::of(&large)), None);
        let mut stored = 0;
        for i in 0..40u8 {
            let mib = Bytes::from(vec![i; SMALL_BLOB as usize]);
            blobs.keep(&Digest::of(&mib), &mib);
            stored += usize::from(blobs.get(&Digest::of(&mib)).is_some());
        }
        assert_eq!(stored, 31, "32 MiB in all, 2 bytes of it taken");
    }
}

//! Registries that see what was just written a moment later: Nexus answers a manifest PUT with
//! `BLOB_UNKNOWN` or `MANIFEST_BLOB_UNKNOWN` for a while after the blobs or children it references
//! were pushed (its storage is eventually consistent). Such a PUT is sent again, a few times, with
//! a growing wait.

use std::future::Future;
use std::time::Duration;

use super::error::EngineError;
use crate::model::ErrorCode;

/// Waits before the PUT is sent again: 4 more tries over about 4 s.
const WAITS_MS: [u64; 4] = [250, 500, 1000, 2000];

/// Runs `put` until it succeeds, fails otherwise than with a blob or child "unknown", or has
/// been sent `WAITS_MS.len() + 1` times.
pub(crate) async fn settled<T, F, Fut>(what: &str, mut put: F) -> Result<T, EngineError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, EngineError>>,
{
    for wait in WAITS_MS {
        match put().await {
            Err(e) if unknown_yet(&e) => {
                tracing::warn!(
                    "{what}: the registry does not see what it references yet ({e}); again in {wait} ms"
                );
                tokio::time::sleep(Duration::from_millis(wait)).await;
            }
            other => return other,
        }
    }
    put().await
}

/// Whether the registry said a blob or a child the manifest references is not there.
pub(crate) fn unknown_yet(e: &EngineError) -> bool {
    matches!(
        e.code(),
        ErrorCode::BlobUnknown | ErrorCode::ManifestBlobUnknown
    )
}

//! One entry of a list: the child manifest and the platform the list gives it. The engine makes
//! entries, the store keeps them, the API, the callbacks and the pages show them: one shape.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Digest, Platform};

/// One entry of a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Entry {
    /// The source image it came from (for a child of a source list, that list pinned to the
    /// child's digest).
    #[schema(example = "registry.example:5000/demo-amd64:v0.2")]
    pub image: String,
    /// The child's digest.
    pub digest: Digest,
    /// The child's media type.
    pub media_type: String,
    /// The child manifest's size in bytes.
    pub size: u64,
    /// Its platform (none for attestations).
    #[schema(value_type = Option<Object>)]
    pub platform: Option<Platform>,
    /// The descriptor's annotations.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// Whether it is an attestation of another entry.
    #[serde(default)]
    pub attestation: bool,
}

//! What the watch finds when it re-checks a pushed list: the reasons a list drifted from what was
//! recorded, and the source digests a push resolved (what "a source moved" is measured against).
//! The engine finds them, the store keeps them, the service shows them: one shape.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Digest, Platform};

/// One way a pushed list no longer is what was recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DriftReason {
    /// The tag no longer holds the list (someone pushed another, or deleted it).
    TagMoved {
        /// The tag, as a reference.
        tag: String,
        /// The list's digest.
        expected: Digest,
        /// What the tag holds now (none: the tag is gone).
        found: Option<Digest>,
    },
    /// A child manifest of the list is gone from the target repository.
    ChildMissing {
        /// The child's digest.
        digest: Digest,
        /// Its platform (none for attestations).
        #[schema(value_type = Option<Object>)]
        platform: Option<Platform>,
    },
    /// A source reference now names another manifest than the one pushed.
    SourceMoved {
        /// The source reference.
        image: String,
        /// The digest it resolved to when the list was pushed.
        expected: Digest,
        /// What it resolves to now (none: it is gone).
        found: Option<Digest>,
    },
}

/// A source named by tag and the digest it resolved to when the list was pushed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SourcePin {
    /// The source reference as the spec names it.
    pub image: String,
    /// The manifest (image or list) it named.
    pub digest: Digest,
}

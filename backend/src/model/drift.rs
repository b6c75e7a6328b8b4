//! What the watch finds when it re-checks a pushed list: the reasons a list drifted from what was
//! recorded, and the source digests a push resolved (what "a source moved" is measured against);
//! and a drift event, a change of what it found kept in the target's timeline, with the rule of
//! when a check is one. The engine finds them, the store keeps them, the service shows them: one
//! shape.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Digest, DriftStatus, Platform};

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

/// A change of what the watch found of the list a target holds (drifted and why, or back in
/// sync), kept in the target's timeline between its lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DriftEvent {
    /// When the watch found it.
    pub at: DateTime<Utc>,
    /// The list the target held, which the watch checked.
    pub list_id: Uuid,
    /// `drifted`, or `in_sync` (back in sync).
    #[schema(example = "drifted")]
    pub status: DriftStatus,
    /// What drifted (none when back in sync).
    pub reasons: Vec<DriftReason>,
    /// The digest the target's tag held as far as the check saw: the list's own unless the tag
    /// moved (then what it moved to); none when the tag was gone.
    pub observed: Option<Digest>,
}

impl DriftEvent {
    /// Whether a check that found `status` and `reasons` is a change from `last`, the state the
    /// list's last event recorded (none: the state it landed in, in sync). A check that could not
    /// ask the registry (`unknown`) is never one.
    pub fn is_change(
        last: Option<(DriftStatus, &[DriftReason])>,
        status: DriftStatus,
        reasons: &[DriftReason],
    ) -> bool {
        let (was, why) = last.unwrap_or((DriftStatus::InSync, &[]));
        status != DriftStatus::Unknown && (status != was || reasons != why)
    }

    /// What the tag `target` held as far as a check that found `reasons` of the list `digest`
    /// saw: what it moved to (none: gone), else the list's own.
    pub fn observed(
        target: &str,
        digest: Option<&Digest>,
        reasons: &[DriftReason],
    ) -> Option<Digest> {
        let moved = reasons.iter().find_map(|r| match r {
            DriftReason::TagMoved { tag, found, .. } if tag == target => Some(found.clone()),
            _ => None,
        });
        match moved {
            Some(found) => found,
            None => digest.cloned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(c: char) -> Digest {
        Digest::parse(&format!("sha256:{}", c.to_string().repeat(64))).unwrap()
    }

    fn moved(tag: &str, found: Option<Digest>) -> DriftReason {
        DriftReason::TagMoved {
            tag: tag.to_owned(),
            expected: digest('a'),
            found,
        }
    }

    #[test]
    fn only_a_check_that_finds_another_state_than_the_last_event_is_a_change() {
        let drifted = [moved("r/demo:v1", Some(digest('b')))];
        let other = [moved("r/demo:v1", Some(digest('c')))];
        let in_sync = DriftStatus::InSync;

        assert!(!DriftEvent::is_change(None, in_sync, &[]), "landed in sync");
        assert!(DriftEvent::is_change(None, DriftStatus::Drifted, &drifted));
        let last = Some((DriftStatus::Drifted, &drifted[..]));
        assert!(!DriftEvent::is_change(last, DriftStatus::Drifted, &drifted));
        assert!(DriftEvent::is_change(last, DriftStatus::Drifted, &other));
        assert!(DriftEvent::is_change(last, in_sync, &[]), "back in sync");
        assert!(!DriftEvent::is_change(last, DriftStatus::Unknown, &[]));
        assert!(!DriftEvent::is_change(None, DriftStatus::Unknown, &[]));
    }

    #[test]
    fn what_the_tag_held_is_what_it_moved_to_or_the_list_s_own() {
        let own = digest('a');
        let missing = DriftReason::ChildMissing {
            digest: digest('d'),
            platform: None,
        };

        assert_eq!(
            DriftEvent::observed("r/demo:v1", Some(&own), std::slice::from_ref(&missing)),
            Some(own.clone())
        );
        let reasons = [
            moved("r/demo:extra", None),
            moved("r/demo:v1", Some(digest('b'))),
        ];
        assert_eq!(
            DriftEvent::observed("r/demo:v1", Some(&own), &reasons),
            Some(digest('b')),
            "the target's tag, not an extra one"
        );
        assert_eq!(
            DriftEvent::observed("r/demo:v1", Some(&own), &[moved("r/demo:v1", None)]),
            None,
            "gone"
        );
    }
}

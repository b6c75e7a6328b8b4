//! What became of each destination of a publish (one submission written to several targets):
//! the engine reports it, the store keeps it with each destination's list, the resource and the
//! pages show it.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Digest;

/// What became of one destination of a submission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Destination {
    /// The destination (a tag).
    pub target: String,
    /// Its extra tags.
    pub tags: Vec<String>,
    /// What became of it.
    pub outcome: Outcome,
    /// What its tag holds now: the list's digest once published; else what it held before, if
    /// anything.
    pub digest: Option<Digest>,
    /// Whether it held this very list already.
    pub unchanged: bool,
    /// Why it failed, or what could not be put back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What became of a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every tag holds the list.
    Published,
    /// No tag was moved (the submission failed before its tags were PUT).
    Untouched,
    /// Tags were moved, then put back to what they held before.
    PutBack,
    /// A tag moved could not be put back: it holds the new list (its `error` says which).
    Stranded,
}

impl Outcome {
    /// How it reads beside its destination, in a report or on a page.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Published => "published",
            Outcome::Untouched => "untouched",
            Outcome::PutBack => "put back",
            Outcome::Stranded => "NOT put back",
        }
    }
}

//! A spec's targets: `image` (one reference, or a list of them) or `targets` (a list) — each a
//! tag, at least one, no two in one repository (more tags of a repository are `tags`). Read
//! inside the visitors of their nodes, as `de.rs` reads the rest, so errors carry their line and
//! column; the first target is the spec's `image`, the others its `more_targets`.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};

use super::de::{RefVisitor, Target};
use crate::model::reference::Reference;

/// Start of the message when a spec gives both `image` and `targets`; parse.rs names the field
/// from it.
pub(super) const BOTH_TARGETS: &str = "the spec gives both image and targets";

/// A spec's `image`: one target, or a list of them.
pub(super) struct ImageTargets(pub(super) Vec<Reference>);

impl<'de> Deserialize<'de> for ImageTargets {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TargetsVisitor { key: "image" })
            .map(ImageTargets)
    }
}

/// A spec's `targets`: a list of targets.
pub(super) struct TargetList(pub(super) Vec<Reference>);

impl<'de> Deserialize<'de> for TargetList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(TargetsVisitor { key: "targets" })
            .map(TargetList)
    }
}

/// Targets: at least one, each a tag, no two in one repository (more tags of a repository are
/// `tags`).
struct TargetsVisitor {
    key: &'static str,
}

impl<'de> Visitor<'de> for TargetsVisitor {
    type Value = Vec<Reference>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.key {
            "image" => f.write_str(
                "an image reference such as registry.example:5000/demo:v1, or a list of them",
            ),
            _ => f.write_str("a list of image references such as registry.example:5000/demo:v1"),
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        if self.key != "image" {
            return Err(E::invalid_type(de::Unexpected::Str(v), &self));
        }
        RefVisitor { target: true }.visit_str(v).map(|r| vec![r])
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut targets: Vec<Reference> = Vec::new();
        while let Some(Target(target)) = seq.next_element()? {
            if let Some(repeated) = repeated_repository(&targets, &target, self.key) {
                return Err(de::Error::custom(repeated));
            }
            targets.push(target);
        }
        if targets.is_empty() {
            return Err(de::Error::custom(format!(
                "{} is an empty list; name at least one target",
                self.key
            )));
        }
        Ok(targets)
    }
}

/// The message when `target` is in the repository of an earlier target (named `key[i]`).
pub(super) fn repeated_repository(
    earlier: &[Reference],
    target: &Reference,
    key: &str,
) -> Option<String> {
    let i = earlier.iter().position(|t| t.same_repository(target))?;
    Some(format!(
        "{target} is in the repository of {key}[{i}] ({}); a list goes to each repository once \
         — give more tags of it in tags",
        earlier[i]
    ))
}

//! What a submission asks to be done to its target, whole: push (or append) a spec's list, remove
//! entries from the list a tag holds, or copy a list or image there from another reference.
//!
//! The service stores it (the [`Operation`] by name, the rest as JSON in the spec column) and the
//! engine carries it out; the CLI's `push`, `remove` and `copy` build the same values.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::targets::repeated_repository;
use super::{ListSpec, SourceEntry, SpecError};
use crate::model::Reference;
use crate::model::{Digest, Operation, Platform};

/// Entries to remove from the list a tag holds, by platform or by digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removal {
    /// The tag whose list loses the entries.
    pub image: Reference,
    /// Entries of these platforms go (their attestations with them).
    pub platforms: Vec<Platform>,
    /// Entries of these digests go.
    pub digests: Vec<Digest>,
}

/// A list or image copied, byte for byte, to another repository or registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopySpec {
    /// Where it is read from (a tag or a digest).
    pub source: Reference,
    /// The tag it is written to; with several destinations, the first.
    pub image: Reference,
    /// Further destinations (tags, each in a repository of its own), written in the same
    /// submission.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more_targets: Vec<Reference>,
    /// Extra tags, in each destination repository.
    pub tags: Vec<String>,
}

/// One submission's work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Work {
    /// Push the spec's list (or, with `append`, merge it into the list the tag holds).
    List(ListSpec),
    /// Remove entries from the list the tag holds.
    Remove(Removal),
    /// Copy a reference to the tag.
    Copy(CopySpec),
}

impl Removal {
    /// Reads a removal's fields, naming the one at fault: `target`, `platforms[i]`, `digests[i]`.
    pub fn parse(
        target: &str,
        platforms: &[String],
        digests: &[String],
    ) -> Result<Self, SpecError> {
        let image = tag_reference("target", target)?;
        let platforms = platforms
            .iter()
            .enumerate()
            .map(|(i, p)| {
                Platform::parse(p).map_err(|e| SpecError::in_field(format!("platforms[{i}]"), e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let digests = digests
            .iter()
            .enumerate()
            .map(|(i, d)| {
                Digest::parse(d)
                    .map_err(|e| SpecError::in_field(format!("digests[{i}]"), e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if platforms.is_empty() && digests.is_empty() {
            return Err(SpecError::in_field(
                "platforms",
                "name the entries to remove: at least one platform or digest",
            ));
        }
        Ok(Removal {
            image,
            platforms,
            digests,
        })
    }
}

impl CopySpec {
    /// Reads a copy's fields, naming the one at fault: `source`, `target` (or `target[i]` of
    /// several: each a tag, in a repository of its own), `tags[i]`.
    pub fn parse(source: &str, targets: &[String], tags: &[String]) -> Result<Self, SpecError> {
        let source =
            Reference::parse(source).map_err(|e| SpecError::in_field("source", e.to_string()))?;
        let mut destinations: Vec<Reference> = Vec::new();
        for (i, text) in targets.iter().enumerate() {
            let field = match targets.len() {
                1 => "target".to_owned(),
                _ => format!("target[{i}]"),
            };
            let destination = tag_reference(&field, text)?;
            if let Some(repeated) = repeated_repository(&destinations, &destination, "target") {
                return Err(SpecError::in_field(field, repeated));
            }
            destinations.push(destination);
        }
        if destinations.is_empty() {
            return Err(SpecError::in_field("target", "name at least one target"));
        }
        crate::model::reference::check_tag_count(tags.len())
            .map_err(|e| SpecError::in_field("tags", e))?;
        for (i, tag) in tags.iter().enumerate() {
            crate::model::reference::check_tag(tag)
                .map_err(|e| SpecError::in_field(format!("tags[{i}]"), e))?;
        }
        let image = destinations.remove(0);
        Ok(CopySpec {
            source,
            image,
            more_targets: destinations,
            tags: tags.to_vec(),
        })
    }
}

/// Further targets with the field that names each: `<key>[1]`, `<key>[2]`, … (the first target
/// is `<key>[0]`, or the key alone).
fn further<'a>(
    key: &'a str,
    more: &'a [Reference],
) -> impl Iterator<Item = (String, &'a Reference)> + 'a {
    more.iter()
        .enumerate()
        .map(move |(i, r)| (format!("{key}[{}]", i + 1), r))
}

/// A reference that must name a tag (a list is written under a tag; its digest is its own).
fn tag_reference(field: &str, text: &str) -> Result<Reference, SpecError> {
    let reference =
        Reference::parse(text).map_err(|e| SpecError::in_field(field, e.to_string()))?;
    if reference.digest().is_some() {
        return Err(SpecError::in_field(
            field,
            format!("{text} names a digest; name a tag (the list's digest is its own)"),
        ));
    }
    Ok(reference)
}

impl Work {
    /// The operation, given whether a list is appended.
    pub fn operation(&self, append: bool) -> Operation {
        match self {
            Work::List(_) if append => Operation::Append,
            Work::List(_) => Operation::Push,
            Work::Remove(_) => Operation::Remove,
            Work::Copy(_) => Operation::Copy,
        }
    }

    /// The tag written.
    pub fn target(&self) -> &Reference {
        match self {
            Work::List(spec) => &spec.image,
            Work::Remove(r) => &r.image,
            Work::Copy(c) => &c.image,
        }
    }

    /// Every tag written, the first ([`Work::target`]) first.
    pub fn targets(&self) -> Vec<&Reference> {
        match self {
            Work::List(spec) => spec.targets(),
            Work::Remove(r) => vec![&r.image],
            Work::Copy(c) => std::iter::once(&c.image).chain(&c.more_targets).collect(),
        }
    }

    /// The work as one of its destinations does it alone: `target` its only target (a
    /// publish's list per destination keeps this, so that its watch, follow-ups and repairs
    /// write that destination only).
    pub fn at(&self, target: &Reference) -> Work {
        let mut one = self.clone();
        match &mut one {
            Work::List(spec) => {
                spec.image = target.clone();
                spec.more_targets.clear();
            }
            Work::Remove(r) => r.image = target.clone(),
            Work::Copy(c) => {
                c.image = target.clone();
                c.more_targets.clear();
            }
        }
        one
    }

    /// The work with `more` as its further targets (a publish's job, from its destinations'
    /// lists); a removal has one target only and stays as it is.
    pub fn with_more_targets(&self, more: Vec<Reference>) -> Work {
        let mut all = self.clone();
        match &mut all {
            Work::List(spec) => spec.more_targets = more,
            Work::Copy(c) => c.more_targets = more,
            Work::Remove(_) => {}
        }
        all
    }

    /// The extra tags written.
    pub fn tags(&self) -> &[String] {
        match self {
            Work::List(spec) => &spec.tags,
            Work::Remove(_) => &[],
            Work::Copy(c) => &c.tags,
        }
    }

    /// Every reference the work reads or writes, with the field that names it.
    pub fn references(&self) -> Vec<(String, &Reference)> {
        match self {
            Work::List(spec) => std::iter::once(("image".to_owned(), &spec.image))
                .chain(
                    spec.manifests
                        .iter()
                        .enumerate()
                        .map(|(i, m)| (format!("manifests[{i}].image"), &m.image)),
                )
                .chain(further("targets", &spec.more_targets))
                .collect(),
            Work::Remove(r) => vec![("target".to_owned(), &r.image)],
            Work::Copy(c) => [
                ("source".to_owned(), &c.source),
                ("target".to_owned(), &c.image),
            ]
            .into_iter()
            .chain(further("target", &c.more_targets))
            .collect(),
        }
    }

    /// The references the work reads, with the field that names each (a list's sources, a
    /// copy's source).
    pub fn sources(&self) -> Vec<(String, &Reference)> {
        match self {
            Work::List(spec) => spec
                .manifests
                .iter()
                .enumerate()
                .map(|(i, m)| (format!("manifests[{i}].image"), &m.image))
                .collect(),
            Work::Remove(_) => Vec::new(),
            Work::Copy(c) => vec![("source".to_owned(), &c.source)],
        }
    }

    /// Every text the work holds, each with the field a request names it by — an annotation's
    /// key and its value alike by `manifests[1].annotations.<key>` — for the checks every text
    /// of a submission meets.
    pub fn texts(&self) -> Vec<(String, Cow<'_, str>)> {
        let mut texts = Vec::new();
        match self {
            Work::List(spec) => return spec.texts(),
            Work::Remove(r) => {
                texts.push(("target".to_owned(), r.image.to_string().into()));
                for (i, platform) in r.platforms.iter().enumerate() {
                    texts.push((format!("platforms[{i}]"), platform.to_string().into()));
                }
                for (i, digest) in r.digests.iter().enumerate() {
                    texts.push((format!("digests[{i}]"), digest.as_str().into()));
                }
            }
            Work::Copy(c) => {
                texts.push(("source".to_owned(), c.source.to_string().into()));
                texts.push(("target".to_owned(), c.image.to_string().into()));
                indexed(&mut texts, "tags", &c.tags);
            }
        }
        texts
    }

    /// The work as the store keeps it (beside its operation's name).
    pub fn to_stored(&self) -> serde_json::Value {
        let value = match self {
            Work::List(spec) => serde_json::to_value(spec),
            Work::Remove(r) => serde_json::to_value(r),
            Work::Copy(c) => serde_json::to_value(c),
        };
        value.unwrap_or(serde_json::Value::Null)
    }

    /// The work the store kept for `operation`.
    pub fn from_stored(
        operation: Operation,
        value: serde_json::Value,
    ) -> Result<Self, serde_json::Error> {
        Ok(match operation {
            Operation::Push | Operation::Append | Operation::Stage | Operation::Release => {
                Work::List(serde_json::from_value(value)?)
            }
            Operation::Remove => Work::Remove(serde_json::from_value(value)?),
            Operation::Copy | Operation::Rollback | Operation::Repair => {
                Work::Copy(serde_json::from_value(value)?)
            }
        })
    }
}

impl ListSpec {
    /// Every text the spec holds, each with the field the spec names it by (see
    /// [`Work::texts`]).
    pub fn texts(&self) -> Vec<(String, Cow<'_, str>)> {
        let mut texts = vec![("image".to_owned(), self.image.to_string().into())];
        indexed(&mut texts, "tags", &self.tags);
        annotation_texts(&mut texts, "annotations", &self.annotations);
        for (i, entry) in self.manifests.iter().enumerate() {
            entry_texts(&mut texts, &format!("manifests[{i}]"), entry);
        }
        texts
    }
}

/// The texts of one source entry, under `at` (`manifests[1]`).
fn entry_texts<'a>(texts: &mut Vec<(String, Cow<'a, str>)>, at: &str, entry: &'a SourceEntry) {
    texts.push((format!("{at}.image"), entry.image.to_string().into()));
    if let Some(p) = &entry.platform {
        let words = [
            ("architecture", &p.architecture),
            ("os", &p.os),
            ("os.version", &p.os_version),
            ("variant", &p.variant),
        ];
        for (name, word) in words {
            if let Some(word) = word {
                texts.push((format!("{at}.platform.{name}"), word.as_str().into()));
            }
        }
        for (name, list) in [("os.features", &p.os_features), ("features", &p.features)] {
            let list = list.as_deref().unwrap_or_default();
            indexed(texts, &format!("{at}.platform.{name}"), list);
        }
    }
    annotation_texts(texts, &format!("{at}.annotations"), &entry.annotations);
}

/// `items` as `field[0]`, `field[1]`, …
fn indexed<'a>(texts: &mut Vec<(String, Cow<'a, str>)>, field: &str, items: &'a [String]) {
    for (i, item) in items.iter().enumerate() {
        texts.push((format!("{field}[{i}]"), item.as_str().into()));
    }
}

/// Each annotation's key and value, both as `field.<key>`.
fn annotation_texts<'a>(
    texts: &mut Vec<(String, Cow<'a, str>)>,
    field: &str,
    annotations: &'a BTreeMap<String, String>,
) {
    for (key, value) in annotations {
        let at = format!("{field}.{key}");
        texts.push((at.clone(), key.as_str().into()));
        texts.push((at, value.as_str().into()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::reference::MAX_TAGS;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_removal_names_the_field_at_fault() {
        let err =
            Removal::parse("r.io/demo:v1", &strings(&["linux/amd64", "Linux/"]), &[]).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("platforms[1]"));
        let err = Removal::parse("r.io/demo:v1", &[], &strings(&["sha256:abc"])).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("digests[0]"));
        let err = Removal::parse("r.io/demo:v1", &[], &[]).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("platforms"));
        let digest = format!("r.io/demo@sha256:{}", "a".repeat(64));
        let err = Removal::parse(&digest, &strings(&["linux/amd64"]), &[]).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("target"));
        assert!(err.message.contains("names a digest"), "{}", err.message);
    }

    #[test]
    fn a_copy_names_the_field_at_fault() {
        let err = CopySpec::parse(
            "r.io/a:v1",
            &strings(&["r.io/b:v1"]),
            &strings(&["ok", "no/slash"]),
        )
        .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("tags[1]"));
        let err = CopySpec::parse("NOT A REF", &strings(&["r.io/b:v1"]), &[]).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("source"));
        let many: Vec<String> = (0..=MAX_TAGS).map(|i| format!("t{i}")).collect();
        let err = CopySpec::parse("r.io/a:v1", &strings(&["r.io/b:v1"]), &many).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("tags"));
        assert!(CopySpec::parse("r.io/a:v1", &strings(&["r.io/b:v1"]), &many[1..]).is_ok());
    }

    #[test]
    fn a_copy_to_several_targets_names_the_one_at_fault_and_each_keeps_its_own_work() {
        let several = strings(&["r.io/b:v1", "s.io/b:v1", "r.io/b:v2"]);
        let err = CopySpec::parse("r.io/a:v1", &several, &[]).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("target[2]"));
        assert!(
            err.message.contains("repository of target[0]"),
            "{}",
            err.message
        );
        let digest = strings(&["r.io/b:v1", &format!("s.io/b@sha256:{}", "a".repeat(64))]);
        let err = CopySpec::parse("r.io/a:v1", &digest, &[]).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("target[1]"));
        let err = CopySpec::parse("r.io/a:v1", &[], &[]).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("target"));

        let copy = CopySpec::parse("r.io/a:v1", &several[..2], &[]).unwrap();
        let work = Work::Copy(copy);
        let names: Vec<String> = work.targets().iter().map(|t| t.to_string()).collect();
        assert_eq!(names, ["r.io/b:v1", "s.io/b:v1"]);
        let second = work.at(work.targets()[1]);
        assert_eq!(second.targets().len(), 1);
        assert_eq!(second.target().to_string(), "s.io/b:v1");
        let fields: Vec<String> = work.references().into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["source", "target", "target[1]"]);
        let again = second.with_more_targets(vec![work.target().clone()]);
        assert_eq!(again.targets().len(), 2);
    }

    #[test]
    fn every_text_of_a_work_is_named_by_the_field_a_request_gives_it_in() {
        let spec = crate::spec::parse::from_yaml(
            "image: r.io/demo:v1\ntags: [a]\nannotations: {k: v}\nmanifests:\n  - image: r.io/x:v1\n  - image: r.io/y:v1\n    platform: {os: linux, architecture: amd64, os.version: '1', features: [f]}\n    annotations: {org.example: w}\n",
        )
        .unwrap();
        let list = Work::List(spec);
        let texts = list.texts();
        let named = |field: &str| -> Vec<&str> {
            texts
                .iter()
                .filter(|(f, _)| f == field)
                .map(|(_, t)| t.as_ref())
                .collect()
        };
        assert_eq!(named("image"), ["r.io/demo:v1"]);
        assert_eq!(named("tags[0]"), ["a"]);
        assert_eq!(named("annotations.k"), ["k", "v"]);
        assert_eq!(named("manifests[1].image"), ["r.io/y:v1"]);
        assert_eq!(named("manifests[1].platform.os.version"), ["1"]);
        assert_eq!(named("manifests[1].platform.features[0]"), ["f"]);
        assert_eq!(
            named("manifests[1].annotations.org.example"),
            ["org.example", "w"]
        );
        let removal =
            Work::Remove(Removal::parse("r.io/d:v1", &strings(&["linux/arm64"]), &[]).unwrap());
        let fields: Vec<String> = removal.texts().into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["target", "platforms[0]"]);
        let copy = Work::Copy(
            CopySpec::parse("r.io/a:v1", &strings(&["s.io/a:v1"]), &strings(&["t"])).unwrap(),
        );
        let fields: Vec<String> = copy.texts().into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["source", "target", "tags[0]"]);
    }

    #[test]
    fn stored_work_reads_back_as_it_was_for_its_operation() {
        let removal =
            Work::Remove(Removal::parse("r.io/demo:v1", &strings(&["linux/arm/v7"]), &[]).unwrap());
        let copy = Work::Copy(
            CopySpec::parse("r.io/a:v1", &strings(&["s.io/a:v1"]), &strings(&["latest"])).unwrap(),
        );
        for (work, op) in [(removal, Operation::Remove), (copy, Operation::Copy)] {
            assert_eq!(work.operation(false), op);
            assert_eq!(Work::from_stored(op, work.to_stored()).unwrap(), work);
        }
        let copy = CopySpec::parse("r.io/a:v1", &strings(&["s.io/a:v1"]), &[]).unwrap();
        let stored = Work::Copy(copy).to_stored();
        assert!(Work::from_stored(Operation::Push, stored).is_err());
    }
}

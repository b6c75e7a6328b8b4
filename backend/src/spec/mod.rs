//! List specs: what the user asks for, parsed and validated before any network call.
//!
//! Owns the spec data model, manifest-tool's YAML format, the JSON form, the from-args form,
//! image references and platform normalisation. Pure code: no I/O, no registry access.

pub mod args;
mod de;
pub mod error;
mod normalize;
pub mod parse;
pub mod platform;
mod targets;
pub mod work;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{AskedOptions, Reference};

pub use error::SpecError;
pub use platform::PlatformSpec;
pub use work::{CopySpec, Removal, Work};

/// Largest spec text read: more than a list may be (comments, indentation, pretty-printed JSON
/// around a small list), and still a bound on what parsing may hold in memory.
pub const MAX_SPEC_BYTES: usize = 16 * 1024 * 1024;

/// A validated list spec: the target, its extra tags, annotations and the source images.
///
/// Users' specs are read by [`parse`], which validates them and names the line at fault; serde's
/// `Deserialize` reads back one this program serialised (the service's stored specs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListSpec {
    /// The reference the list is pushed to (a tag; a digest reference is refused); with several
    /// targets, the first.
    pub image: Reference,
    /// The further targets the same list is published to (a spec's `image` list or `targets`
    /// after the first), each in a repository of its own; `tags` apply to each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more_targets: Vec<Reference>,
    /// Extra tags the same list is pushed under, in the target repository.
    pub tags: Vec<String>,
    /// Annotations of the list itself (OCI index only).
    pub annotations: BTreeMap<String, String>,
    /// The sources, in the order the list will hold them.
    pub manifests: Vec<SourceEntry>,
}

/// One source image of a list spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceEntry {
    /// Where the source lives (tag or digest reference).
    pub image: Reference,
    /// The platform the spec gives, normalised; fields left out are read from the image config.
    pub platform: Option<PlatformSpec>,
    /// Annotations of this entry's descriptor in the list.
    pub annotations: BTreeMap<String, String>,
}

/// A spec and its submission options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    /// The spec.
    pub spec: ListSpec,
    /// The options its own keys ask for (`type`, `append`, …; unset where it has no key).
    pub options: AskedOptions,
    /// The key that named several targets (`image` or `targets`); `None` with one target.
    pub several_targets: Option<&'static str>,
}

impl ListSpec {
    /// Every target, the first (`image`) first.
    pub fn targets(&self) -> Vec<&Reference> {
        std::iter::once(&self.image)
            .chain(&self.more_targets)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ListFormat, ListType};

    #[test]
    fn a_spec_serialised_as_json_reads_back_the_same() {
        let text = "image: r.io/demo:v1\ntags: [a]\nannotations: {k: v}\nmanifests:\n  - image: r.io/demo-arm:v1\n    platform: {os: windows, architecture: amd64, os.version: 10.0.1, os.features: [win32k]}\n    annotations: {x: y}\n  - image: r.io/demo-x:v1\n";
        let spec = parse::from_yaml(text).unwrap();

        let json = serde_json::to_string(&spec).unwrap();

        assert_eq!(parse::from_json(&json).unwrap(), spec, "{json}");
    }

    #[test]
    fn a_stored_spec_reads_back_without_the_user_facing_parser() {
        let text = "image: r.io/demo:v1\ntags: [a]\nmanifests:\n  - image: r.io/demo-arm@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n    platform: {os: linux, architecture: arm64, variant: v8}\n  - image: r.io/demo-x:v1\n";
        let spec = parse::from_yaml(text).unwrap();

        let stored = serde_json::to_value(&spec).unwrap();
        let read: ListSpec = serde_json::from_value(stored).unwrap();

        assert_eq!(read, spec);
        let bad = serde_json::json!({"image": "Not A Reference!", "tags": [], "annotations": {}, "manifests": []});
        assert!(serde_json::from_value::<ListSpec>(bad).is_err());
    }

    #[test]
    fn submission_options_ride_along_with_the_spec() {
        let text = "type: oci\nformat: manifest-tool\ncallback_url: http://127.0.0.1:9/hook\nignore_missing: true\nimage: r.io/demo:v1\nmanifests:\n  - image: r.io/a:v1\n";
        let s = parse::submission_from_text(text).unwrap();
        assert_eq!(s.options.list_type, Some(ListType::Oci));
        assert_eq!(s.options.format, Some(ListFormat::ManifestTool));
        assert_eq!(
            s.options.callback_url.as_deref(),
            Some("http://127.0.0.1:9/hook")
        );
        assert_eq!(s.options.ignore_missing, Some(true));
        let bad = parse::submission_from_text(
            "callback_url: ftp://x/y\nimage: r.io/demo:v1\nmanifests:\n  - image: r.io/a:v1\n",
        )
        .unwrap_err();
        assert_eq!(bad.field.as_deref(), Some("callback_url"));
        assert_eq!(bad.line, Some(1));
    }

    #[test]
    fn several_targets_are_read_from_an_image_list_or_targets() {
        let listed = "image: [r.io/a:v1, s.io/a:v1, t.io/b:v2]\ntags: [v1, latest]\nmanifests: [{image: r.io/b}]\n";
        let json = r#"{"targets": ["r.io/a:v1", "s.io/a:v1", "t.io/b:v2"], "tags": ["latest"], "manifests": [{"image": "r.io/b"}]}"#;

        let from_list = parse::submission_from_yaml(listed).unwrap();
        let from_targets = parse::submission_from_text(json).unwrap();

        assert_eq!(from_list.spec, from_targets.spec);
        let names: Vec<String> = from_list
            .spec
            .targets()
            .iter()
            .map(|t| t.to_string())
            .collect();
        assert_eq!(names, ["r.io/a:v1", "s.io/a:v1", "t.io/b:v2"]);
        assert_eq!(
            from_list.spec.tags,
            ["latest"],
            "the first target's own tag is dropped"
        );
        assert_eq!(from_list.several_targets, Some("image"));
        assert_eq!(from_targets.several_targets, Some("targets"));
        let one = parse::submission_from_yaml("image: [r.io/a:v1]\nmanifests: [{image: r.io/b}]\n");
        assert_eq!(one.unwrap().several_targets, None);
        assert_eq!(
            parse::from_yaml("image: r.io/a:v1\nmanifests: [{image: r.io/b}]\n")
                .unwrap()
                .more_targets,
            Vec::new()
        );
    }

    #[test]
    fn targets_given_twice_empty_or_in_one_repository_are_refused_by_name() {
        let both = "image: r.io/a:v1\ntargets: [s.io/a:v1]\nmanifests: [{image: r.io/b}]\n";
        let err = parse::from_yaml(both).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("targets"), "{err}");
        assert!(err.message.contains("both image and targets"), "{err}");

        let same = "image: [r.io/a:v1, s.io/a:v1, r.io/a:v2]\nmanifests: [{image: r.io/b}]\n";
        let err = parse::from_yaml(same).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("image"), "{err}");
        assert!(err.message.contains("repository of image[0]"), "{err}");

        let digest = format!(
            "targets: [r.io/a:v1, 's.io/a@sha256:{}']\nmanifests: [{{image: r.io/b}}]\n",
            "0".repeat(64)
        );
        let err = parse::from_yaml(&digest).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("targets[1]"), "{err}");
        assert_eq!((err.line, err.column), (Some(1), Some(22)), "{err}");

        let empty = parse::from_yaml("targets: []\nmanifests: [{image: r.io/b}]\n").unwrap_err();
        assert_eq!(empty.field.as_deref(), Some("targets"), "{empty}");
        let scalar =
            parse::from_yaml("targets: r.io/a:v1\nmanifests: [{image: r.io/b}]\n").unwrap_err();
        assert_eq!(scalar.field.as_deref(), Some("targets"), "{scalar}");
        assert!(
            scalar.message.contains("a list of image references"),
            "{scalar}"
        );
    }
}

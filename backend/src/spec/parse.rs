//! Reading a list spec from text: manifest-tool's YAML as it is, or the same spec as JSON.
//!
//! Owns the entry points and the translation of the formats' errors into a [`SpecError`] with the
//! field path (from `serde_path_to_error`) and the line and column (from the format). The document's
//! shape and its checks live in `de.rs`.

use serde_path_to_error::Segment;

use super::de::{Document, TOO_LARGE};
use super::targets::BOTH_TARGETS;
use super::{ListSpec, MAX_SPEC_BYTES, SpecError, Submission};

impl Document {
    fn submission(self) -> Submission {
        let Document(spec, options, several_targets) = self;
        Submission {
            spec,
            options,
            several_targets,
        }
    }
}

/// Reads a spec written in YAML (manifest-tool's format).
pub fn from_yaml(text: &str) -> Result<ListSpec, SpecError> {
    yaml(text).map(|doc| doc.0)
}

/// Reads a spec written in JSON (the API's native body).
pub fn from_json(text: &str) -> Result<ListSpec, SpecError> {
    json_document(text).map(|Document(spec, ..)| spec)
}

/// Reads JSON when the first non-blank character is `{`, YAML otherwise.
pub fn from_text(text: &str) -> Result<ListSpec, SpecError> {
    text_document(text).map(|doc| doc.0)
}

/// A spec with the submission options it may carry (`type`, `callback_url`, `ignore_missing`),
/// JSON or YAML as [`from_text`] decides.
pub fn submission_from_text(text: &str) -> Result<Submission, SpecError> {
    text_document(text).map(Document::submission)
}

/// A spec with its submission options, from YAML.
pub fn submission_from_yaml(text: &str) -> Result<Submission, SpecError> {
    yaml(text).map(Document::submission)
}

/// A spec with its submission options, from JSON.
pub fn submission_from_json(text: &str) -> Result<Submission, SpecError> {
    json_document(text).map(Document::submission)
}

fn yaml(text: &str) -> Result<Document, SpecError> {
    check_size(text)?;
    check_nesting(text)?;
    let de = yaml_serde::Deserializer::from_str(text);
    serde_path_to_error::deserialize::<_, Document>(de).map_err(|err| {
        let segments = err.path().iter().cloned().collect::<Vec<_>>();
        let inner = err.into_inner();
        let location = inner.location().map(|l| (l.line(), l.column()));
        let mut message = inner.to_string();
        if let Some((line, column)) = location {
            strip_suffix(&mut message, &format!(" at line {line} column {column}"));
        }
        strip_yaml_path(&mut message, &segments);
        to_spec_error(&segments, message, location)
    })
}

/// Reads a JSON document as `T` (a request body of the API's own), with the same limits as a
/// spec and its errors naming the field, line and column at fault.
pub fn json_document<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, SpecError> {
    check_size(text)?;
    check_nesting(text)?;
    let mut de = serde_json::Deserializer::from_str(text);
    let doc = serde_path_to_error::deserialize::<_, T>(&mut de).map_err(|err| {
        let segments = err.path().iter().cloned().collect::<Vec<_>>();
        json_error(&segments, err.into_inner())
    })?;
    de.end().map_err(|err| json_error(&[], err))?;
    Ok(doc)
}

fn json_error(segments: &[Segment], err: serde_json::Error) -> SpecError {
    let location = (err.line() > 0).then(|| (err.line(), err.column()));
    let mut message = err.to_string();
    if let Some((line, column)) = location {
        strip_suffix(&mut message, &format!(" at line {line} column {column}"));
    }
    to_spec_error(segments, message, location)
}

fn text_document(text: &str) -> Result<Document, SpecError> {
    let start = text.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    if start.starts_with('{') {
        json_document(start_of_json(text))
    } else {
        yaml(text)
    }
}

/// serde_json does not skip a byte-order mark; keep the text (and its line numbers) otherwise.
fn start_of_json(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// Deepest nesting of flow collections (`[…]`, `{…}`) a spec may have; a spec needs about four.
pub const MAX_FLOW_DEPTH: usize = 16;

/// Refuses text whose brackets nest deeper than [`MAX_FLOW_DEPTH`], before a parser sees it:
/// the YAML parser takes time that grows faster than the square of such nesting. One pass over the
/// text, skipping quoted strings and comments. Outside brackets, a bracket opens a collection only
/// where a value starts (after `:`, `-`, `?` or at the start of a line), so a bracket inside a
/// plain value (`note: a[1]`) does not count; a line that starts in column 0 starts afresh.
fn check_nesting(text: &str) -> Result<(), SpecError> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let (mut escaped, mut comment) = (false, false);
    // The last character of the line that was not white space (None at the start of a line).
    let mut last: Option<char> = None;
    for (n, line) in text.split('\n').enumerate() {
        comment = comment && quote.is_some();
        last = if quote.is_some() { last } else { None };
        if quote.is_none() && line.chars().next().is_some_and(|c| !c.is_whitespace()) {
            depth = 0;
        }
        let mut previous = ' ';
        for (column, c) in line.chars().enumerate() {
            match quote {
                _ if comment => break,
                Some('"') if escaped => escaped = false,
                Some('"') if c == '\\' => escaped = true,
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None => match c {
                    '#' if previous.is_whitespace() => comment = true,
                    '"' | '\'' => quote = Some(c),
                    '[' | '{' if depth > 0 || matches!(last, None | Some(':' | '-' | '?')) => {
                        depth += 1;
                    }
                    ']' | '}' => depth = depth.saturating_sub(1),
                    _ => {}
                },
            }
            if depth > MAX_FLOW_DEPTH {
                return Err(SpecError::new(format!(
                    "the spec nests brackets more than {MAX_FLOW_DEPTH} deep; a spec needs a few levels"
                ))
                .at(n + 1, column + 1));
            }
            if !c.is_whitespace() {
                last = Some(c);
            }
            previous = c;
        }
    }
    Ok(())
}

fn check_size(text: &str) -> Result<(), SpecError> {
    if text.trim().is_empty() {
        return Err(SpecError::new("the spec is empty"));
    }
    if text.len() > MAX_SPEC_BYTES {
        return Err(SpecError::new(too_long()));
    }
    Ok(())
}

/// Why a spec longer than [`MAX_SPEC_BYTES`] is not read.
pub fn too_long() -> String {
    format!(
        "the spec is over the 16 MiB limit of a spec ({MAX_SPEC_BYTES} bytes; the list it \
         describes may be up to 4 MiB)"
    )
}

fn strip_suffix(message: &mut String, suffix: &str) {
    if message.ends_with(suffix) {
        message.truncate(message.len() - suffix.len());
    }
}

/// yaml_serde puts its own path (some ancestor of the tracked one) before the message.
fn strip_yaml_path(message: &mut String, segments: &[Segment]) {
    for n in (1..=segments.len()).rev() {
        let prefix = format!("{}: ", render(&segments[..n]));
        if message.starts_with(&prefix) {
            message.drain(..prefix.len());
            return;
        }
    }
}

/// `manifests[1].platform.os.version`; empty for the document itself.
fn render(segments: &[Segment]) -> String {
    let mut out = String::new();
    for segment in segments {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            // An empty key is only ever an annotation's, which is reported at its mapping.
            Segment::Map { key } if key.is_empty() => {}
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Unknown => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push('?');
            }
        }
    }
    out
}

/// The keys of a staged release, named by the errors of their check.
const STAGING_KEYS: [&str; 4] = ["expect", "release", "deadline_secs", "on_deadline"];

fn to_spec_error(
    segments: &[Segment],
    message: String,
    location: Option<(usize, usize)>,
) -> SpecError {
    let mut field = render(segments);
    let mut message = message;
    // A staged release's keys are checked together, after the document is read.
    if field.is_empty()
        && let Some((key, rest)) = message.split_once(": ")
        && STAGING_KEYS.contains(&key)
    {
        field.push_str(key);
        message = rest.to_owned();
    }
    // serde reports a missing or repeated key at the mapping that holds it.
    let named = ["missing field `", "duplicate field `"]
        .iter()
        .find_map(|p| message.strip_prefix(p)?.split('`').next());
    if let Some(key) = named {
        if !field.is_empty() {
            field.push('.');
        }
        field.push_str(key);
    } else if field.is_empty() && message.starts_with(TOO_LARGE) {
        field.push_str("manifests");
    } else if field.is_empty() && message.starts_with(BOTH_TARGETS) {
        field.push_str("targets");
    } else if field.ends_with("platform") && message.starts_with("variant \"") {
        // The variant is checked against the architecture, at the platform's mapping.
        field.push_str(".variant");
    }
    let error = if field.is_empty() {
        SpecError::new(message)
    } else {
        SpecError::in_field(field, message)
    };
    match location {
        Some((line, column)) => error.at(line, column),
        None => error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brackets_nested_deeper_than_a_spec_needs_are_refused_before_parsing() {
        let deep = |open: &str, close: &str, n: usize| {
            format!(
                "image: r.io/demo:v1\nmanifests: {}{}\n",
                open.repeat(n),
                close.repeat(n)
            )
        };
        for (open, close) in [("[", "]"), ("{a: ", "}")] {
            let err = from_yaml(&deep(open, close, 100_000)).unwrap_err();
            assert!(err.message.contains("nests brackets more than 16"), "{err}");
            assert_eq!(err.line, Some(2), "{err}");
        }
        let json = format!(
            "{{\"image\": \"r.io/demo:v1\", \"manifests\": {}{}}}",
            "[".repeat(50_000),
            "]".repeat(50_000)
        );
        assert!(
            from_json(&json)
                .unwrap_err()
                .message
                .contains("nests brackets")
        );
    }

    #[test]
    fn brackets_in_strings_comments_and_plain_values_do_not_count() {
        let text = format!(
            "image: r.io/demo:v1 # {open}\nannotations:\n  é: \"{open}\" # ü {open}\n  a: \"{open}\"\n  b: '{open}'\n  c: x{open}\nmanifests: [{{image: r.io/a:v1, platform: {{os: linux, architecture: amd64, os.features: [x]}}}}]\n",
            open = "[".repeat(40)
        );
        let spec = from_yaml(&text).unwrap();
        assert_eq!(spec.annotations["a"], "[".repeat(40));
        assert_eq!(spec.manifests.len(), 1);
    }
    use crate::model::Platform;
    use crate::spec::PlatformSpec;

    const EXAMPLE: &str = "\
image: myprivreg:5000/someimage:latest
tags: ['1.0.0', 'v1']
manifests:
  -
    image: myprivreg:5000/someimage:ppc64le
    platform:
      architecture: ppc64le
      os: linux
  -
    image: myprivreg:5000/someimage:windows-amd64
    platform:
      architecture: amd64
      os: windows
      os.version: 10.0.17763
      os.features: [win32k]
  -
    image: myprivreg:5000/someimage:arm64
    platform: {architecture: arm64, os: linux, variant: v8}
    annotations: {org.example.note: \"per-entry\"}
  -
    image: myprivreg:5000/someimage:amd64         # platform left out: read later from the image config
";

    const EXAMPLE_JSON: &str = r#"{
  "image": "myprivreg:5000/someimage:latest",
  "tags": ["1.0.0", "v1"],
  "manifests": [
    {"image": "myprivreg:5000/someimage:ppc64le",
     "platform": {"architecture": "ppc64le", "os": "linux"}},
    {"image": "myprivreg:5000/someimage:windows-amd64",
     "platform": {"architecture": "amd64", "os": "windows", "os.version": "10.0.17763",
                  "os.features": ["win32k"]}},
    {"image": "myprivreg:5000/someimage:arm64",
     "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"},
     "annotations": {"org.example.note": "per-entry"}},
    {"image": "myprivreg:5000/someimage:amd64"}
  ]
}"#;

    /// The error for `text`, checked to name `field` at `line`, `column`.
    #[track_caller]
    fn rejects(
        result: Result<ListSpec, SpecError>,
        field: &str,
        line: usize,
        column: usize,
    ) -> SpecError {
        let Err(err) = result else {
            panic!("the spec is accepted")
        };
        assert_eq!(err.field.as_deref(), Some(field), "{err}");
        assert_eq!((err.line, err.column), (Some(line), Some(column)), "{err}");
        err
    }

    fn platform(entry: &crate::spec::SourceEntry) -> Option<Platform> {
        entry.platform.as_ref().and_then(PlatformSpec::complete)
    }

    #[test]
    fn manifest_tools_example_parses_as_it_is() {
        let spec = from_yaml(EXAMPLE).unwrap();

        assert_eq!(spec.image.to_string(), "myprivreg:5000/someimage:latest");
        assert_eq!(spec.tags, ["1.0.0", "v1"]);
        let shown: Vec<String> = spec
            .manifests
            .iter()
            .map(|e| platform(e).map_or("-".to_owned(), |p| p.to_string()))
            .collect();
        assert_eq!(
            shown,
            [
                "linux/ppc64le",
                "windows/amd64 (os.version 10.0.17763)",
                "linux/arm64/v8",
                "-"
            ]
        );
        assert_eq!(
            platform(&spec.manifests[1]).unwrap().os_features,
            ["win32k"]
        );
        assert_eq!(
            spec.manifests[2].annotations["org.example.note"],
            "per-entry"
        );
        assert_eq!(spec.manifests[3].image.tag(), Some("amd64"));
        assert!(spec.manifests[3].platform.is_none());
    }

    #[test]
    fn the_same_spec_in_json_gives_the_same_list_spec() {
        let from_json_text = from_json(EXAMPLE_JSON).unwrap();

        assert_eq!(from_json_text, from_yaml(EXAMPLE).unwrap());
    }

    #[test]
    fn from_text_reads_json_when_it_starts_with_a_brace() {
        let json = format!("\n  {EXAMPLE_JSON}");

        assert_eq!(from_text(&json).unwrap(), from_text(EXAMPLE).unwrap());
        // JSON errors: the location is counted in the text as given.
        let err = from_text("\n{\"image\": \"a\", \"bogus\": 1}").unwrap_err();
        assert_eq!((err.field.as_deref(), err.line), (Some("bogus"), Some(2)));
    }

    #[test]
    fn unquoted_numbers_are_read_as_the_strings_written() {
        let text = "image: r.io/a:v1\ntags: [1.0, 2, 010]\nannotations: {n: 1.10, e: ~}\n\
                    manifests:\n  - image: r.io/b:1\n    platform: {os: windows, architecture: amd64, osversion: 10.0}\n";

        let spec = from_yaml(text).unwrap();

        assert_eq!(spec.tags, ["1.0", "2", "010"]);
        assert_eq!(spec.annotations["n"], "1.10");
        assert_eq!(
            spec.annotations["e"], "",
            "a null annotation value is empty, as in Go"
        );
        let platform = spec.manifests[0].platform.as_ref().unwrap();
        assert_eq!(platform.os_version.as_deref(), Some("10.0"));
    }

    #[test]
    fn platforms_are_stored_normalised_and_an_empty_one_is_none() {
        let text = "image: r.io/a:v1\nmanifests:\n  - image: r.io/b:1\n    platform: {os: Linux, architecture: x86_64, variant: ~}\n\
                    \x20 - image: r.io/c:1\n    platform: {}\n";

        let spec = from_yaml(text).unwrap();

        let first = spec.manifests[0].platform.as_ref().unwrap();
        assert_eq!(
            (first.os.as_deref(), first.architecture.as_deref()),
            (Some("linux"), Some("amd64"))
        );
        assert_eq!(first.variant, None);
        assert_eq!(spec.manifests[1].platform, None);
    }

    #[test]
    fn extra_tags_lose_repeats_and_the_targets_own_tag() {
        let text =
            "image: r.io/a:v1\ntags: [v1, latest, v0, latest]\nmanifests: [{image: r.io/b}]\n";

        assert_eq!(from_yaml(text).unwrap().tags, ["latest", "v0"]);
    }

    #[test]
    fn unknown_keys_are_refused_at_every_level() {
        let top = "image: r.io/a:v1\nmanifest: []\n";
        let err = rejects(from_yaml(top), "manifest", 2, 1);
        assert!(err.message.contains("unknown field `manifest`"), "{err}");

        let entry = "image: r.io/a:v1\nmanifests:\n  - image: r.io/b\n    platfrom: {}\n";
        rejects(from_yaml(entry), "manifests[0].platfrom", 4, 5);

        let plat =
            "image: r.io/a:v1\nmanifests:\n  - image: r.io/b\n    platform:\n      arch: amd64\n";
        rejects(from_yaml(plat), "manifests[0].platform.arch", 5, 7);

        let json = "{\"image\": \"r.io/a:v1\",\n \"manifests\": [{\"image\": \"r.io/b\",\n \"platform\": {\"cpu\": 1}}]}";
        rejects(from_json(json), "manifests[0].platform.cpu", 3, 19);
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let top = "image: r.io/a:v1\nmanifests: [{image: r.io/b}]\nimage: r.io/c:v1\n";
        rejects(from_yaml(top), "image", 1, 1);

        let entry = "image: r.io/a:v1\nmanifests:\n  - image: r.io/b\n    image: r.io/c\n";
        rejects(from_yaml(entry), "manifests[0].image", 3, 5);

        let plat = "image: r.io/a:v1\nmanifests:\n  - image: r.io/b\n    platform: {os: linux, os: windows}\n";
        rejects(from_yaml(plat), "manifests[0].platform.os", 4, 15);

        let ann =
            "image: r.io/a:v1\nannotations:\n  a.b: x\n  a.b: y\nmanifests: [{image: r.io/b}]\n";
        let err = rejects(from_yaml(ann), "annotations.a.b", 4, 3);
        assert!(err.message.contains("\"a.b\" is given twice"), "{err}");

        let json = "{\"image\": \"r.io/a:v1\", \"manifests\": [{\"image\": \"r.io/b\",\n \"annotations\": {\"k\": \"1\", \"k\": \"2\"}}]}";
        rejects(from_json(json), "manifests[0].annotations.k", 2, 30);
    }

    #[test]
    fn wrong_types_name_the_field() {
        let tags = "image: r.io/a:v1\ntags: v1\nmanifests: [{image: r.io/b}]\n";
        rejects(from_yaml(tags), "tags", 2, 7);

        let plat = "image: r.io/a:v1\nmanifests:\n  - image: r.io/b\n    platform: linux/amd64\n";
        let err = rejects(from_yaml(plat), "manifests[0].platform", 4, 15);
        assert!(err.message.contains("invalid type"), "{err}");

        let ann = "image: r.io/a:v1\nmanifests:\n  - image: r.io/b\n    annotations: {k: [1]}\n";
        rejects(from_yaml(ann), "manifests[0].annotations.k", 4, 22);

        let json =
            "{\"image\": \"r.io/a:v1\", \"tags\": [1.0], \"manifests\": [{\"image\": \"r.io/b\"}]}";
        rejects(from_json(json), "tags[0]", 1, 35);
    }

    #[test]
    fn a_missing_image_or_manifests_is_named() {
        rejects(from_yaml("manifests: [{image: r.io/b}]\n"), "image", 1, 1);
        rejects(from_yaml("image: r.io/a:v1\n"), "manifests", 1, 1);
        let entry = "image: r.io/a:v1\nmanifests:\n  - platform: {os: linux}\n";
        let err = rejects(from_yaml(entry), "manifests[0].image", 3, 5);
        assert!(err.message.contains("missing field `image`"), "{err}");
    }

    #[test]
    fn an_invalid_reference_carries_the_references_own_message() {
        let source = "image: r.io/a:v1\nmanifests:\n  - image: r.io/b\n  - image: r.io/Upper:v1\n";
        let err = rejects(from_yaml(source), "manifests[1].image", 4, 12);
        assert!(
            err.message.contains("invalid reference \"r.io/Upper:v1\""),
            "{err}"
        );
        assert!(err.message.contains("lower-case"), "{err}");

        let target = "image: 'r.io/a:-v1'\nmanifests: [{image: r.io/b}]\n";
        let err = rejects(from_yaml(target), "image", 1, 8);
        assert!(err.message.contains("tag \"-v1\""), "{err}");
    }

    #[test]
    fn a_target_given_by_digest_is_refused() {
        let digest = format!("sha256:{}", "0".repeat(64));
        let text = format!("manifests: [{{image: r.io/b}}]\nimage: r.io/a@{digest}\n");

        let err = rejects(from_yaml(&text), "image", 2, 8);

        assert!(err.message.contains("pushed to a tag"), "{err}");
        let source = format!("image: r.io/a:v1\nmanifests: [{{image: 'r.io/b@{digest}'}}]\n");
        assert!(from_yaml(&source).is_ok(), "sources may be digests");
    }

    #[test]
    fn an_invalid_extra_tag_is_named_by_its_index() {
        let text =
            "image: r.io/a:v1\ntags: [v0, latest, 'bad tag']\nmanifests: [{image: r.io/b}]\n";

        let err = rejects(from_yaml(text), "tags[2]", 2, 20);

        assert!(err.message.contains("bad tag"), "{err}");
    }

    #[test]
    fn an_empty_manifests_list_is_refused() {
        let err = rejects(
            from_yaml("image: r.io/a:v1\nmanifests: []\n"),
            "manifests",
            2,
            12,
        );
        assert!(err.message.contains("no source images"), "{err}");
        rejects(
            from_yaml("image: r.io/a:v1\nmanifests:\n"),
            "manifests",
            2,
            11,
        );
        rejects(
            from_json("{\"image\": \"r.io/a:v1\", \"manifests\": []}"),
            "manifests",
            1,
            38,
        );
    }

    #[test]
    fn two_entries_with_the_same_complete_platform_are_refused() {
        let text = "image: r.io/a:v1\nmanifests:\n  - image: r.io/b\n    platform: {os: linux, architecture: arm64}\n\
                    \x20 - image: r.io/c\n    platform: {os: linux}\n\
                    \x20 - image: r.io/d\n    platform:\n      os: Linux\n      architecture: aarch64\n      variant: v8\n";

        let err = rejects(from_yaml(text), "manifests[2].platform", 9, 7);

        assert!(
            err.message.contains("manifests[0] and manifests[2]"),
            "{err}"
        );
        assert!(err.message.contains("linux/arm64/v8"), "{err}");
    }

    #[test]
    fn windows_entries_without_os_version_are_left_to_their_configs() {
        let text = "image: r.io/a:v1\nmanifests:\n  - {image: r.io/b, platform: {os: windows, architecture: amd64}}\n\
                    \x20 - {image: r.io/c, platform: {os: windows, architecture: amd64}}\n";
        assert_eq!(from_yaml(text).unwrap().manifests.len(), 2);

        let versioned = "image: r.io/a:v1\nmanifests:\n  - {image: r.io/b, platform: {os: windows, architecture: amd64, os.version: 10.0.17763}}\n\
                         \x20 - {image: r.io/c, platform: {os: windows, architecture: amd64, os.version: 10.0.17763}}\n";
        let err = from_yaml(versioned).unwrap_err();
        assert!(err.message.contains("the same platform"), "{err}");
    }

    #[test]
    fn different_variants_and_partial_platforms_are_not_duplicates() {
        let text = "image: r.io/a:v1\nmanifests:\n  - {image: r.io/b, platform: {os: linux, architecture: arm, variant: v6}}\n\
                    \x20 - {image: r.io/c, platform: {os: linux, architecture: armhf}}\n\
                    \x20 - {image: r.io/d, platform: {architecture: arm, variant: v6}}\n\
                    \x20 - {image: r.io/e}\n  - {image: r.io/f}\n";

        assert_eq!(from_yaml(text).unwrap().manifests.len(), 5);
    }

    #[test]
    fn a_variant_the_architecture_does_not_have_is_refused() {
        let text = "image: r.io/a:v1\nmanifests:\n  - image: r.io/b\n    platform: {os: linux, architecture: amd64, variant: v8}\n";

        let err = rejects(from_yaml(text), "manifests[0].platform.variant", 4, 15);

        assert!(err.message.contains("v1, v2, v3 or v4"), "{err}");
    }

    #[test]
    fn an_empty_architecture_is_refused_where_given() {
        let text = "image: r.io/a:v1\nmanifests:\n  - image: r.io/b\n    platform: {os: linux, architecture: ''}\n";

        let err = rejects(from_yaml(text), "manifests[0].platform.architecture", 4, 41);

        assert!(err.message.contains("empty"), "{err}");
    }

    #[test]
    fn an_empty_annotation_key_is_refused() {
        let top = "image: r.io/a:v1\nannotations: {'': x}\nmanifests: [{image: r.io/b}]\n";
        rejects(from_yaml(top), "annotations", 2, 15);
        let entry = "{\"image\": \"r.io/a:v1\", \"manifests\": [{\"image\": \"r.io/b\", \"annotations\": {\"\": \"x\"}}]}";
        let err = rejects(from_json(entry), "manifests[0].annotations", 1, 75);
        assert_eq!(err.message, "an annotation key is empty");
    }

    #[test]
    fn input_larger_than_a_spec_may_be_is_refused_before_parsing() {
        let text = format!(
            "image: r.io/a:v1\n#{}\nmanifests: [{{image: r.io/b}}]\n",
            "x".repeat(MAX_SPEC_BYTES)
        );

        let Err(err) = from_yaml(&text) else {
            panic!("the spec is accepted")
        };

        assert_eq!((err.field, err.line), (None, None));
        assert!(err.message.contains("16 MiB"), "{}", err.message);
    }

    #[test]
    fn a_spec_over_4_mib_describing_a_small_list_is_read() {
        let comment = "x".repeat(crate::model::MAX_LIST_BYTES + 1024);
        let yaml = format!("image: r.io/a:v1\n#{comment}\nmanifests: [{{image: r.io/b}}]\n");
        let json = format!(
            "{{\"image\": \"r.io/a:v1\",{}\"manifests\": [{{\"image\": \"r.io/b\"}}]}}",
            " ".repeat(crate::model::MAX_LIST_BYTES + 1024)
        );

        assert_eq!(from_yaml(&yaml).unwrap().manifests.len(), 1);
        assert_eq!(from_json(&json).unwrap().manifests.len(), 1);
    }

    #[test]
    fn empty_text_is_refused_in_both_formats() {
        assert_eq!(from_yaml(" \n").unwrap_err().message, "the spec is empty");
        assert_eq!(from_json("").unwrap_err().message, "the spec is empty");
        rejects(from_yaml("# only a comment\n"), "image", 2, 1);
    }

    #[test]
    fn json_trailing_text_and_several_yaml_documents_are_refused() {
        let err =
            from_json("{\"image\": \"r.io/a:v1\", \"manifests\": [{\"image\": \"r.io/b\"}]}\n]")
                .unwrap_err();
        assert_eq!((err.field.as_deref(), err.line), (None, Some(2)), "{err}");
        let err =
            from_yaml("image: r.io/a:v1\nmanifests: [{image: r.io/b}]\n---\nimage: r.io/c:v1\n")
                .unwrap_err();
        assert!(err.message.contains("more than one document"), "{err}");
    }

    #[test]
    fn errors_display_field_message_and_location() {
        let text = "image: r.io/a:v1\nmanifests:\n  - image: r.io/b\n  - image: r.io/c\n    platform:\n      os: linux\n      architecture: 'x 1'\n";

        let err = from_yaml(text).unwrap_err();

        assert_eq!(
            err.to_string(),
            "manifests[1].platform.architecture: \"x 1\" may only hold letters, digits, '.', '_', '+' \
             and '-' (line 7, column 21)"
        );
    }

    #[test]
    fn a_spec_with_more_extra_tags_than_a_push_writes_is_refused_naming_tags() {
        let tags = |n: usize| {
            (0..n)
                .map(|i| format!("t{i}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let spec = |n: usize| {
            format!(
                "image: r.io/demo:v1\ntags: [{}]\nmanifests:\n  - image: r.io/a:v1\n",
                tags(n)
            )
        };
        let err = from_yaml(&spec(101)).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("tags"), "{err}");
        assert!(err.message.contains("at most 100"), "{err}");
        assert_eq!(from_yaml(&spec(100)).unwrap().tags.len(), 100);
    }
}

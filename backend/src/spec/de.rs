//! The serde side of spec parsing: the document's shape and every check made while it is read.
//!
//! Checks run inside the visitors of the node they concern, so that the format's deserializer
//! attaches that node's line and column to the error (yaml_serde and serde_json both do this for
//! errors a visitor returns, not for errors made after `deserialize` has returned). Also owns the
//! estimate of the list's size.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::targets::{BOTH_TARGETS, ImageTargets, TargetList};
use super::{ListSpec, PlatformSpec, SourceEntry};
use crate::model::MAX_LIST_BYTES;
use crate::model::reference::{Reference, check_tag};
use crate::model::{AskedOptions, ListFormat, ListType, OnDeadline, Repair, Staging};

/// Start of the message when the list would be too large; parse.rs names the field from it.
pub(super) const TOO_LARGE: &str = "the list would be about";

/// Bytes of an index without entries: `{"schemaVersion":2,"mediaType":"…","manifests":[]}`.
const LIST_BYTES: usize = 80;
/// Least bytes of one compact descriptor, without the platform's values and annotations:
/// `{"mediaType":"<OCI manifest>","digest":"sha256:<64>","size":NNN,"platform":{"architecture":"","os":""}},`
const DESCRIPTOR_BYTES: usize = 193;
/// Least bytes of an architecture and OS read from an image config (`arm` and `aix`).
const ARCH_OS_BYTES: usize = 6;

/// A whole spec document; `Document::deserialize` runs every check. The third part is the key
/// that named several targets, if any.
pub(super) struct Document(
    pub(super) ListSpec,
    pub(super) AskedOptions,
    pub(super) Option<&'static str>,
);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    #[serde(default)]
    image: Option<ImageTargets>,
    #[serde(default)]
    targets: Option<TargetList>,
    #[serde(default)]
    tags: Option<Tags>,
    #[serde(default)]
    annotations: Option<Annotations>,
    // Required, but read as an option so that a missing target is named first.
    #[serde(default, deserialize_with = "present")]
    manifests: Option<Manifests>,
    #[serde(rename = "type", default)]
    list_type: Option<ListType>,
    #[serde(default)]
    format: Option<ListFormat>,
    #[serde(default)]
    callback_url: Option<CallbackUrl>,
    #[serde(default)]
    ignore_missing: Option<bool>,
    #[serde(default)]
    append: Option<bool>,
    #[serde(default)]
    trust_platforms: Option<bool>,
    #[serde(default)]
    follow: Option<bool>,
    #[serde(default)]
    repair: Option<Repair>,
    #[serde(default)]
    referrers: Option<bool>,
    #[serde(default)]
    inherit_annotations: Option<bool>,
    #[serde(default)]
    expect: Option<Vec<String>>,
    #[serde(default)]
    release: Option<String>,
    #[serde(default)]
    deadline_secs: Option<u64>,
    #[serde(default)]
    on_deadline: Option<OnDeadline>,
}

impl RawSpec {
    /// The staged release the spec asks for: none without `expect` (the other keys need it).
    fn staging(&self) -> Result<Option<Staging>, String> {
        let Some(expect) = &self.expect else {
            let lone = [
                ("release", self.release.is_some()),
                ("deadline_secs", self.deadline_secs.is_some()),
                ("on_deadline", self.on_deadline.is_some()),
            ];
            return match lone.iter().find(|(_, given)| *given) {
                Some((key, _)) => Err(format!(
                    "{key}: belongs to a staged release, which needs `expect` (the platforms it must have)"
                )),
                None => Ok(None),
            };
        };
        Staging::new(
            expect,
            self.release.as_deref(),
            self.deadline_secs,
            self.on_deadline,
        )
        .map(Some)
        .map_err(|(field, message)| format!("{field}: {message}"))
    }
}

/// A key that is there: its value read as `T` (so `null` is no `None`, but `T`'s error).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

impl<'de> Deserialize<'de> for Document {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(DocumentVisitor)
    }
}

struct DocumentVisitor;

impl<'de> Visitor<'de> for DocumentVisitor {
    type Value = Document;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list spec: a mapping with image, tags, annotations and manifests")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Document, A::Error> {
        let raw = RawSpec::deserialize(MapAccessDeserializer::new(map))?;
        let stage = raw.staging().map_err(de::Error::custom)?;
        let (mut targets, key) = match (raw.image, raw.targets) {
            (Some(_), Some(_)) => {
                return Err(de::Error::custom(format!(
                    "{BOTH_TARGETS}; give the targets as one of them: image (a reference or a \
                     list of them) or targets (a list)"
                )));
            }
            (Some(ImageTargets(targets)), None) => (targets, "image"),
            (None, Some(TargetList(targets))) => (targets, "targets"),
            (None, None) => return Err(de::Error::missing_field("image")),
        };
        let image = targets.remove(0);
        let manifests = raw
            .manifests
            .ok_or_else(|| de::Error::missing_field("manifests"))?;
        let own_tag = image.tag().map(str::to_owned);
        let mut tags: Vec<String> = Vec::new();
        for Tag(tag) in raw.tags.map(|t| t.0).unwrap_or_default() {
            if Some(&tag) != own_tag.as_ref() && !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        let several = (!targets.is_empty()).then_some(key);
        let spec = ListSpec {
            image,
            more_targets: targets,
            tags,
            annotations: raw.annotations.map(|a| a.0).unwrap_or_default(),
            manifests: manifests.0,
        };
        let bytes = estimate_list_bytes(&spec);
        if bytes > MAX_LIST_BYTES {
            return Err(de::Error::custom(too_large(bytes, spec.manifests.len())));
        }
        let options = AskedOptions {
            list_type: raw.list_type,
            format: raw.format,
            callback_url: raw.callback_url.map(|u| u.0),
            ignore_missing: raw.ignore_missing,
            append: raw.append,
            trust_platforms: raw.trust_platforms,
            follow: raw.follow,
            repair: raw.repair,
            referrers: raw.referrers,
            inherit_annotations: raw.inherit_annotations,
            stage,
        };
        Ok(Document(spec, options, several))
    }
}

/// A lower bound of the size of the list document a spec produces (compact JSON).
pub(super) fn estimate_list_bytes(spec: &ListSpec) -> usize {
    LIST_BYTES
        + annotation_bytes(&spec.annotations)
        + spec.manifests.iter().map(entry_bytes).sum::<usize>()
}

fn entry_bytes(entry: &SourceEntry) -> usize {
    let default = PlatformSpec::default();
    let p = entry.platform.as_ref().unwrap_or(&default);
    let len = |s: &Option<String>| s.as_ref().map_or(0, String::len);
    let text = |s: &Option<String>, key: usize| s.as_ref().map_or(0, |s| key + s.len());
    let list = |l: &Option<Vec<String>>, key: usize| {
        l.as_ref()
            .map_or(0, |l| key + l.iter().map(|s| s.len() + 3).sum::<usize>())
    };
    DESCRIPTOR_BYTES
        + (len(&p.architecture) + len(&p.os)).max(ARCH_OS_BYTES)
        + text(&p.variant, r#","variant":"""#.len())
        + text(&p.os_version, r#","os.version":"""#.len())
        + list(&p.os_features, r#","os.features":[]"#.len() - 1)
        + list(&p.features, r#","features":[]"#.len() - 1)
        + annotation_bytes(&entry.annotations)
}

fn annotation_bytes(annotations: &BTreeMap<String, String>) -> usize {
    if annotations.is_empty() {
        return 0;
    }
    16 + annotations
        .iter()
        .map(|(k, v)| k.len() + v.len() + 6)
        .sum::<usize>()
}

pub(super) fn too_large(bytes: usize, entries: usize) -> String {
    format!(
        "{TOO_LARGE} {bytes} bytes with {entries} entries, over the registry's limit of {MAX_LIST_BYTES} \
         bytes (4 MiB); split it into several lists"
    )
}

/// The target: a valid reference that names a tag, not a digest.
pub(super) struct Target(pub(super) Reference);

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(RefVisitor { target: true }).map(Target)
    }
}

/// A source image reference (tag or digest).
struct SourceRef(Reference);

impl<'de> Deserialize<'de> for SourceRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(RefVisitor { target: false })
            .map(SourceRef)
    }
}

pub(super) struct RefVisitor {
    pub(super) target: bool,
}

impl Visitor<'_> for RefVisitor {
    type Value = Reference;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an image reference such as registry.example:5000/demo:v1")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Reference, E> {
        let reference = Reference::parse(v).map_err(E::custom)?;
        if self.target && reference.digest().is_some() {
            return Err(E::custom(format!(
                "the target \"{v}\" names a digest; a list is pushed to a tag, so write name:tag"
            )));
        }
        Ok(reference)
    }
}

/// An extra tag of the target.
struct Tag(String);

/// A spec's extra tags: at most [`crate::model::reference::MAX_TAGS`].
struct Tags(Vec<Tag>);

impl<'de> Deserialize<'de> for Tags {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let tags = Vec::<Tag>::deserialize(d)?;
        crate::model::reference::check_tag_count(tags.len()).map_err(de::Error::custom)?;
        Ok(Tags(tags))
    }
}

impl<'de> Deserialize<'de> for Tag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(TagVisitor).map(Tag)
    }
}

struct TagVisitor;

impl Visitor<'_> for TagVisitor {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a tag")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        check_tag(v).map_err(E::custom)?;
        Ok(v.to_owned())
    }
}

/// Annotations: string keys (not empty, not repeated) to string values (`null` is "").
struct Annotations(BTreeMap<String, String>);

impl<'de> Deserialize<'de> for Annotations {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(AnnotationsVisitor)
    }
}

struct AnnotationsVisitor;

impl<'de> Visitor<'de> for AnnotationsVisitor {
    type Value = Annotations;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping of annotation keys to string values")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Annotations, A::Error> {
        let mut out = BTreeMap::new();
        while let Some(key) = map.next_key_seed(AnnotationKey { seen: &out })? {
            let value: Option<String> = map.next_value()?;
            out.insert(key, value.unwrap_or_default());
        }
        Ok(Annotations(out))
    }
}

struct AnnotationKey<'a> {
    seen: &'a BTreeMap<String, String>,
}

impl<'de> DeserializeSeed<'de> for AnnotationKey<'_> {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for AnnotationKey<'_> {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an annotation key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        if v.is_empty() {
            return Err(E::custom("an annotation key is empty"));
        }
        if self.seen.contains_key(v) {
            return Err(E::custom(format!("annotation key \"{v}\" is given twice")));
        }
        Ok(v.to_owned())
    }
}

/// The source entries: at least one, no two with the same complete platform.
struct Manifests(Vec<SourceEntry>);

impl<'de> Deserialize<'de> for Manifests {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(ManifestsVisitor)
    }
}

struct ManifestsVisitor;

impl<'de> Visitor<'de> for ManifestsVisitor {
    type Value = Manifests;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of source images (image, platform, annotations)")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Manifests, A::Error> {
        let mut entries: Vec<SourceEntry> = Vec::new();
        let mut bytes = LIST_BYTES;
        while let Some(entry) = seq.next_element_seed(EntrySeed { earlier: &entries })? {
            bytes += entry_bytes(&entry);
            entries.push(entry);
            if bytes > MAX_LIST_BYTES {
                return Err(de::Error::custom(too_large(bytes, entries.len())));
            }
        }
        if entries.is_empty() {
            return Err(de::Error::custom(
                "there are no source images; a list needs at least one",
            ));
        }
        Ok(Manifests(entries))
    }
}

struct EntrySeed<'a> {
    earlier: &'a [SourceEntry],
}

impl<'de> DeserializeSeed<'de> for EntrySeed<'_> {
    type Value = SourceEntry;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<SourceEntry, D::Error> {
        d.deserialize_map(self)
    }
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum EntryField {
    Image,
    Platform,
    Annotations,
}

impl<'de> Visitor<'de> for EntrySeed<'_> {
    type Value = SourceEntry;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a source image: a mapping with image, platform and annotations")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SourceEntry, A::Error> {
        let mut image = None;
        let mut platform = None;
        let mut annotations = None;
        while let Some(field) = map.next_key()? {
            match field {
                EntryField::Image if image.is_some() => {
                    return Err(de::Error::duplicate_field("image"));
                }
                EntryField::Image => image = Some(map.next_value::<SourceRef>()?.0),
                EntryField::Platform if platform.is_some() => {
                    return Err(de::Error::duplicate_field("platform"));
                }
                EntryField::Platform => {
                    platform = Some(map.next_value_seed(PlatformSeed {
                        earlier: self.earlier,
                    })?);
                }
                EntryField::Annotations if annotations.is_some() => {
                    return Err(de::Error::duplicate_field("annotations"));
                }
                EntryField::Annotations => annotations = Some(map.next_value::<Annotations>()?.0),
            }
        }
        Ok(SourceEntry {
            image: image.ok_or_else(|| de::Error::missing_field("image"))?,
            platform: platform.flatten(),
            annotations: annotations.unwrap_or_default(),
        })
    }
}

/// An entry's platform: normalised, its variant checked, and compared with the earlier entries'.
struct PlatformSeed<'a> {
    earlier: &'a [SourceEntry],
}

impl<'de> DeserializeSeed<'de> for PlatformSeed<'_> {
    type Value = Option<PlatformSpec>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for PlatformSeed<'_> {
    type Value = Option<PlatformSpec>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a platform: a mapping with architecture, os, variant, os.version, …")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let spec = PlatformSpec::deserialize(MapAccessDeserializer::new(map))?.normalized();
        spec.check().map_err(de::Error::custom)?;
        if spec.is_empty() {
            return Ok(None);
        }
        if let Some(duplicate) = duplicate_of(self.earlier, &spec) {
            return Err(de::Error::custom(duplicate));
        }
        Ok(Some(spec))
    }
}

/// The message when `spec` (entry number `earlier.len()`) has the complete platform of an earlier entry.
/// A Windows platform without `os.version` is left to the engine: the images' configs may give
/// the two entries different versions (manifest-tool's own specs rely on it).
pub(super) fn duplicate_of(earlier: &[SourceEntry], spec: &PlatformSpec) -> Option<String> {
    let platform = spec
        .complete()
        .filter(|p| p.os != "windows" || p.os_version.is_some())?;
    let (index, _) = earlier.iter().enumerate().find(|(_, e)| {
        e.platform
            .as_ref()
            .and_then(PlatformSpec::complete)
            .is_some_and(|p| p.same_as(&platform))
    })?;
    Some(format!(
        "manifests[{index}] and manifests[{}] have the same platform {platform}; a list holds one \
         image per platform",
        earlier.len()
    ))
}

/// A callback URL: absolute http or https.
struct CallbackUrl(String);

impl<'de> Deserialize<'de> for CallbackUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(CallbackUrlVisitor)
    }
}

struct CallbackUrlVisitor;

impl Visitor<'_> for CallbackUrlVisitor {
    type Value = CallbackUrl;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an http or https URL")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<CallbackUrl, E> {
        match url::Url::parse(v) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {
                Ok(CallbackUrl(v.to_owned()))
            }
            Ok(_) => Err(E::custom(format!(
                "callback URL \"{v}\" must be http or https"
            ))),
            Err(e) => Err(E::custom(format!("callback URL \"{v}\" is not a URL: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::parse::from_yaml;

    fn entry(annotations: &[(&str, &str)]) -> SourceEntry {
        SourceEntry {
            image: Reference::parse("r.io/b:v1").unwrap(),
            platform: Some(PlatformSpec {
                architecture: Some("arm64".into()),
                os: Some("linux".into()),
                variant: Some("v8".into()),
                ..PlatformSpec::default()
            }),
            annotations: annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn follow_is_read_as_a_submission_option_and_a_word_for_it_is_refused_by_name() {
        let spec = "image: r.io/a:v1\nfollow: true\nmanifests:\n  - image: r.io/b:v1\n";
        let wrong = "image: r.io/a:v1\nfollow: always\nmanifests:\n  - image: r.io/b:v1\n";

        let submission = crate::spec::parse::submission_from_yaml(spec).unwrap();
        let refused = crate::spec::parse::submission_from_yaml(wrong).unwrap_err();

        assert_eq!(submission.options.follow, Some(true));
        assert_eq!(refused.field.as_deref(), Some("follow"), "{refused}");
        assert_eq!(refused.line, Some(2), "{refused}");
    }

    #[test]
    fn repair_is_read_as_true_or_tag_and_another_word_is_refused_by_name() {
        let spec = |value: &str| {
            format!("image: r.io/a:v1\nrepair: {value}\nmanifests:\n  - image: r.io/b:v1\n")
        };
        let read = |value: &str| crate::spec::parse::submission_from_yaml(&spec(value));

        assert_eq!(read("true").unwrap().options.repair, Some(Repair::Children));
        assert_eq!(read("tag").unwrap().options.repair, Some(Repair::Tag));
        let refused = read("always").unwrap_err();
        assert_eq!(refused.field.as_deref(), Some("repair"), "{refused}");
    }

    #[test]
    fn the_estimate_of_an_entry_is_at_most_its_compact_descriptor() {
        let e = entry(&[("org.example.note", "per-entry")]);
        let descriptor = serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{}", "0".repeat(64)),
            "size": 1234,
            "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"},
            "annotations": {"org.example.note": "per-entry"},
        });

        let actual = serde_json::to_string(&descriptor).unwrap().len() + 1;

        assert!(entry_bytes(&e) <= actual, "{} > {actual}", entry_bytes(&e));
        assert!(
            entry_bytes(&e) + 40 > actual,
            "the estimate is close: {}",
            entry_bytes(&e)
        );
    }

    #[test]
    fn the_estimate_counts_list_and_entry_annotations() {
        let mut spec = ListSpec {
            image: Reference::parse("r.io/a:v1").unwrap(),
            more_targets: vec![],
            tags: vec![],
            annotations: BTreeMap::new(),
            manifests: vec![entry(&[])],
        };
        let bare = estimate_list_bytes(&spec);

        spec.annotations.insert("k".repeat(100), "v".repeat(100));
        spec.manifests[0].annotations.insert("a".into(), "b".into());

        assert!(estimate_list_bytes(&spec) >= bare + 200 + 2);
    }

    #[test]
    fn a_list_that_would_clearly_exceed_the_limit_is_refused() {
        let entries = MAX_LIST_BYTES / (DESCRIPTOR_BYTES + ARCH_OS_BYTES) + 1;
        let mut text = String::from("image: r.io/a:v1\nmanifests:\n");
        for i in 0..entries {
            text.push_str(&format!("- image: r.io/b:{i}\n"));
        }
        assert!(text.len() < MAX_LIST_BYTES);

        let Err(err) = from_yaml(&text) else {
            panic!("the spec is accepted")
        };

        assert_eq!(err.field.as_deref(), Some("manifests"), "{err}");
        assert_eq!((err.line, err.column), (Some(3), Some(1)));
        assert!(err.message.starts_with(TOO_LARGE), "{err}");
    }

    #[test]
    fn list_annotations_that_tip_the_list_over_the_limit_are_refused() {
        let entries = (MAX_LIST_BYTES / 4) / DESCRIPTOR_BYTES + 100;
        let mut text = format!(
            "image: r.io/a:v1\nannotations: {{big: '{}'}}\nmanifests:\n",
            "x".repeat(MAX_LIST_BYTES * 3 / 4)
        );
        for i in 0..entries {
            text.push_str(&format!("- image: r.io/b:{i}\n"));
        }
        assert!(text.len() < MAX_LIST_BYTES);

        let Err(err) = from_yaml(&text) else {
            panic!("the spec is accepted")
        };

        assert_eq!(err.field.as_deref(), Some("manifests"), "{err}");
        assert_eq!((err.line, err.column), (Some(1), Some(1)));
        assert!(err.message.starts_with(TOO_LARGE), "{err}");
    }
}

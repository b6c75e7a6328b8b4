//! What an inspection looks like as manifest-tool v2's `inspect --raw` JSON — a document of its
//! own shape, not the registry's bytes: for a list, its name, digest, schema version, media type
//! and annotations with every child's image manifest in full; for an image, its manifest with the
//! name, digest, `os` and `architecture` (from its config) in front; with `expand_config`, the
//! image config in place of the config descriptor. Fields are in manifest-tool's order, empty
//! optional ones left out as it leaves them out, indented by four spaces.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::error::EngineError;
use super::inspect::{ImageDetails, InspectEntry, Inspection};

impl Inspection {
    /// manifest-tool's `--raw` document of this inspection of `name`; with `expand_config` (the
    /// inspection must have been made with it) each image's config is shown in full. A list
    /// holding a list, or a child the registry does not have, cannot take that shape: an error.
    pub fn manifest_tool_json(
        &self,
        name: &str,
        expand_config: bool,
    ) -> Result<String, EngineError> {
        let document = match (&self.image, self.is_list) {
            (_, true) => self.list_document(name, expand_config)?,
            (Some(image), false) => image_document(self, name, image, expand_config)?,
            (None, false) => return Err(not_in_raw_form(name, "it is not an image manifest")),
        };
        let mut out = Vec::new();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
        document
            .serialize(&mut serializer)
            .map_err(|e| not_in_raw_form(name, &e.to_string()))?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    fn list_document(&self, name: &str, expand: bool) -> Result<serde_json::Value, EngineError> {
        let head: IndexHead = parse(name, &self.raw)?;
        let manifests = self
            .manifests
            .iter()
            .map(|entry| child_document(name, entry, expand))
            .collect::<Result<Vec<_>, _>>()?;
        to_value(
            name,
            &ListJson {
                name,
                digest: self.digest.to_string(),
                schema_version: head.schema_version,
                media_type: head.media_type,
                manifests: (!manifests.is_empty()).then_some(manifests),
                annotations: head.annotations,
            },
        )
    }
}

/// One child of a list: its image manifest, the config in full when expanded.
fn child_document(
    name: &str,
    entry: &InspectEntry,
    expand: bool,
) -> Result<serde_json::Value, EngineError> {
    let digest = &entry.descriptor.digest;
    let image = match (&entry.image, entry.missing) {
        (_, true) => {
            return Err(not_in_raw_form(
                name,
                &format!("the registry does not have its child {digest} (a sparse list)"),
            ));
        }
        (None, false) => {
            return Err(not_in_raw_form(
                name,
                &format!("its child {digest} is a list"),
            ));
        }
        (Some(image), false) => image,
    };
    let manifest: ManifestJson = parse(name, &entry.raw)?;
    let mut value = to_value(name, &manifest)?;
    if expand && let Some(config) = expanded(name, image)? {
        value["config"] = to_value(name, &config)?;
    }
    Ok(value)
}

/// A single image: manifest-tool's manifest with name, digest, os and architecture in front, or
/// with the config expanded, its other shape.
fn image_document(
    inspection: &Inspection,
    name: &str,
    image: &ImageDetails,
    expand: bool,
) -> Result<serde_json::Value, EngineError> {
    let manifest: ManifestJson = parse(name, &inspection.raw)?;
    let (os, architecture) = image
        .platform
        .as_ref()
        .map(|p| (p.os.clone(), p.architecture.clone()))
        .unwrap_or_default();
    let digest = inspection.digest.to_string();
    let config = if expand { expanded(name, image)? } else { None };
    match config {
        None => to_value(
            name,
            &ImageJson {
                name,
                digest,
                os,
                architecture,
                manifest,
            },
        ),
        Some(config) => to_value(
            name,
            &ImageConfigJson {
                schema_version: manifest.schema_version,
                name,
                digest,
                os,
                architecture,
                media_type: manifest.media_type,
                config,
                layers: manifest.layers,
                subject: manifest.subject,
                annotations: manifest.annotations,
            },
        ),
    }
}

/// The config document of `image` read into manifest-tool's shape of an image config, if the
/// inspection fetched it.
fn expanded(name: &str, image: &ImageDetails) -> Result<Option<ImageConfig>, EngineError> {
    image
        .config_document
        .clone()
        .map(|doc| from_value(name, doc))
        .transpose()
}

/// A document read into one of the shapes below.
fn parse<T: DeserializeOwned>(name: &str, bytes: &[u8]) -> Result<T, EngineError> {
    let value = serde_json::from_slice(bytes).map_err(|e| not_in_raw_form(name, &e.to_string()))?;
    from_value(name, value)
}

/// `value` read into one of the shapes below; a `null` counts as the field left out, as Go's
/// encoding/json (manifest-tool's) takes it: configs often say `"Cmd": null`.
fn from_value<T: DeserializeOwned>(name: &str, value: serde_json::Value) -> Result<T, EngineError> {
    serde_json::from_value(without_nulls(value)).map_err(|e| not_in_raw_form(name, &e.to_string()))
}

fn without_nulls(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(without_nulls).collect()),
        other => other,
    }
}

fn to_value(name: &str, value: &impl Serialize) -> Result<serde_json::Value, EngineError> {
    serde_json::to_value(value).map_err(|e| not_in_raw_form(name, &e.to_string()))
}

fn not_in_raw_form(name: &str, why: &str) -> EngineError {
    EngineError::Invalid(format!(
        "{name} cannot be shown in manifest-tool's --raw form: {why}; --raw-bytes prints what \
         the registry stored, --json the whole inspection"
    ))
}

/// The fields of a list's own document that the `--raw` form repeats.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IndexHead {
    #[serde(default)]
    schema_version: i64,
    #[serde(default)]
    media_type: String,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListJson<'a> {
    name: &'a str,
    digest: String,
    schema_version: i64,
    #[serde(skip_serializing_if = "String::is_empty")]
    media_type: String,
    /// `null` for a list of no entries, as manifest-tool prints it.
    manifests: Option<Vec<serde_json::Value>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct ImageJson<'a> {
    name: &'a str,
    digest: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    os: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    architecture: String,
    #[serde(flatten)]
    manifest: ManifestJson,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ImageConfigJson<'a> {
    schema_version: i64,
    name: &'a str,
    digest: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    os: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    architecture: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    media_type: String,
    config: ImageConfig,
    layers: Option<Vec<DescriptorJson>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<DescriptorJson>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

/// An image manifest as manifest-tool re-serialises it (OCI's fields, in their order).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ManifestJson {
    #[serde(default)]
    schema_version: i64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    media_type: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    artifact_type: String,
    config: DescriptorJson,
    #[serde(default)]
    layers: Option<Vec<DescriptorJson>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    subject: Option<DescriptorJson>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescriptorJson {
    #[serde(default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    size: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    urls: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    data: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    platform: Option<PlatformJson>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    artifact_type: String,
}

#[derive(Serialize, Deserialize)]
struct PlatformJson {
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    os: String,
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    os_version: String,
    #[serde(rename = "os.features", default, skip_serializing_if = "Vec::is_empty")]
    os_features: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    variant: String,
}

/// An image config as manifest-tool shows it expanded (OCI's fields; others left out).
#[derive(Serialize, Deserialize)]
struct ImageConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    created: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    author: String,
    #[serde(flatten)]
    platform: PlatformJson,
    #[serde(default)]
    config: RunConfig,
    #[serde(default)]
    rootfs: RootFs,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    history: Vec<History>,
}

/// Empty objects, as the values of `ExposedPorts` and `Volumes`.
#[derive(Default, Serialize, Deserialize)]
struct Empty {}

#[derive(Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RunConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    user: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    exposed_ports: BTreeMap<String, Empty>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    env: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    entrypoint: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    cmd: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    volumes: BTreeMap<String, Empty>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    working_dir: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    stop_signal: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    args_escaped: bool,
}

#[derive(Default, Serialize, Deserialize)]
struct RootFs {
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    diff_ids: Option<Vec<String>>,
}

#[derive(Serialize, Deserialize)]
struct History {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    created: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    created_by: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    author: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    comment: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    empty_layer: bool,
}

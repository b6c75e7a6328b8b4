//! Deterministic fixture images built in code: real gzip-compressed tar layers, a valid image
//! config and a Docker schema 2 or OCI manifest ([`ImageFixture`] → [`BuiltImage`]), and lists or
//! indexes over them, optionally with buildx-style attestation entries ([`IndexFixture`] →
//! [`BuiltIndex`]).
//!
//! Everything is a pure function of the builder's options: the same options give the same bytes
//! and digests; a different platform or [`ImageFixture::seed`] gives different ones.

use std::fmt;
use std::io::Write;

use flate2::{Compression, GzBuilder};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::media_types as mt;

mod index;

pub use index::{BuiltIndex, EntryKind, IndexEntry, IndexFixture};

/// Fixed timestamp used in tar headers (2024-01-01T00:00:00Z).
pub(crate) const FIXED_MTIME: u64 = 1_704_067_200;
/// The same instant for config `created` fields.
pub(crate) const FIXED_CREATED: &str = "2024-01-01T00:00:00Z";
/// Config label that carries the fixture's seed.
pub const SEED_LABEL: &str = "org.manifold.testkit.seed";

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Which family of media types an image or index uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// Docker schema 2 manifest / manifest list.
    Docker,
    /// OCI image manifest / image index.
    Oci,
}

impl Format {
    /// Media type of a single-image manifest in this format.
    pub fn manifest_media_type(self) -> &'static str {
        match self {
            Format::Docker => mt::DOCKER_MANIFEST,
            Format::Oci => mt::OCI_MANIFEST,
        }
    }

    /// Media type of a list / index in this format.
    pub fn index_media_type(self) -> &'static str {
        match self {
            Format::Docker => mt::DOCKER_LIST,
            Format::Oci => mt::OCI_INDEX,
        }
    }

    pub(crate) fn config_media_type(self) -> &'static str {
        match self {
            Format::Docker => mt::DOCKER_CONFIG,
            Format::Oci => mt::OCI_CONFIG,
        }
    }

    pub(crate) fn layer_media_type(self) -> &'static str {
        match self {
            Format::Docker => mt::DOCKER_LAYER,
            Format::Oci => mt::OCI_LAYER,
        }
    }
}

/// An image platform, as in an index descriptor or an image config.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Platform {
    /// `os`, e.g. `linux`.
    pub os: String,
    /// `architecture`, e.g. `amd64`.
    pub architecture: String,
    /// `variant`, e.g. `v7`.
    pub variant: Option<String>,
    /// `os.version`, e.g. `10.0.17763.1879` for Windows.
    pub os_version: Option<String>,
    /// `os.features`.
    pub os_features: Vec<String>,
}

impl Platform {
    /// A platform with no OS version or features.
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Self {
        Platform {
            os: os.to_owned(),
            architecture: architecture.to_owned(),
            variant: variant.map(str::to_owned),
            os_version: None,
            os_features: Vec::new(),
        }
    }

    /// `unknown/unknown`, the platform buildx gives attestation descriptors.
    pub fn unknown() -> Self {
        Platform::new("unknown", "unknown", None)
    }

    /// The descriptor `platform` object (keys in the OCI spec's order, absent ones left out).
    pub fn to_json(&self) -> Value {
        let mut p = Map::new();
        p.insert("architecture".into(), json!(self.architecture));
        p.insert("os".into(), json!(self.os));
        if let Some(v) = &self.os_version {
            p.insert("os.version".into(), json!(v));
        }
        if !self.os_features.is_empty() {
            p.insert("os.features".into(), json!(self.os_features));
        }
        if let Some(v) = &self.variant {
            p.insert("variant".into(), json!(v));
        }
        Value::Object(p)
    }

    /// Whether this platform is `os/architecture[/variant]` (variant compared only when given).
    pub fn matches(&self, os: &str, architecture: &str, variant: Option<&str>) -> bool {
        self.os == os
            && self.architecture == architecture
            && (variant.is_none() || self.variant.as_deref() == variant)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// One content-addressed blob: a config or a layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blob {
    /// Media type it is referenced with.
    pub media_type: String,
    /// `sha256:<hex>` of `data`.
    pub digest: String,
    /// The bytes.
    pub data: Vec<u8>,
}

impl Blob {
    /// A blob of these bytes.
    pub fn new(media_type: &str, data: Vec<u8>) -> Self {
        Blob {
            media_type: media_type.to_owned(),
            digest: sha256_digest(&data),
            data,
        }
    }

    /// Its size in bytes.
    pub fn size(&self) -> u64 {
        self.data.len() as u64
    }

    /// `{mediaType, digest, size}`.
    pub fn descriptor(&self) -> Value {
        json!({"mediaType": self.media_type, "digest": self.digest, "size": self.size()})
    }
}

/// Builder of one deterministic image. Defaults: 2 layers, Docker schema 2, seed 0, compact JSON.
#[derive(Clone, Debug)]
pub struct ImageFixture {
    platform: Platform,
    layers: usize,
    format: Format,
    seed: u64,
    pretty: bool,
    labels: Vec<(String, String)>,
    annotations: Vec<(String, String)>,
}

impl ImageFixture {
    /// An image for `os/arch[/variant]`.
    pub fn new(os: &str, arch: &str, variant: Option<&str>) -> Self {
        ImageFixture {
            platform: Platform::new(os, arch, variant),
            layers: 2,
            format: Format::Docker,
            seed: 0,
            pretty: false,
            labels: Vec::new(),
            annotations: Vec::new(),
        }
    }

    /// Adds a label to the config (`config.Labels`), as `LABEL` in a Dockerfile does.
    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.labels.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Adds an annotation to the manifest, as `buildx --annotation manifest:…` does.
    pub fn annotation(mut self, key: &str, value: &str) -> Self {
        self.annotations.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Number of layers (default 2; 0 is allowed).
    pub fn layers(mut self, n: usize) -> Self {
        self.layers = n;
        self
    }

    /// Use OCI media types.
    pub fn oci(mut self) -> Self {
        self.format = Format::Oci;
        self
    }

    /// Use Docker schema 2 media types (the default).
    pub fn docker(mut self) -> Self {
        self.format = Format::Docker;
        self
    }

    /// Use this format.
    pub fn format(mut self, format: Format) -> Self {
        self.format = format;
        self
    }

    /// Varies every layer and the config, so two fixtures of one platform differ.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets the config's `os.version`.
    pub fn os_version(mut self, version: &str) -> Self {
        self.platform.os_version = Some(version.to_owned());
        self
    }

    /// Sets the config's `os.features`.
    pub fn os_features(mut self, features: &[&str]) -> Self {
        self.platform.os_features = features.iter().map(|f| (*f).to_owned()).collect();
        self
    }

    /// Serialise the manifest indented instead of compact, so that a tool that re-serialises
    /// instead of keeping the exact bytes gets a different digest.
    pub fn pretty(mut self) -> Self {
        self.pretty = true;
        self
    }

    /// Builds layers, config and manifest.
    pub fn build(&self) -> BuiltImage {
        let p = &self.platform;
        let mut layers = Vec::with_capacity(self.layers);
        let mut diff_ids = Vec::with_capacity(self.layers);
        let mut history = Vec::with_capacity(self.layers);
        for index in 0..self.layers {
            let name = format!(
                "fixture/{}-{}-layer{index}.txt",
                p.to_string().replace('/', "-"),
                self.seed
            );
            let content = format!(
                "manifold-testkit fixture\nplatform={p}\nos.version={}\nseed={}\nlayer={index}\n",
                p.os_version.as_deref().unwrap_or(""),
                self.seed
            );
            let tar = tar_with_file(&name, content.as_bytes());
            diff_ids.push(sha256_digest(&tar));
            layers.push(Blob::new(self.format.layer_media_type(), gzip(&tar)));
            history.push(json!({
                "created": FIXED_CREATED,
                "created_by": format!("manifold-testkit: ADD {name}"),
            }));
        }

        let mut config = Map::new();
        config.insert("architecture".into(), json!(p.architecture));
        config.insert("os".into(), json!(p.os));
        if let Some(v) = &p.os_version {
            config.insert("os.version".into(), json!(v));
        }
        if !p.os_features.is_empty() {
            config.insert("os.features".into(), json!(p.os_features));
        }
        if let Some(v) = &p.variant {
            config.insert("variant".into(), json!(v));
        }
        config.insert("created".into(), json!(FIXED_CREATED));
        let mut labels = Map::new();
        labels.insert(SEED_LABEL.into(), json!(self.seed.to_string()));
        for (key, value) in &self.labels {
            labels.insert(key.clone(), json!(value));
        }
        config.insert("config".into(), json!({ "Labels": labels }));
        config.insert(
            "rootfs".into(),
            json!({"type": "layers", "diff_ids": diff_ids}),
        );
        config.insert("history".into(), Value::Array(history));
        let config = Blob::new(
            self.format.config_media_type(),
            serde_json::to_vec(&config).expect("config serialises"),
        );

        let mut manifest = manifest_json(self.format, &config, &layers, self.pretty);
        if !self.annotations.is_empty() {
            let mut value: Value = serde_json::from_slice(&manifest).expect("a manifest");
            let annotations: Map<String, Value> = self
                .annotations
                .iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect();
            value["annotations"] = Value::Object(annotations);
            manifest = to_bytes(&value, self.pretty);
        }
        BuiltImage {
            format: self.format,
            platform: p.clone(),
            media_type: self.format.manifest_media_type().to_owned(),
            manifest_digest: sha256_digest(&manifest),
            manifest,
            config,
            layers,
            diff_ids,
        }
    }
}

/// The `{schemaVersion, mediaType, config, layers}` manifest over these blobs.
pub(crate) fn manifest_json(
    format: Format,
    config: &Blob,
    layers: &[Blob],
    pretty: bool,
) -> Vec<u8> {
    let value = json!({
        "schemaVersion": 2,
        "mediaType": format.manifest_media_type(),
        "config": config.descriptor(),
        "layers": layers.iter().map(Blob::descriptor).collect::<Vec<_>>(),
    });
    to_bytes(&value, pretty)
}

fn to_bytes(value: &Value, pretty: bool) -> Vec<u8> {
    if pretty {
        serde_json::to_vec_pretty(value)
    } else {
        serde_json::to_vec(value)
    }
    .expect("JSON serialises")
}

/// A tar archive holding one regular file, with fixed mode, owner and mtime.
fn tar_with_file(path: &str, content: &[u8]) -> Vec<u8> {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(content.len() as u64);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(FIXED_MTIME);
    let mut builder = tar::Builder::new(Vec::new());
    builder
        .append_data(&mut header, path, content)
        .expect("in-memory tar");
    builder.into_inner().expect("in-memory tar")
}

/// gzip with a fixed header (no name, mtime 0).
pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), Compression::default());
    encoder.write_all(data).expect("in-memory gzip");
    encoder.finish().expect("in-memory gzip")
}

/// A built image: manifest bytes plus every blob it references.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuiltImage {
    /// Docker or OCI.
    pub format: Format,
    /// The platform written into the config.
    pub platform: Platform,
    /// The manifest's media type.
    pub media_type: String,
    /// The exact manifest bytes.
    pub manifest: Vec<u8>,
    /// `sha256:` of `manifest`.
    pub manifest_digest: String,
    /// The config blob.
    pub config: Blob,
    /// The layer blobs, gzip-compressed tars (for attestations: in-toto JSON).
    pub layers: Vec<Blob>,
    /// `rootfs.diff_ids`: digests of the uncompressed layers.
    pub diff_ids: Vec<String>,
}

impl BuiltImage {
    /// Size of the manifest in bytes.
    pub fn size(&self) -> u64 {
        self.manifest.len() as u64
    }

    /// Config first, then the layers.
    pub fn blobs(&self) -> impl Iterator<Item = &Blob> {
        std::iter::once(&self.config).chain(&self.layers)
    }

    /// `{mediaType, digest, size, platform}` for a list or index.
    pub fn descriptor(&self) -> Value {
        json!({
            "mediaType": self.media_type,
            "digest": self.manifest_digest,
            "size": self.size(),
            "platform": self.platform.to_json(),
        })
    }

    /// The config parsed as JSON.
    pub fn config_json(&self) -> Value {
        serde_json::from_slice(&self.config.data).expect("fixture config is JSON")
    }
}

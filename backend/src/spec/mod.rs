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
pub mod reference;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use error::SpecError;
pub use platform::{Platform, PlatformSpec};
pub use reference::Reference;

/// Largest list document a spec may produce, as distribution limits manifests to 4 MiB.
pub const MAX_LIST_BYTES: usize = 4 * 1024 * 1024;

/// A validated list spec: the target, its extra tags, annotations and the source images.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListSpec {
    /// The reference the list is pushed to (a tag; a digest reference is refused).
    pub image: Reference,
    /// Extra tags the same list is pushed under, in the target repository.
    pub tags: Vec<String>,
    /// Annotations of the list itself (OCI index only).
    pub annotations: BTreeMap<String, String>,
    /// The sources, in the order the list will hold them.
    pub manifests: Vec<SourceEntry>,
}

/// One source image of a list spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceEntry {
    /// Where the source lives (tag or digest reference).
    pub image: Reference,
    /// The platform the spec gives, normalised; fields left out are read from the image config.
    pub platform: Option<PlatformSpec>,
    /// Annotations of this entry's descriptor in the list.
    pub annotations: BTreeMap<String, String>,
}

/// The kind of list document to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum OutputType {
    /// Docker manifest list (schema 2).
    Docker,
    /// OCI image index.
    Oci,
    /// OCI when any child is OCI or any annotation is asked for, else Docker.
    #[default]
    Auto,
}

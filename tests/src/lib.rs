//! Integration-test harness for manifold, independent of the `manifold` crate: a real
//! `docker-registry` per test ([`registry`]), deterministic fixture images and indexes built in
//! code ([`fixtures`]), a raw-HTTP client to put them into the registry and read it back
//! ([`push`]), and `skopeo` as a second opinion ([`skopeo`]).

pub mod fixtures;
pub mod media_types;
pub mod push;
pub mod registry;
pub mod skopeo;

pub use fixtures::{
    Blob, BuiltImage, BuiltIndex, EntryKind, Format, ImageFixture, IndexEntry, IndexFixture,
    Platform, sha256_digest,
};
pub use push::{FetchedManifest, Pusher};
pub use registry::{RegistryAuth, RegistryBuilder, TestRegistry};
pub use skopeo::{run_skopeo, skopeo_inspect, skopeo_inspect_raw, skopeo_pick};

//! Integration-test harness for manifold, independent of the `manifold` crate: a real
//! `docker-registry` per test ([`registry`]), deterministic fixture images and indexes built in
//! code ([`fixtures`]), a raw-HTTP client to put them into the registry and read it back
//! ([`push`]), signatures and SBOMs attached to them ([`referrers`]), and `skopeo` as a second opinion ([`skopeo`]). For auth and TLS: a token server
//! for registries in token mode ([`token`], [`token_policy`], client side in [`bearer`]) and
//! certificates made with openssl ([`certs`]).

pub mod bearer;
pub mod certs;
pub mod fixtures;
pub mod media_types;
pub mod push;
pub mod referrers;
pub mod registry;
mod registry_process;
pub mod skopeo;
pub mod token;
mod token_http;
pub mod token_policy;

pub use bearer::{BearerChallenge, parse_bearer_challenge};
pub use certs::{SelfSignedCert, ServerCert, TestCa, TokenSigner, decode_jwt};
pub use fixtures::{
    Blob, BuiltImage, BuiltIndex, EntryKind, Format, ImageFixture, IndexEntry, IndexFixture,
    Platform, sha256_digest,
};
pub use push::{FetchedManifest, Pusher};
pub use registry::{RegistryAuth, RegistryBuilder, TestRegistry};
pub use skopeo::{run_skopeo, skopeo_inspect, skopeo_inspect_raw, skopeo_pick};
pub use token::{TokenRequest, TokenServer, TokenServerBuilder};
pub use token_policy::{Access, Grant, Subject, TokenPolicy};

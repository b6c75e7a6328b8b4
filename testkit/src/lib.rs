//! Integration-test harness for manifold, independent of the `manifold` crate: a real
//! `docker-registry` per test ([`registry`]), deterministic fixture images and indexes built in
//! code ([`fixtures`]), a raw-HTTP client to put them into the registry and read it back
//! ([`push`]), signatures and SBOMs attached to them ([`referrers`]), doubles of registries in the wild in front of a real one ([`quirks`], and behind a rate limit: [`rate_limit`]), and `skopeo` as a second opinion ([`skopeo`]). For auth and TLS: a local OIDC issuer for CI ID tokens ([`oidc`]), a token server
//! for registries in token mode ([`token`], [`token_policy`], client side in [`bearer`]) and
//! certificates made with openssl ([`certs`]). Real container engines — containerd with `ctr`,
//! dockerd and podman, qemu for foreign children — started once per test process ([`engines`]),
//! and the runnable busybox images they pull ([`busybox`], for the platforms of [`arches`]).

pub mod arches;
pub mod bearer;
pub mod busybox;
pub mod certs;
pub mod engines;
pub mod fixtures;
pub mod media_types;
pub mod oidc;
pub mod push;
pub mod quirks;
pub mod rate_limit;
pub mod referrers;
pub mod registry;
mod registry_process;
mod serve;
pub mod skopeo;
pub mod token;
mod token_http;
pub mod token_policy;

/// A reqwest client builder as the harness and the tests use it: no proxy, and rustls's ring
/// crypto provider installed for the process first (reqwest is built without a provider of its
/// own, as manifold is).
pub fn http_client() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().no_proxy()
}

/// Fills `bytes` from the system's random source.
pub(crate) fn random_fill(bytes: &mut [u8]) -> Result<(), ring::error::Unspecified> {
    use ring::rand::SecureRandom as _;
    ring::rand::SystemRandom::new().fill(bytes)
}

pub use arches::{ARCHES, Arch};
pub use bearer::{BearerChallenge, parse_bearer_challenge};
pub use busybox::BusyboxFixture;
pub use certs::{SelfSignedCert, ServerCert, TestCa, TokenSigner, decode_jwt};
pub use engines::{Engine, EngineKind, Engines, Pulled};
pub use fixtures::{
    Blob, BuiltImage, BuiltIndex, EntryKind, Format, ImageFixture, IndexEntry, IndexFixture,
    Platform, sha256_digest,
};
pub use oidc::OidcIssuer;
pub use push::{FetchedManifest, Pusher};
pub use quirks::{Profile, QuirkProxy};
pub use registry::{RegistryAuth, RegistryBuilder, TestRegistry};
pub use skopeo::{run_skopeo, skopeo_copy, skopeo_inspect, skopeo_inspect_raw, skopeo_pick};
pub use token::{TokenRequest, TokenServer, TokenServerBuilder};
pub use token_policy::{Access, Grant, Subject, TokenPolicy};

//! The registry client: talks the distribution API to any registry.
//!
//! Owns references' network side, authentication, transport (scheme, TLS, timeouts, retries) and the
//! single requests manifests and blobs need. It knows nothing of list specs or of how a push is
//! sequenced: that is `engine`'s job; of the crate it uses only `model`, `spec` and `retry`.
//!
//! Its modules import only downward, bottom first: `media` and `error` (types), `tls` (CA files,
//! pinning), `timing` (waits, idle timeouts), `transport` (HTTP plumbing), `auth` (credentials,
//! challenges, tokens), `config`, `throttle` (what an answer says of the rate) and `budget` (one
//! rate budget per registry host, shared by a factory's clients), `protocol` (the hosts spoken to over HTTP/1.1 since
//! one broke HTTP/2), `kept` (what answers taught of each host: no referrers API, mounts refused), `host` (per-registry state),
//! `request` (the one request loop), `client`, `ops` (the operations), `probe` (what `doctor`
//! asks besides), `referrers` (the tag and referrers listings) and `upload` (a blob's streamed, resumable copy).

pub mod auth;
mod budget;
pub mod client;
mod config;
pub mod error;
mod host;
pub mod kept;
pub mod media;
mod ops;
mod probe;
mod protocol;
mod referrers;
mod request;
mod small_blobs;
mod span;
mod throttle;
mod timing;
mod tls;
mod transport;
mod upload;

pub use auth::{Credentials, DockerConfig, Keychain, Secret};
pub use client::{ClientFactory, RegistryClient};
pub use config::{Allow, ClientConfig, DEFAULT_UPLOAD_CHUNK};
pub use error::RegistryError;
pub use kept::{Kept, KeptFacts};
pub use media::{Descriptor, ImageManifest, Manifest, ManifestBody};
pub use ops::Mount;
pub use probe::{AuthScheme, Ping};
pub use referrers::Listing;
pub use timing::Timeouts;
pub use tls::{crypto_provider, http_builder};
pub use transport::error_chain;
pub use upload::CopyError;

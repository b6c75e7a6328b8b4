//! The registry client: talks the distribution API to any registry.
//!
//! Owns references' network side, authentication, transport (scheme, TLS, timeouts, retries) and the
//! single requests manifests and blobs need. It knows nothing of list specs or of how a push is
//! sequenced: that is `assemble`'s job.

pub mod auth;
pub mod client;
pub mod credentials;
pub mod error;
pub mod media;
mod ops;
mod transport;

pub use auth::{Credentials, Secret};
pub use client::{Allow, ClientConfig, ClientFactory, RegistryClient};
pub use credentials::{DockerConfig, Keychain};
pub use error::RegistryError;
pub use media::{Descriptor, Manifest, ManifestBody};
pub use ops::Mount;
pub use transport::error_chain;

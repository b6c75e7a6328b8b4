//! The client's configuration: which registries it may contact and how it talks to them (scheme,
//! TLS, credentials, timeouts, concurrency, retries).
//!
//! Plain data and the decisions that follow from it alone; no per-registry state (that is `host`)
//! and no requests.

use std::path::PathBuf;
use std::time::Duration;

use super::auth::Keychain;
use super::transport::HttpOptions;
use crate::retry::RetryPolicy;
use crate::spec::reference::is_loopback_host;

/// Which registries a client may contact.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Allow {
    /// Any (the command line).
    #[default]
    Any,
    /// Only registries on loopback addresses.
    LoopbackOnly,
    /// Only these (`host[:port]` as written in references).
    Only(Vec<String>),
}

impl Allow {
    /// Whether `registry` may be contacted.
    pub fn allows(&self, registry: &str) -> bool {
        match self {
            Self::Any => true,
            Self::LoopbackOnly => is_loopback_host(registry),
            Self::Only(list) => list.iter().any(|r| r == registry),
        }
    }
}

/// Everything that decides how the client talks to registries.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Talk plain HTTP to every registry (manifest-tool's `--plain-http`).
    pub plain_http: bool,
    /// Skip TLS certificate verification (manifest-tool's `--insecure`).
    pub insecure_tls: bool,
    /// Registries reached over plain HTTP.
    pub insecure_registries: Vec<String>,
    /// Which registries the client may contact.
    pub allow: Allow,
    /// Extra CA certificates (PEM files) to trust.
    pub ca_certs: Vec<PathBuf>,
    /// Credentials.
    pub keychain: Keychain,
    /// Timeout of a whole request that has no streamed body.
    pub timeout: Duration,
    /// Timeout to establish a connection.
    pub connect_timeout: Duration,
    /// Requests in flight at once, across all registries.
    pub max_in_flight: usize,
    /// Retries of failed requests.
    pub retry: RetryPolicy,
    /// Host names resolved to fixed addresses instead of DNS (like curl's `--resolve`).
    pub resolve: Vec<(String, std::net::SocketAddr)>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            plain_http: false,
            insecure_tls: false,
            insecure_registries: Vec::new(),
            allow: Allow::Any,
            ca_certs: Vec::new(),
            keychain: Keychain::default(),
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            max_in_flight: 32,
            retry: RetryPolicy::default(),
            resolve: Vec::new(),
        }
    }
}

impl ClientConfig {
    /// Whether `registry` is talked to over plain HTTP from the start.
    pub(crate) fn is_plain_http(&self, registry: &str) -> bool {
        self.plain_http || self.insecure_registries.iter().any(|r| r == registry)
    }

    /// What the shared reqwest client is built from.
    pub(crate) fn http_options(&self) -> HttpOptions<'_> {
        HttpOptions {
            connect_timeout: self.connect_timeout,
            read_timeout: self.timeout,
            insecure_tls: self.insecure_tls,
            resolve: &self.resolve,
            ca_certs: &self.ca_certs,
        }
    }
}

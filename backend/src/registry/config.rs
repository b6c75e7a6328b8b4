//! The client's configuration: which registries it may contact and how it talks to them (scheme,
//! TLS, credentials, timeouts, concurrency, retries).
//!
//! Plain data and the decisions that follow from it alone; no per-registry state (that is `host`)
//! and no requests.

use std::path::PathBuf;

use super::auth::Keychain;
use super::timing::Timeouts;
use super::transport::{HttpOptions, Redirects};
use crate::model::reference::is_loopback_host;
use crate::retry::RetryPolicy;

/// Bytes a blob upload sends in one request, unless configured: 64 MiB.
pub const DEFAULT_UPLOAD_CHUNK: u64 = 64 * 1024 * 1024;

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

    /// Whether the host of `url` may be contacted: a registry of the list, or one of `extra`.
    pub(crate) fn allows_url(&self, url: &url::Url, extra: &[String]) -> bool {
        let Some(host) = url.host_str() else {
            return false;
        };
        let authority = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        let listed = |entry: &String| *entry == authority || *entry == host;
        extra.iter().any(listed)
            || match self {
                Self::Any => true,
                Self::LoopbackOnly => is_loopback_host(host),
                Self::Only(list) => list.iter().any(listed),
            }
    }
}

/// Which token realms a client may ask for tokens: on an allowed registry, or a token host.
#[derive(Debug, Clone, Default)]
pub(crate) struct Realms {
    allow: Allow,
    hosts: Vec<String>,
}

impl Realms {
    /// Whether `realm` may be asked.
    pub(crate) fn permit(&self, realm: &url::Url) -> bool {
        self.allow.allows_url(realm, &self.hosts)
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
    /// How long requests and transfers may take and wait.
    pub timeouts: Timeouts,
    /// Bytes a blob upload sends in one `PATCH`: an interrupted upload resumes after the last
    /// whole one, where the registry allows.
    pub upload_chunk: u64,
    /// Requests in flight at once, across all registries.
    pub max_in_flight: usize,
    /// Retries of failed requests.
    pub retry: RetryPolicy,
    /// Host names resolved to fixed addresses instead of DNS (like curl's `--resolve`).
    pub resolve: Vec<(String, std::net::SocketAddr)>,
    /// With an allow-list: hosts besides the registries that a registry may redirect a download
    /// to (object storage, a CDN). Credentials never go there.
    pub blob_hosts: Vec<String>,
    /// With an allow-list: hosts besides the registries that token realms may be on
    /// (`auth.docker.io` for Docker Hub).
    pub token_hosts: Vec<String>,
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
            timeouts: Timeouts::default(),
            upload_chunk: DEFAULT_UPLOAD_CHUNK,
            max_in_flight: 32,
            retry: RetryPolicy::default(),
            resolve: Vec::new(),
            blob_hosts: Vec::new(),
            token_hosts: Vec::new(),
        }
    }
}

impl ClientConfig {
    /// Whether `registry` is talked to over plain HTTP from the start.
    pub(crate) fn is_plain_http(&self, registry: &str) -> bool {
        self.plain_http || self.insecure_registries.iter().any(|r| r == registry)
    }

    /// Whether every request must stay within the allow-list (the service), rather than go
    /// wherever registries send it (the command line).
    pub(crate) fn confined(&self) -> bool {
        self.allow != Allow::Any
    }

    /// Which token realms may be asked for tokens.
    pub(crate) fn realms(&self) -> Realms {
        Realms {
            allow: self.allow.clone(),
            hosts: self.token_hosts.clone(),
        }
    }

    /// What the shared reqwest client is built from.
    pub(crate) fn http_options(&self) -> HttpOptions<'_> {
        HttpOptions {
            connect_timeout: self.timeouts.connect,
            insecure_tls: self.insecure_tls,
            resolve: &self.resolve,
            ca_certs: &self.ca_certs,
            redirects: if self.confined() {
                Redirects::SameOriginOr(self.blob_hosts.clone())
            } else {
                Redirects::Any
            },
            http1_only: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> url::Url {
        url::Url::parse(s).unwrap()
    }

    #[test]
    fn a_url_is_allowed_by_its_host_and_port_on_the_list_or_among_the_extra_hosts() {
        let only = Allow::Only(vec!["registry.example:5000".into(), "ghcr.io".into()]);
        assert!(only.allows_url(&url("https://registry.example:5000/v2/"), &[]));
        assert!(!only.allows_url(&url("https://registry.example:5001/v2/"), &[]));
        assert!(only.allows_url(&url("https://ghcr.io/token"), &[]));
        assert!(!only.allows_url(&url("https://auth.docker.io/token"), &[]));
        assert!(only.allows_url(
            &url("https://auth.docker.io/token"),
            &["auth.docker.io".into()]
        ));
        let local = Allow::LoopbackOnly;
        assert!(local.allows_url(&url("http://127.0.0.1:9/x"), &[]));
        assert!(local.allows_url(&url("http://[::1]:9/x"), &[]));
        assert!(!local.allows_url(&url("http://10.0.0.1/x"), &[]));
        assert!(Allow::Any.allows_url(&url("http://anywhere.example/"), &[]));
    }
}

//! The registry client: [`ClientFactory`] builds the HTTP client once, and each [`RegistryClient`]
//! it makes keeps its own per-registry state and request count.
//!
//! Owns the set of registries a client has talked to and the allow-list check; how a request is
//! sent is `request`'s, and the operations on manifests and blobs are `ops`'.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::budget::Budgets;
use super::config::ClientConfig;
use super::error::RegistryError;
use super::host::Host;
use super::kept::Kept;
use super::protocol::Http1Hosts;
use super::request::Requester;
use super::small_blobs::SmallBlobs;
use super::transport;

/// Makes registry clients that share one HTTP client (connections, TLS setup), one rate
/// budget per registry host and the hosts that broke HTTP/2, but each learn auth, cache tokens
/// and count requests on their own: the service makes one per push or inspect.
#[derive(Debug, Clone)]
pub struct ClientFactory {
    http: reqwest::Client,
    /// The HTTP/1.1-only client, for the hosts that broke HTTP/2.
    http1: reqwest::Client,
    config: ClientConfig,
    budgets: Arc<Budgets>,
    http1_hosts: Arc<Http1Hosts>,
    kept: Arc<Kept>,
}

impl ClientFactory {
    /// Builds the shared HTTP clients; fails only on an unreadable CA file.
    pub fn new(config: ClientConfig) -> Result<Self, RegistryError> {
        let mut options = config.http_options();
        let http = transport::build_http(&options)?;
        options.http1_only = true;
        let http1 = transport::build_http(&options)?;
        Ok(Self {
            http,
            http1,
            budgets: Arc::new(Budgets::new(config.max_in_flight)),
            http1_hosts: Arc::default(),
            kept: Arc::default(),
            config,
        })
    }

    /// What its clients learnt of each registry (no referrers API, mounts refused).
    pub fn kept(&self) -> &Kept {
        &self.kept
    }

    /// The registry hosts its clients speak HTTP/1.1 to because one broke an HTTP/2 stream.
    pub fn http1_hosts(&self) -> Vec<String> {
        self.http1_hosts.all()
    }

    /// Per registry host its clients talked to, the seconds their requests were held back
    /// because the registry limited the rate.
    pub fn throttled_seconds(&self) -> Vec<(String, f64)> {
        self.budgets.throttled()
    }

    /// A fresh client on the shared HTTP client.
    pub fn client(&self) -> RegistryClient {
        RegistryClient {
            requester: Requester::new(self.http.clone(), self.http1.clone(), &self.config),
            config: self.config.clone(),
            hosts: Mutex::new(HashMap::new()),
            small_blobs: SmallBlobs::default(),
            budgets: self.budgets.clone(),
            http1_hosts: self.http1_hosts.clone(),
            kept: self.kept.clone(),
        }
    }
}

/// A client for any number of registries. Cheap to share (`Arc`); safe to use concurrently.
pub struct RegistryClient {
    /// Sends its requests, and counts them.
    pub(crate) requester: Requester,
    /// How it talks to registries.
    pub(crate) config: ClientConfig,
    hosts: Mutex<HashMap<String, Arc<Host>>>,
    /// Small blobs read whole so far (configs), so that a copy need not read them again.
    pub(crate) small_blobs: SmallBlobs,
    /// The rate budgets it shares with the other clients of its factory.
    budgets: Arc<Budgets>,
    /// The hosts spoken to over HTTP/1.1, shared with the other clients of its factory.
    http1_hosts: Arc<Http1Hosts>,
    /// What it and the other clients of its factory learnt of each registry.
    kept: Arc<Kept>,
}

impl RegistryClient {
    /// Builds a client; fails only on an unreadable CA file.
    pub fn new(config: ClientConfig) -> Result<Self, RegistryError> {
        Ok(ClientFactory::new(config)?.client())
    }

    /// What it and the other clients of its factory learnt of each registry.
    pub fn kept(&self) -> &Kept {
        &self.kept
    }

    /// HTTP requests sent so far (token requests and retries included).
    pub fn requests(&self) -> u64 {
        self.requester.sent()
    }

    /// The state of one registry, created on first use. Refuses registries off the allow-list.
    pub(crate) fn host(&self, registry: &str) -> Result<Arc<Host>, RegistryError> {
        if !self.config.allow.allows(registry) {
            return Err(RegistryError::Config(format!(
                "registry {registry} is not on this service's list of allowed registries"
            )));
        }
        let mut hosts = self.hosts.lock().expect("lock");
        let host = hosts.entry(registry.to_owned()).or_insert_with(|| {
            let budget = self.budgets.of(registry);
            Arc::new(Host::new(
                registry,
                &self.config,
                budget,
                self.http1_hosts.clone(),
            ))
        });
        Ok(host.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::config::Allow;

    #[test]
    fn a_registry_off_the_allow_list_is_refused_before_any_request() {
        let client = RegistryClient::new(ClientConfig {
            allow: Allow::LoopbackOnly,
            ..ClientConfig::default()
        })
        .unwrap();
        let refused = client.host("registry.example").err().unwrap();
        assert!(
            refused.to_string().contains("not on this service's list"),
            "{refused}"
        );
        let local = client.host("127.0.0.1:5000").unwrap();
        assert!(Arc::ptr_eq(&local, &client.host("127.0.0.1:5000").unwrap()));
        assert_eq!(client.requests(), 0);
    }
}

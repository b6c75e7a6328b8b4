//! What the client knows about one registry: its scheme (and whether a loopback one may move to
//! HTTPS), the auth mode learnt from its challenges, its cached tokens and its credentials — and,
//! from those, the `Authorization` header of a request.
//!
//! Owns the per-registry state and the decisions on it; it does not send registry requests (that is
//! `request`), and the only request it makes itself is the token call, through `auth`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::MutexGuard;

use super::auth::{Challenge, Credentials, Scope, Token, fetch_token, scope_key};
use super::budget::Budget;
use super::config::{ClientConfig, Realms};
use super::error::RegistryError;
use super::protocol::Http1Hosts;
use super::timing::Silence;
use super::transport::{Peer, Wire};
use crate::model::reference::{DOCKER_HUB, DOCKER_HUB_API, is_loopback_host};
use crate::retry::RetryPolicy;

/// What a registry has told us about how it authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AuthMode {
    /// Nothing yet: no answer has come back.
    Unknown,
    /// It answered without asking for credentials.
    Anonymous,
    /// It asked for Basic auth (and we have credentials).
    Basic,
    /// It asked for a bearer token from this realm.
    Bearer {
        /// Where tokens are issued.
        realm: String,
        /// The `service` parameter to send back.
        service: Option<String>,
    },
}

/// One bearer token slot per scope set, locked while its token is fetched.
type TokenSlot = Arc<tokio::sync::Mutex<Option<Token>>>;

/// What the client knows about one registry.
pub(crate) struct Host {
    /// The registry as written in references.
    pub(crate) registry: String,
    /// Where its API answers (`registry-1.docker.io` for Docker Hub).
    pub(crate) api_host: String,
    https: Mutex<bool>,
    /// A loopback registry starts on HTTP and moves to HTTPS if it answers as a TLS server.
    may_upgrade: bool,
    auth: Mutex<AuthMode>,
    /// Held while the first request learns the auth mode, so others don't all get a 401.
    probe: tokio::sync::Mutex<()>,
    tokens: Mutex<HashMap<String, TokenSlot>>,
    /// The credentials the keychain holds for it.
    pub(crate) credentials: Option<Credentials>,
    /// Which token realms it may send us to.
    realms: Realms,
    /// Whether CA files were configured.
    ca_given: bool,
    /// Since when it has left requests unanswered.
    pub(crate) silence: Silence,
    /// Its rate budget, shared with every other client of the same factory.
    pub(crate) budget: Arc<Budget>,
    /// The hosts spoken to over HTTP/1.1, shared with every other client of the same factory.
    http1_hosts: Arc<Http1Hosts>,
}

impl Host {
    /// A registry not yet talked to: HTTPS unless configured plain or on loopback (which starts on
    /// HTTP and may upgrade), auth mode unknown, credentials from the keychain; requests within
    /// `budget`, over HTTP/1.1 once it is among `http1_hosts`.
    pub(crate) fn new(
        registry: &str,
        config: &ClientConfig,
        budget: Arc<Budget>,
        http1_hosts: Arc<Http1Hosts>,
    ) -> Self {
        let api_host = if registry == DOCKER_HUB {
            DOCKER_HUB_API.to_owned()
        } else {
            registry.to_owned()
        };
        let plain = config.is_plain_http(registry);
        let loopback = is_loopback_host(registry);
        Self {
            registry: registry.to_owned(),
            api_host,
            https: Mutex::new(!(plain || loopback)),
            may_upgrade: loopback && !plain,
            auth: Mutex::new(AuthMode::Unknown),
            probe: tokio::sync::Mutex::new(()),
            tokens: Mutex::new(HashMap::new()),
            credentials: config.keychain.get(registry),
            realms: config.realms(),
            ca_given: !config.ca_certs.is_empty(),
            silence: Silence::default(),
            budget,
            http1_hosts,
        }
    }

    /// Whether it is spoken to over HTTP/1.1 only (it broke an HTTP/2 stream).
    pub(crate) fn speaks_http1(&self) -> bool {
        self.http1_hosts.contains(&self.registry)
    }

    /// It broke an HTTP/2 stream: spoken to over HTTP/1.1 from now on, by every client of the
    /// factory; logged the first time.
    pub(crate) fn fall_back_to_http1(&self, why: &str) {
        if self.http1_hosts.insert(&self.registry) {
            tracing::warn!(
                "{} broke an HTTP/2 stream ({why}); speaking HTTP/1.1 to it from now on",
                self.registry
            );
        }
    }

    /// `scheme://api_host`, the base of request URLs.
    pub(crate) fn base_url(&self) -> String {
        let scheme = if self.is_https() { "https" } else { "http" };
        format!("{scheme}://{}", self.api_host)
    }

    /// Whether requests go over HTTPS.
    pub(crate) fn is_https(&self) -> bool {
        *self.https.lock().expect("lock")
    }

    /// The plain facts transport errors need.
    pub(crate) fn peer(&self) -> Peer<'_> {
        Peer {
            registry: &self.registry,
            api_host: &self.api_host,
            https: self.is_https(),
            ca_given: self.ca_given,
        }
    }

    /// Moves a loopback registry that answered as an HTTPS server to HTTPS; false (and nothing
    /// changes) for any other registry.
    pub(crate) fn upgrade_to_https(&self) -> bool {
        if self.may_upgrade {
            *self.https.lock().expect("lock") = true;
        }
        self.may_upgrade
    }

    /// What is known of how the registry authenticates, now.
    pub(crate) fn auth_mode(&self) -> AuthMode {
        self.auth.lock().expect("lock").clone()
    }

    /// While the auth mode is unknown, waits for and holds the probe: the first request learns the
    /// mode while the others wait, so that they don't all get a 401.
    pub(crate) async fn probe(&self) -> Option<MutexGuard<'_, ()>> {
        if self.auth_mode() == AuthMode::Unknown {
            Some(self.probe.lock().await)
        } else {
            None
        }
    }

    /// Records an answer that was not a challenge to a request sent with `sent`: a registry that
    /// answers before it was known to want auth wants none.
    pub(crate) fn answered(&self, sent: &AuthMode) {
        if *sent == AuthMode::Unknown {
            *self.auth.lock().expect("lock") = AuthMode::Anonymous;
        }
    }

    /// Updates what we know from a 401's challenges to a request sent with `sent`; true when
    /// sending it again may now succeed. Bearer is preferred when a registry offers both; a refused
    /// token is dropped and tried again only if the registry named an error (expired, revoked).
    pub(crate) fn learn(
        &self,
        sent: &AuthMode,
        challenges: &[Challenge],
        scopes: &[Scope],
    ) -> bool {
        let mut mode = self.auth.lock().expect("lock");
        let bearer = challenges.iter().find_map(|c| match c {
            Challenge::Bearer {
                realm,
                service,
                error,
                ..
            } => Some((realm, service, error)),
            Challenge::Basic => None,
        });
        if let Some((realm, service, error)) = bearer {
            let new = AuthMode::Bearer {
                realm: realm.clone(),
                service: service.clone(),
            };
            if *sent == new {
                // We sent a token and it was refused: drop it and try once with a fresh one, but
                // only if the registry named an error (an expired or revoked token).
                if error.is_none() {
                    return false;
                }
                self.tokens.lock().expect("lock").remove(&scope_key(scopes));
            }
            *mode = new;
            return true;
        }
        if challenges.contains(&Challenge::Basic)
            && *sent != AuthMode::Basic
            && self.credentials.is_some()
        {
            *mode = AuthMode::Basic;
            return true;
        }
        false
    }

    /// Refuses a token realm on a host the client may not contact.
    fn check_realm(&self, realm: &str) -> Result<(), RegistryError> {
        match url::Url::parse(realm) {
            Ok(url) if !self.realms.permit(&url) => Err(RegistryError::Config(format!(
                "{} sends for tokens to {}, a host this service may not contact; allow it with \
                 MANIFOLD_TOKEN_HOSTS",
                self.registry,
                url.origin().ascii_serialization()
            ))),
            _ => Ok(()),
        }
    }

    /// The `Authorization` value for a request under `mode`, fetching a token through `wire` if
    /// none is cached for `scopes` (asking the realm again under `retry` while it may pass).
    pub(crate) async fn authorization(
        &self,
        wire: &Wire,
        retry: &RetryPolicy,
        mode: &AuthMode,
        scopes: &[Scope],
    ) -> Result<Option<String>, RegistryError> {
        match mode {
            AuthMode::Unknown | AuthMode::Anonymous => Ok(None),
            AuthMode::Basic => Ok(self
                .credentials
                .as_ref()
                .and_then(Credentials::basic_header)),
            AuthMode::Bearer { realm, service } => {
                let slot = self
                    .tokens
                    .lock()
                    .expect("lock")
                    .entry(scope_key(scopes))
                    .or_default()
                    .clone();
                let mut slot = slot.lock().await;
                if let Some(token) = slot.as_ref().filter(|t| t.is_fresh()) {
                    return Ok(Some(format!("Bearer {}", token.value.expose())));
                }
                self.check_realm(realm)?;
                let token = fetch_token(
                    wire,
                    retry,
                    self.peer(),
                    self.credentials.as_ref(),
                    realm,
                    service.as_deref(),
                    scopes,
                )
                .await?;
                let header = format!("Bearer {}", token.value.expose());
                *slot = Some(token);
                Ok(Some(header))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::registry::auth::Keychain;
    use crate::registry::budget::Budgets;

    fn host(registry: &str, credentials: Option<Credentials>) -> Host {
        let config = ClientConfig {
            keychain: Keychain {
                default: credentials,
                per_registry: HashMap::new(),
                docker: None,
            },
            ..ClientConfig::default()
        };
        Host::new(
            registry,
            &config,
            Budgets::new(1).of(registry),
            Arc::default(),
        )
    }

    fn bearer(error: Option<&str>) -> Challenge {
        Challenge::Bearer {
            realm: "https://auth.example/token".into(),
            service: Some("registry.example".into()),
            scope: None,
            error: error.map(str::to_owned),
        }
    }

    fn bearer_mode() -> AuthMode {
        AuthMode::Bearer {
            realm: "https://auth.example/token".into(),
            service: Some("registry.example".into()),
        }
    }

    #[test]
    fn a_remote_registry_starts_on_https_and_a_loopback_one_on_http_that_may_upgrade() {
        let remote = host("registry.example", None);
        assert_eq!(remote.base_url(), "https://registry.example");
        assert!(!remote.upgrade_to_https());
        let hub = host(DOCKER_HUB, None);
        assert_eq!(hub.base_url(), format!("https://{DOCKER_HUB_API}"));
        let local = host("127.0.0.1:5000", None);
        assert_eq!(local.base_url(), "http://127.0.0.1:5000");
        assert!(local.upgrade_to_https());
        assert!(local.peer().https);
        let plain = Host::new(
            "127.0.0.1:5000",
            &ClientConfig {
                plain_http: true,
                ..ClientConfig::default()
            },
            Budgets::new(1).of("127.0.0.1:5000"),
            Arc::default(),
        );
        assert!(!plain.upgrade_to_https());
        assert!(!plain.is_https());
    }

    #[test]
    fn bearer_is_preferred_and_a_refused_token_is_retried_only_when_the_registry_says_why() {
        let h = host("registry.example", Some(Credentials::basic("a", "b")));
        let offered = [Challenge::Basic, bearer(None)];
        assert!(h.learn(&AuthMode::Unknown, &offered, &[]));
        assert_eq!(h.auth_mode(), bearer_mode());
        assert!(
            !h.learn(&bearer_mode(), &[bearer(None)], &[]),
            "the same realm again, without an error: nothing new to try"
        );
        assert!(h.learn(&bearer_mode(), &[bearer(Some("invalid_token"))], &[]));
    }

    #[test]
    fn basic_is_learnt_only_with_credentials_and_only_once() {
        let anonymous = host("registry.example", None);
        assert!(!anonymous.learn(&AuthMode::Unknown, &[Challenge::Basic], &[]));
        assert_eq!(anonymous.auth_mode(), AuthMode::Unknown);
        let h = host("registry.example", Some(Credentials::basic("a", "b")));
        assert!(h.learn(&AuthMode::Unknown, &[Challenge::Basic], &[]));
        assert_eq!(h.auth_mode(), AuthMode::Basic);
        assert!(!h.learn(&AuthMode::Basic, &[Challenge::Basic], &[]));
    }

    #[test]
    fn an_answer_without_a_challenge_makes_an_unknown_registry_anonymous() {
        let h = host("registry.example", None);
        h.answered(&AuthMode::Unknown);
        assert_eq!(h.auth_mode(), AuthMode::Anonymous);
        let h = host("registry.example", Some(Credentials::basic("a", "b")));
        assert!(h.learn(&AuthMode::Unknown, &[Challenge::Basic], &[]));
        h.answered(&AuthMode::Basic);
        assert_eq!(h.auth_mode(), AuthMode::Basic);
    }

    #[tokio::test]
    async fn no_authorization_is_sent_before_a_challenge_and_basic_after_one() {
        let h = host(
            "registry.example",
            Some(Credentials::basic("alice", "hunter2")),
        );
        let http = crate::registry::http_builder().build().unwrap();
        let wire = Wire::new(http, crate::registry::Timeouts::default());
        let retry = RetryPolicy::default();
        assert_eq!(
            h.authorization(&wire, &retry, &AuthMode::Unknown, &[])
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            h.authorization(&wire, &retry, &AuthMode::Basic, &[])
                .await
                .unwrap(),
            Some("Basic YWxpY2U6aHVudGVyMg==".to_owned())
        );
        assert_eq!(wire.sent(), 0);
        assert!(h.probe().await.is_some(), "an unknown registry is probed");
        h.answered(&AuthMode::Unknown);
        assert!(h.probe().await.is_none());
    }
}

//! The client's configuration, per-registry state and the one request loop every call goes through:
//! allow-list, scheme, authentication (anonymous, Basic, Bearer), bounded concurrency, retries.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderMap, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};
use tokio::sync::Semaphore;

use super::auth::{Challenge, Credentials, Scope, Token, scope_key};
use super::credentials::Keychain;
use super::error::RegistryError;
use super::transport::{self, Body};
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

/// What a registry has told us about how it authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
enum AuthMode {
    Unknown,
    Anonymous,
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

/// What the client knows about one registry.
pub(crate) struct Host {
    pub(crate) registry: String,
    pub(crate) api_host: String,
    https: Mutex<bool>,
    /// A loopback registry starts on HTTP and moves to HTTPS if it answers as a TLS server.
    may_upgrade: bool,
    auth: Mutex<AuthMode>,
    /// Held while the first request learns the auth mode, so others don't all get a 401.
    probe: tokio::sync::Mutex<()>,
    tokens: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Token>>>>>,
    pub(crate) credentials: Option<Credentials>,
}

impl Host {
    pub(crate) fn base_url(&self) -> String {
        let scheme = if *self.https.lock().expect("lock") {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.api_host)
    }

    pub(crate) fn is_https(&self) -> bool {
        *self.https.lock().expect("lock")
    }
}

/// A request as the loop sends it.
pub(crate) struct Request {
    pub method: Method,
    /// `/v2/...` or an upload `Location` (absolute or relative).
    pub target: String,
    pub headers: HeaderMap,
    pub body: Body,
    pub scopes: Vec<Scope>,
    /// Says what is being done, in errors (`GET manifest reg/repo:tag`).
    pub operation: String,
    /// A streamed transfer: no whole-request timeout.
    pub streaming: bool,
}

/// Makes registry clients that share one HTTP client (connections, TLS setup) but each learn
/// auth, cache tokens and count requests on their own: the service makes one per push or inspect.
#[derive(Debug, Clone)]
pub struct ClientFactory {
    http: reqwest::Client,
    config: ClientConfig,
}

impl ClientFactory {
    /// Builds the shared HTTP client; fails only on an unreadable CA file.
    pub fn new(config: ClientConfig) -> Result<Self, RegistryError> {
        Ok(Self {
            http: transport::build_http(&config)?,
            config,
        })
    }

    /// A fresh client on the shared HTTP client.
    pub fn client(&self) -> RegistryClient {
        RegistryClient {
            http: self.http.clone(),
            limit: Semaphore::new(self.config.max_in_flight.max(1)),
            config: self.config.clone(),
            hosts: Mutex::new(HashMap::new()),
            requests: AtomicU64::new(0),
        }
    }
}

/// A client for any number of registries. Cheap to share (`Arc`); safe to use concurrently.
pub struct RegistryClient {
    pub(crate) http: reqwest::Client,
    pub(crate) config: ClientConfig,
    hosts: Mutex<HashMap<String, Arc<Host>>>,
    requests: AtomicU64,
    limit: Semaphore,
}

impl RegistryClient {
    /// Builds a client; fails only on an unreadable CA file.
    pub fn new(config: ClientConfig) -> Result<Self, RegistryError> {
        Ok(ClientFactory::new(config)?.client())
    }

    /// HTTP requests sent so far (token requests and retries included).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
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
            let api_host = if registry == crate::spec::reference::DOCKER_HUB {
                crate::spec::reference::DOCKER_HUB_API.to_owned()
            } else {
                registry.to_owned()
            };
            let plain = self.config.plain_http
                || self
                    .config
                    .insecure_registries
                    .iter()
                    .any(|r| r == registry);
            let loopback = is_loopback_host(registry);
            Arc::new(Host {
                registry: registry.to_owned(),
                api_host,
                https: Mutex::new(!(plain || loopback)),
                may_upgrade: loopback && !plain,
                auth: Mutex::new(AuthMode::Unknown),
                probe: tokio::sync::Mutex::new(()),
                tokens: Mutex::new(HashMap::new()),
                credentials: self.config.keychain.get(registry),
            })
        });
        Ok(host.clone())
    }

    /// Sends a request to a registry, handling auth challenges, scheme upgrade and retries.
    /// Returns the response when its status is a success; any other status becomes an error.
    pub(crate) async fn send(
        &self,
        host: &Host,
        mut req: Request,
    ) -> Result<reqwest::Response, RegistryError> {
        let mut attempt = 1;
        let mut auth_retried = false;
        loop {
            let mode = host.auth.lock().expect("lock").clone();
            let _probe = if mode == AuthMode::Unknown {
                Some(host.probe.lock().await)
            } else {
                None
            };
            let mode = host.auth.lock().expect("lock").clone();
            let url = transport::resolve_url(&host.base_url(), &req.target);
            let same_host = transport::same_authority(&url, &host.base_url());
            let mut builder = self.http.request(req.method.clone(), &url);
            builder = builder.headers(req.headers.clone());
            if !req.streaming {
                builder = builder.timeout(self.config.timeout);
            }
            if same_host && let Some(value) = self.authorization(host, &mode, &req.scopes).await? {
                builder = builder.header(AUTHORIZATION, value);
            }
            let replayable = req.body.is_replayable();
            builder = req.body.attach(builder);
            let result = {
                let _permit = self.limit.acquire().await.expect("semaphore open");
                self.requests.fetch_add(1, Ordering::Relaxed);
                builder.send().await
            };
            let response = match result {
                Ok(r) => r,
                Err(e) => {
                    let err = transport::transport_error(&req.operation, host, &e);
                    if err.is_retryable() && replayable && attempt < self.config.retry.max_attempts
                    {
                        tracing::warn!("retrying (attempt {attempt}) after: {err}");
                        tokio::time::sleep(self.config.retry.delay(attempt)).await;
                        attempt += 1;
                        continue;
                    }
                    return Err(err.after_attempts(attempt));
                }
            };
            let status = response.status();
            tracing::debug!(method = %req.method, url = %url, status = status.as_u16(), "registry request");
            if status == StatusCode::UNAUTHORIZED && same_host {
                let challenges = response
                    .headers()
                    .get_all(WWW_AUTHENTICATE)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .flat_map(super::auth::parse_challenges)
                    .collect::<Vec<_>>();
                if !auth_retried && replayable && self.learn(host, &mode, &challenges, &req.scopes)
                {
                    auth_retried = true;
                    continue;
                }
                let mut err = transport::api_error(&req.operation, response).await;
                if let Some(scope) = insufficient_scope(&challenges)
                    && let RegistryError::Api { errors, .. } = &mut err
                {
                    errors.insert(
                        0,
                        super::error::ApiErrorDetail {
                            code: "INSUFFICIENT_SCOPE".to_owned(),
                            message: format!("the credentials do not grant {scope}"),
                            detail: serde_json::Value::Null,
                        },
                    );
                }
                return Err(err);
            }
            if mode == AuthMode::Unknown {
                *host.auth.lock().expect("lock") = AuthMode::Anonymous;
            }
            // The scheme this request went out with: another request may have upgraded the host
            // to HTTPS since.
            if status == StatusCode::BAD_REQUEST && url.starts_with("http://") {
                let text = response.text().await.unwrap_or_default();
                if text.contains("HTTP request to an HTTPS server") {
                    if host.may_upgrade && replayable {
                        *host.https.lock().expect("lock") = true;
                        continue;
                    }
                    return Err(RegistryError::Transport {
                        operation: req.operation.clone(),
                        message: format!(
                            "{} speaks HTTPS, but was asked over plain HTTP; drop --plain-http \
                             (or take it off the insecure registries)",
                            host.registry
                        ),
                        timeout: false,
                        permanent: true,
                    });
                }
                return Err(transport::api_error_from_text(
                    &req.operation,
                    400,
                    &text,
                    None,
                ));
            }
            if status.is_success() || status.is_redirection() {
                return Ok(response);
            }
            let err = transport::api_error(&req.operation, response).await;
            if err.is_retryable() && replayable && attempt < self.config.retry.max_attempts {
                let delay = match &err {
                    RegistryError::Api {
                        retry_after: Some(secs),
                        ..
                    } => Duration::from_secs(*secs).min(self.config.retry.max_delay),
                    _ => self.config.retry.delay(attempt),
                };
                tracing::warn!("retrying in {delay:?} (attempt {attempt}) after: {err}");
                tokio::time::sleep(delay).await;
                attempt += 1;
                continue;
            }
            return Err(err.after_attempts(attempt));
        }
    }

    /// Updates what we know from a 401's challenges; true when a retry may now succeed.
    fn learn(
        &self,
        host: &Host,
        sent: &AuthMode,
        challenges: &[Challenge],
        scopes: &[Scope],
    ) -> bool {
        let mut mode = host.auth.lock().expect("lock");
        // Bearer is preferred when a registry offers both.
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
                host.tokens.lock().expect("lock").remove(&scope_key(scopes));
            }
            *mode = new;
            return true;
        }
        if challenges.contains(&Challenge::Basic)
            && *sent != AuthMode::Basic
            && host.credentials.is_some()
        {
            *mode = AuthMode::Basic;
            return true;
        }
        false
    }

    /// The `Authorization` value for a request, fetching a token if needed.
    async fn authorization(
        &self,
        host: &Host,
        mode: &AuthMode,
        scopes: &[Scope],
    ) -> Result<Option<String>, RegistryError> {
        match mode {
            AuthMode::Unknown | AuthMode::Anonymous => Ok(None),
            AuthMode::Basic => Ok(host
                .credentials
                .as_ref()
                .and_then(Credentials::basic_header)),
            AuthMode::Bearer { realm, service } => {
                let key = scope_key(scopes);
                let slot = host
                    .tokens
                    .lock()
                    .expect("lock")
                    .entry(key)
                    .or_default()
                    .clone();
                let mut slot = slot.lock().await;
                if let Some(token) = slot.as_ref().filter(|t| t.is_fresh()) {
                    return Ok(Some(format!("Bearer {}", token.value.expose())));
                }
                let token = self
                    .fetch_token(host, realm, service.as_deref(), scopes)
                    .await?;
                let header = format!("Bearer {}", token.value.expose());
                *slot = Some(token);
                Ok(Some(header))
            }
        }
    }

    /// Asks a token realm for a token covering `scopes`.
    async fn fetch_token(
        &self,
        host: &Host,
        realm: &str,
        service: Option<&str>,
        scopes: &[Scope],
    ) -> Result<Token, RegistryError> {
        let operation = format!("get a token for {} from {realm}", host.registry);
        transport::fetch_token(
            &self.http,
            host,
            realm,
            service,
            scopes,
            &operation,
            &self.requests,
        )
        .await
    }
}

/// The scope a registry said our token lacks (`error="insufficient_scope"`), if it did.
fn insufficient_scope(challenges: &[Challenge]) -> Option<String> {
    challenges.iter().find_map(|c| match c {
        Challenge::Bearer {
            error: Some(error),
            scope,
            ..
        } if error == "insufficient_scope" => Some(
            scope
                .clone()
                .unwrap_or_else(|| "the access asked for".to_owned()),
        ),
        _ => None,
    })
}

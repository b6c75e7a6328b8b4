//! The client's configuration, per-registry state and the one request loop every call goes through:
//! allow-list, scheme, authentication (anonymous, Basic, Bearer), bounded concurrency, retries.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderMap};
use reqwest::{Method, StatusCode};
use tokio::sync::Semaphore;

use super::auth::{
    Challenge, Credentials, Scope, Token, challenges, fetch_token, insufficient_scope, scope_key,
};
use super::config::ClientConfig;
use super::error::RegistryError;
use super::transport::{self, Body, Peer, Wire};
use crate::spec::reference::is_loopback_host;

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

    /// The plain facts transport errors need.
    pub(crate) fn peer(&self) -> Peer<'_> {
        Peer {
            registry: &self.registry,
            api_host: &self.api_host,
            https: self.is_https(),
        }
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
            http: transport::build_http(&config.http_options())?,
            config,
        })
    }

    /// A fresh client on the shared HTTP client.
    pub fn client(&self) -> RegistryClient {
        RegistryClient {
            wire: Wire::new(self.http.clone()),
            limit: Semaphore::new(self.config.max_in_flight.max(1)),
            config: self.config.clone(),
            hosts: Mutex::new(HashMap::new()),
        }
    }
}

/// A client for any number of registries. Cheap to share (`Arc`); safe to use concurrently.
pub struct RegistryClient {
    wire: Wire,
    pub(crate) config: ClientConfig,
    hosts: Mutex<HashMap<String, Arc<Host>>>,
    limit: Semaphore,
}

impl RegistryClient {
    /// Builds a client; fails only on an unreadable CA file.
    pub fn new(config: ClientConfig) -> Result<Self, RegistryError> {
        Ok(ClientFactory::new(config)?.client())
    }

    /// HTTP requests sent so far (token requests and retries included).
    pub fn requests(&self) -> u64 {
        self.wire.sent()
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
            let plain = self.config.is_plain_http(registry);
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
            let mut builder = self.wire.request(req.method.clone(), &url);
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
                self.wire.send(builder).await
            };
            let response = match result {
                Ok(r) => r,
                Err(e) => {
                    let err = transport::transport_error(&req.operation, host.peer(), &e);
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
                let challenges = challenges(response.headers());
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
            if status == StatusCode::BAD_REQUEST && !host.is_https() {
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
                let token = fetch_token(
                    &self.wire,
                    host.peer(),
                    host.credentials.as_ref(),
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

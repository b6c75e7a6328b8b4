//! Scopes and bearer tokens (distribution's token spec): the scope set a token is cached under,
//! the token endpoint's answer, and the call to a token realm.
//!
//! Owns what is sent to token realms (credentials only over HTTPS or to loopback); which token a
//! request needs and when is `host`'s to decide.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, Response};

use super::credentials::{Credentials, Secret};
use crate::model::reference::is_loopback_host;
use crate::registry::error::{RegistryError, warn_retrying};
use crate::registry::transport::{
    MAX_SMALL_BODY, Peer, Wire, api_error, read_limited, transport_error,
};
use crate::retry::{RetryPolicy, Verdict};

/// An access scope in the token spec's form: `repository:<name>:<actions>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope(String);

impl Scope {
    /// Pull access to a repository.
    pub fn pull(repository: &str) -> Self {
        Self(format!("repository:{repository}:pull"))
    }

    /// Pull and push access to a repository.
    pub fn push(repository: &str) -> Self {
        Self(format!("repository:{repository}:pull,push"))
    }

    /// Pull, push and delete access to a repository.
    pub fn delete(repository: &str) -> Self {
        Self(format!("repository:{repository}:pull,push,delete"))
    }

    /// The scope string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A bearer token and when it stops being good.
#[derive(Debug, Clone)]
pub struct Token {
    /// The token.
    pub value: Secret,
    /// When to stop using it (a little before the issuer's expiry).
    pub expires: Instant,
}

impl Token {
    /// A token good for `expires_in` seconds from now (60 when the issuer didn't say).
    pub fn new(value: String, expires_in: Option<u64>) -> Self {
        let secs = expires_in.filter(|s| *s > 0).unwrap_or(60);
        // Renew a little early so a token does not expire in flight.
        let margin = (secs / 10).clamp(1, 30);
        Self {
            value: Secret::new(value),
            expires: Instant::now() + Duration::from_secs(secs.saturating_sub(margin).max(1)),
        }
    }

    /// Whether the token can still be used.
    pub fn is_fresh(&self) -> bool {
        Instant::now() < self.expires
    }
}

/// The key of a cached token: the sorted scope set.
pub fn scope_key(scopes: &[Scope]) -> String {
    let mut names: Vec<&str> = scopes.iter().map(Scope::as_str).collect();
    names.sort_unstable();
    names.dedup();
    names.join(" ")
}

/// The JSON a token endpoint answers with.
#[derive(Debug, serde::Deserialize)]
pub struct TokenResponse {
    /// The token (distribution's name).
    #[serde(default)]
    pub token: Option<String>,
    /// The token (OAuth2's name).
    #[serde(default)]
    pub access_token: Option<String>,
    /// Lifetime in seconds.
    #[serde(default)]
    pub expires_in: Option<u64>,
}

impl TokenResponse {
    /// The token under either name.
    pub fn into_token(self) -> Option<Token> {
        let value = self.token.or(self.access_token).filter(|t| !t.is_empty())?;
        Some(Token::new(value, self.expires_in))
    }
}

/// Asks a token realm for a token covering `scopes`: `GET realm?service=&scope=…`, or the OAuth2
/// `POST` form for an identity token or a realm that refuses the `GET`. The registry's
/// `credentials` go to the realm only over HTTPS, or to a loopback realm. Every request goes out
/// through `wire`, which counts it; a request that may pass if sent again (no answer in time, a
/// connection that failed, 429, 5xx) is sent again under `retry`, as registry requests are.
pub(crate) async fn fetch_token(
    wire: &Wire,
    retry: &RetryPolicy,
    peer: Peer<'_>,
    credentials: Option<&Credentials>,
    realm: &str,
    service: Option<&str>,
    scopes: &[Scope],
) -> Result<Token, RegistryError> {
    let call = RealmCall {
        wire,
        peer,
        realm,
        service,
        scopes,
        operation: format!("get a token for {} from {realm}", peer.registry),
    };
    let realm_url = url::Url::parse(realm).map_err(|e| {
        call.protocol_error(format!("the registry named an invalid token realm: {e}"))
    })?;
    let sent = credentials.filter(|_| safe_for_credentials(&realm_url));
    if credentials.is_some() && sent.is_none() {
        tracing::warn!(
            realm,
            "not sending credentials to a token realm over plain HTTP"
        );
    }
    let call = &call;
    let failures = AtomicU32::new(0);
    retry
        .run(
            |_| call.attempt(sent),
            |err: &RegistryError| {
                let verdict = err.verdict();
                let attempt = failures.fetch_add(1, Ordering::Relaxed) + 1;
                if verdict != Verdict::Stop && retry.may_retry(attempt) {
                    warn_retrying(err, attempt, retry.max_attempts);
                }
                verdict
            },
        )
        .await
        .map_err(|(err, attempts)| err.after_attempts(attempts))
}

/// Whether credentials may go to a token realm: over HTTPS, or to a loopback address.
fn safe_for_credentials(realm: &url::Url) -> bool {
    realm.scheme() == "https"
        || match realm.host() {
            Some(url::Host::Domain(name)) => is_loopback_host(name),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        }
}

/// One token request to a realm, on behalf of one registry.
struct RealmCall<'a> {
    wire: &'a Wire,
    peer: Peer<'a>,
    realm: &'a str,
    service: Option<&'a str>,
    scopes: &'a [Scope],
    /// Says what is being done, in errors.
    operation: String,
}

impl RealmCall<'_> {
    /// One attempt: the request (the `GET`, or the `POST` form for an identity token) and the
    /// token in its answer.
    async fn attempt(&self, credentials: Option<&Credentials>) -> Result<Token, RegistryError> {
        let response = match credentials {
            Some(Credentials::IdentityToken(refresh)) => {
                self.post(vec![
                    ("grant_type", "refresh_token".to_owned()),
                    ("refresh_token", refresh.expose().to_owned()),
                    ("client_id", "manifold".to_owned()),
                ])
                .await?
            }
            _ => self.get(credentials).await?,
        };
        self.read_token(response).await
    }

    /// `grant` followed by the service and every scope: the query or form of a token request.
    fn params(&self, mut grant: Vec<(&'static str, String)>) -> Vec<(&'static str, String)> {
        if let Some(service) = self.service {
            grant.push(("service", service.to_owned()));
        }
        for scope in self.scopes {
            grant.push(("scope", scope.as_str().to_owned()));
        }
        grant
    }

    /// The `GET`, with Basic credentials if given; a realm that refuses it (404, 405) is asked
    /// again with the OAuth2 password form.
    async fn get(&self, credentials: Option<&Credentials>) -> Result<Response, RegistryError> {
        let mut request = self
            .wire
            .token_request(Method::GET, self.realm)
            .query(&self.params(Vec::new()));
        if let Some(header) = credentials.and_then(Credentials::basic_header) {
            request = request.header(AUTHORIZATION, header);
        }
        let response = self
            .wire
            .send(request)
            .await
            .map_err(|e| self.send_error(&e))?;
        tracing::debug!(
            method = "GET",
            url = self.realm,
            status = response.status().as_u16(),
            "token request"
        );
        let refused = matches!(response.status().as_u16(), 404 | 405);
        match credentials {
            Some(Credentials::Basic { username, password }) if refused => {
                self.post(vec![
                    ("grant_type", "password".to_owned()),
                    ("username", username.clone()),
                    ("password", password.expose().to_owned()),
                    ("client_id", "manifold".to_owned()),
                ])
                .await
            }
            _ => Ok(response),
        }
    }

    /// A token request that got no answer: a realm that did not answer in time says so. Either
    /// may pass if sent again.
    fn send_error(&self, e: &reqwest::Error) -> RegistryError {
        if !e.is_timeout() {
            return transport_error(&self.operation, self.peer, e);
        }
        RegistryError::Transport {
            operation: self.operation.clone(),
            message: format!(
                "the token realm does not answer: no token within {} s; check that the token \
                 service is up, or allow it longer with --answer-timeout (MANIFOLD_ANSWER_TIMEOUT)",
                self.wire.token_timeout().as_secs_f64()
            ),
            timeout: true,
            permanent: false,
        }
    }

    /// The OAuth2 `POST` form: `grant`, the service and the scopes.
    async fn post(&self, grant: Vec<(&'static str, String)>) -> Result<Response, RegistryError> {
        let form = self.params(grant);
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form.iter().map(|(k, v)| (*k, v.as_str())))
            .finish();
        let request = self
            .wire
            .token_request(Method::POST, self.realm)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body);
        let response = self
            .wire
            .send(request)
            .await
            .map_err(|e| self.send_error(&e))?;
        tracing::debug!(
            method = "POST",
            url = self.realm,
            status = response.status().as_u16(),
            "token request"
        );
        Ok(response)
    }

    /// The token in a realm's answer; an error status becomes the realm's error.
    async fn read_token(&self, response: Response) -> Result<Token, RegistryError> {
        if !response.status().is_success() {
            return Err(api_error(&self.operation, response).await);
        }
        let body = read_limited(response, MAX_SMALL_BODY)
            .await
            .map_err(|message| self.protocol_error(message))?;
        serde_json::from_slice::<TokenResponse>(&body)
            .ok()
            .and_then(TokenResponse::into_token)
            .ok_or_else(|| {
                self.protocol_error("the token realm answered without a token".to_owned())
            })
    }

    fn protocol_error(&self, message: String) -> RegistryError {
        RegistryError::Protocol {
            operation: self.operation.clone(),
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scope_key_ignores_order_and_repeats() {
        let a = scope_key(&[Scope::push("t"), Scope::pull("s"), Scope::pull("s")]);
        let b = scope_key(&[Scope::pull("s"), Scope::push("t")]);
        assert_eq!(a, b);
    }

    #[test]
    fn a_token_response_under_either_name_gives_a_fresh_token() {
        let r: TokenResponse =
            serde_json::from_str(r#"{"access_token":"abc","expires_in":300}"#).unwrap();
        let t = r.into_token().unwrap();
        assert_eq!(t.value.expose(), "abc");
        assert!(t.is_fresh());
        let empty: TokenResponse = serde_json::from_str(r#"{"token":""}"#).unwrap();
        assert!(empty.into_token().is_none());
    }

    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    /// Asks the mock realm for a token under a quick policy of 4 attempts; the result and the
    /// requests sent.
    async fn ask(
        realm: &MockServer,
        credentials: Option<Credentials>,
    ) -> (Result<Token, RegistryError>, u64) {
        let http = crate::registry::http_builder().build().unwrap();
        let wire = Wire::new(http, crate::registry::Timeouts::default());
        let retry = RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
        };
        let peer = Peer {
            registry: "r.test",
            api_host: "r.test",
            https: false,
            ca_given: false,
        };
        let url = format!("{}/token", realm.uri());
        let scopes = [Scope::pull("demo")];
        let result = fetch_token(
            &wire,
            &retry,
            peer,
            credentials.as_ref(),
            &url,
            None,
            &scopes,
        )
        .await;
        (result, wire.sent())
    }

    /// Makes the realm answer `verb` with `failure` `times` times, then with a token.
    async fn fails_then_answers(
        realm: &MockServer,
        verb: &str,
        failure: ResponseTemplate,
        times: u64,
    ) {
        Mock::given(method(verb))
            .respond_with(failure)
            .up_to_n_times(times)
            .mount(realm)
            .await;
        let token = serde_json::json!({"token": "t0k"});
        Mock::given(method(verb))
            .respond_with(ResponseTemplate::new(200).set_body_json(token))
            .mount(realm)
            .await;
    }

    #[tokio::test]
    async fn a_realm_that_fails_for_a_while_is_asked_again_by_get_and_by_the_oauth2_form() {
        let realm = MockServer::start().await;
        fails_then_answers(&realm, "GET", ResponseTemplate::new(503), 2).await;
        let rate_limited = ResponseTemplate::new(429).insert_header("Retry-After", "0");
        fails_then_answers(&realm, "POST", rate_limited, 1).await;

        let (got, sent) = ask(&realm, None).await;
        let identity = Credentials::IdentityToken(Secret::new("refresh-me".to_owned()));
        let (posted, posts) = ask(&realm, Some(identity)).await;

        assert_eq!(got.unwrap().value.expose(), "t0k");
        assert_eq!(sent, 3, "two 503s, then the token");
        assert_eq!(posted.unwrap().value.expose(), "t0k");
        assert_eq!(posts, 2, "a 429, then the token");
    }

    #[tokio::test]
    async fn a_realm_that_refuses_is_asked_once_and_one_that_keeps_failing_as_often_as_the_policy_allows()
     {
        let refusing = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(403))
            .mount(&refusing)
            .await;
        let failing = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(502))
            .mount(&failing)
            .await;

        let (refused, asked) = ask(&refusing, None).await;
        let (failed, tried) = ask(&failing, None).await;

        let refused = refused.unwrap_err();
        assert_eq!((refused.status(), asked), (Some(403), 1));
        assert!(!refused.is_retryable());
        let failed = failed.unwrap_err();
        assert_eq!((failed.status(), tried), (Some(502), 4));
        assert!(failed.is_retryable(), "the job may still try again later");
        assert!(failed.to_string().contains("tried 4 times"), "{failed}");
    }

    #[test]
    fn credentials_go_to_a_token_realm_only_over_https_or_on_loopback() {
        let safe = |realm: &str| safe_for_credentials(&url::Url::parse(realm).unwrap());
        assert!(safe("https://auth.example/token"));
        assert!(safe("http://127.0.0.1:5001/token"));
        assert!(safe("http://127.3.4.5/token"));
        assert!(safe("http://localhost:5001/token"));
        assert!(safe("http://[::1]:5001/token"));
        assert!(!safe("http://auth.example/token"));
        assert!(!safe("http://[2001:db8::1]/token"));
    }
}

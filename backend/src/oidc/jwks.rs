//! The issuers' keys: found through `{issuer}/.well-known/openid-configuration` (`jwks_uri`),
//! fetched only from the issuer's own host or the hosts configured for it (https, or http for a
//! loopback issuer), kept per issuer, and fetched again for a `kid` they do not hold — at most once
//! every [`REFETCH_SECS`] per issuer, so that tokens with made-up kids cannot make the service
//! hammer the issuer. One fetch at a time per issuer; the others wait for it and use its keys.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::Mutex;

use super::jwt::{self, Expect, Jwk, JwkSet};
use super::{IdToken, IssuerSettings, OidcSettings, TokenError};
use crate::model::Clock;

/// The fewest seconds between two fetches of one issuer's keys.
pub const REFETCH_SECS: i64 = 60;

/// How long fetched keys are kept before they are fetched again.
pub const MAX_AGE_SECS: i64 = 3600;

/// Largest discovery or JWKS document read.
const MAX_DOCUMENT: usize = 1024 * 1024;

/// Checks ID tokens against the configured issuers, their keys fetched and kept.
pub struct Verifier {
    issuers: Vec<Issuer>,
    http: reqwest::Client,
    clock: Clock,
}

struct Issuer {
    settings: IssuerSettings,
    keys: Mutex<Keys>,
}

#[derive(Default)]
struct Keys {
    set: Arc<Vec<Jwk>>,
    fetched_at: Option<DateTime<Utc>>,
    error: Option<String>,
}

impl Verifier {
    /// A verifier of the tokens of `settings`' issuers, its time (`exp`, `nbf`, when to fetch the
    /// keys again) read from `clock`.
    pub fn new(settings: &OidcSettings, clock: Clock) -> anyhow::Result<Self> {
        Ok(Self {
            issuers: settings
                .issuers
                .iter()
                .map(|s| Issuer {
                    settings: s.clone(),
                    keys: Mutex::default(),
                })
                .collect(),
            // A redirect could lead past the allowed hosts: never follow one.
            http: crate::registry::http_builder()
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(Duration::from_secs(5))
                .timeout(Duration::from_secs(10))
                .user_agent(concat!("manifold/", env!("CARGO_PKG_VERSION")))
                .build()?,
            clock,
        })
    }

    /// The token's issuer and claims, when it is valid.
    pub async fn verify(&self, token: &str) -> Result<IdToken, TokenError> {
        let iss = jwt::parse(token)?
            .claims
            .get("iss")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let issuer = self
            .issuers
            .iter()
            .find(|i| i.settings.issuer == iss)
            .ok_or(TokenError::Issuer(iss))?;
        let expect = Expect {
            issuer: &issuer.settings.issuer,
            audience: &issuer.settings.audience,
        };
        let keys = self.keys(issuer, false).await?;
        let now = self.clock.now().timestamp();
        let claims = match jwt::verify(token, &keys, expect, now) {
            Err(TokenError::KeyUnknown(_)) => {
                let keys = self.keys(issuer, true).await?;
                jwt::verify(token, &keys, expect, now)?
            }
            other => other?,
        };
        Ok(IdToken {
            issuer: issuer.settings.issuer.clone(),
            claims,
        })
    }

    /// The issuer's keys: fetched the first time; again when they are [`MAX_AGE_SECS`] old (a
    /// key the issuer withdrew is not trusted for long), and when `stale` (a token named a kid
    /// they do not hold) or the last fetch failed, once the last fetch is [`REFETCH_SECS`] old.
    async fn keys(&self, issuer: &Issuer, stale: bool) -> Result<Arc<Vec<Jwk>>, TokenError> {
        let mut keys = issuer.keys.lock().await;
        let now = self.clock.now();
        let due = match keys.fetched_at {
            None => true,
            Some(at) => {
                let age = (now - at).num_seconds();
                age >= MAX_AGE_SECS || ((stale || keys.error.is_some()) && age >= REFETCH_SECS)
            }
        };
        if due {
            keys.fetched_at = Some(now);
            match self.fetch(&issuer.settings).await {
                Ok(set) => {
                    keys.set = Arc::new(set.keys);
                    keys.error = None;
                }
                Err(why) => {
                    tracing::warn!(issuer = %issuer.settings.issuer, "cannot fetch the issuer's keys: {why}");
                    keys.error = Some(why);
                }
            }
        }
        match (&keys.error, keys.set.is_empty()) {
            (Some(why), true) => Err(TokenError::Keys {
                issuer: issuer.settings.issuer.clone(),
                why: why.clone(),
            }),
            _ => Ok(keys.set.clone()),
        }
    }

    /// Discovery, then the JWKS document it names.
    async fn fetch(&self, issuer: &IssuerSettings) -> Result<JwkSet, String> {
        let base = issuer.issuer.trim_end_matches('/');
        let discovery = format!("{base}/.well-known/openid-configuration");
        let config: Value = self.get(&discovery).await?;
        if let Some(said) = config["issuer"].as_str()
            && said != issuer.issuer
        {
            return Err(format!(
                "{discovery} names the issuer {said}, not {}",
                issuer.issuer
            ));
        }
        let jwks_uri = config["jwks_uri"]
            .as_str()
            .ok_or_else(|| format!("{discovery} names no jwks_uri"))?;
        check_url(jwks_uri)?;
        let host = |u: &str| url::Url::parse(u).ok().map(|u| host_port(&u));
        let (own, theirs) = (host(&issuer.issuer), host(jwks_uri));
        let allowed = own == theirs
            || theirs
                .as_ref()
                .is_some_and(|h| issuer.jwks_hosts.iter().any(|a| a.trim() == h.as_str()));
        if !allowed {
            return Err(format!(
                "its jwks_uri {jwks_uri} is on another host than the issuer's, and not in its jwks_hosts"
            ));
        }
        self.get(jwks_uri).await
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, String> {
        let answer = self
            .http
            .get(url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        if !answer.status().is_success() {
            return Err(format!("{url} answered {}", answer.status()));
        }
        let body = answer.bytes().await.map_err(|e| format!("{url}: {e}"))?;
        if body.len() > MAX_DOCUMENT {
            return Err(format!("{url} answered more than {MAX_DOCUMENT} bytes"));
        }
        serde_json::from_slice(&body).map_err(|e| format!("{url} is not the JSON expected: {e}"))
    }
}

fn host_port(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// An issuer or JWKS URL: https, or http on a loopback host (tests, a local issuer).
pub(super) fn check_url(text: &str) -> Result<(), String> {
    let url = url::Url::parse(text).map_err(|e| format!("{text:?} is not a URL: {e}"))?;
    let host = url.host_str().unwrap_or_default();
    let loopback = crate::model::reference::is_loopback_host(
        host.trim_start_matches('[').trim_end_matches(']'),
    );
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(format!(
            "{text} must be https (http only on a loopback host)"
        )),
    }
}

#[cfg(test)]
#[path = "jwks_tests.rs"]
mod tests;

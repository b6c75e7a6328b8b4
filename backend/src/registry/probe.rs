//! The requests `manifold doctor` makes that a push never needs: the API's base (`GET /v2/`) with
//! what its answer says of the registry (scheme, HTTP version, how it authenticates, its rate-limit
//! headers, how long it took), a blob uploaded from bytes in one request, and deletes.
//!
//! Owns these operations only; what is probed and how it is reported is `engine::doctor`'s.

use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::Method;
use serde::Serialize;

use super::auth::Scope;
use super::client::RegistryClient;
use super::error::RegistryError;
use super::host::AuthMode;
use super::request::Request;
use super::transport::Body;
use crate::model::{Digest, Reference};

/// What the API's base answered, and what the client learnt from it.
#[derive(Debug, Clone, Serialize)]
pub struct Ping {
    /// `https` or `http`: the scheme the registry answered on.
    pub scheme: &'static str,
    /// `HTTP/1.1`, `HTTP/2`, …
    pub http_version: String,
    /// How it asked to be authenticated.
    pub auth: AuthScheme,
    /// Whether credentials for it were given.
    pub credentials: bool,
    /// Whether it let us in (with the credentials given, or anonymously): false when it
    /// answered `401` even after its challenge was met.
    pub authenticated: bool,
    /// Its rate-limit headers (`RateLimit-*`, `X-RateLimit-*`), as it sent them.
    pub rate_limit: Vec<(String, String)>,
    /// How long the answer took, token requests included, in milliseconds.
    pub answered_ms: f64,
}

/// How a registry authenticates, as its challenge said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "scheme", rename_all = "snake_case")]
pub enum AuthScheme {
    /// It answered without asking.
    Anonymous,
    /// Basic auth.
    Basic,
    /// Bearer tokens from a realm.
    Bearer {
        /// Where tokens are issued.
        realm: String,
        /// The `service` it names.
        service: Option<String>,
    },
}

impl RegistryClient {
    /// `GET /v2/` on `registry`, authenticated as a push would be.
    pub async fn ping(&self, registry: &str) -> Result<Ping, RegistryError> {
        let host = self.host(registry)?;
        let started = Instant::now();
        let req = Request::new(
            Method::GET,
            "/v2/".to_owned(),
            Vec::new(),
            format!("GET the API base of {registry}"),
        );
        let (response, authenticated) = match self.requester.send(&host, req).await {
            Ok(response) => (Some(response), true),
            // Refused, but its challenge told how it authenticates: that is worth reporting.
            Err(e) if e.status() == Some(401) && host.auth_mode() != AuthMode::Unknown => {
                (None, false)
            }
            Err(e) => return Err(e),
        };
        let answered = started.elapsed();
        let headers = response
            .as_ref()
            .map(|r| r.headers().clone())
            .unwrap_or_default();
        let rate_limit = headers
            .iter()
            .filter(|(name, _)| {
                let name = name.as_str();
                name.starts_with("ratelimit") || name.starts_with("x-ratelimit")
            })
            .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_owned())))
            .collect();
        let auth = match host.auth_mode() {
            AuthMode::Basic => AuthScheme::Basic,
            AuthMode::Bearer { realm, service } => AuthScheme::Bearer { realm, service },
            AuthMode::Anonymous | AuthMode::Unknown => AuthScheme::Anonymous,
        };
        Ok(Ping {
            scheme: if host.is_https() { "https" } else { "http" },
            http_version: response
                .map_or_else(|| "unknown".to_owned(), |r| format!("{:?}", r.version())),
            auth,
            credentials: host.credentials.is_some(),
            authenticated,
            rate_limit,
            answered_ms: millis(answered),
        })
    }

    /// Uploads `bytes` as a blob of `target`'s repository in one request after the session is
    /// opened (`POST`, then `PUT ?digest=`); its digest.
    pub async fn put_blob(
        &self,
        target: &Reference,
        bytes: Bytes,
    ) -> Result<Digest, RegistryError> {
        let host = self.host(target.registry())?;
        let digest = Digest::of(&bytes);
        let location = self.start_upload(target).await?;
        let separator = if location.contains('?') { '&' } else { '?' };
        let mut req = Request::new(
            Method::PUT,
            format!("{location}{separator}digest={digest}"),
            vec![Scope::push(target.repository())],
            format!("upload blob {digest} to {}", target.name()),
        )
        .committing();
        req.body = Body::Bytes {
            data: bytes,
            content_type: "application/octet-stream".to_owned(),
        };
        self.requester.send(&host, req).await?;
        Ok(digest)
    }

    /// Deletes a manifest (`what` = `manifests`) or a blob (`blobs`) of `target`'s repository by
    /// digest: false when the registry does not delete (`405`, `UNSUPPORTED`) or has it no more.
    pub async fn delete(
        &self,
        target: &Reference,
        what: &str,
        digest: &Digest,
    ) -> Result<bool, RegistryError> {
        let host = self.host(target.registry())?;
        let req = Request::new(
            Method::DELETE,
            format!("/v2/{}/{what}/{digest}", target.repository()),
            vec![Scope::delete(target.repository())],
            format!("DELETE {what} {digest} in {}", target.name()),
        );
        match self.requester.send(&host, req).await {
            Ok(_) => Ok(true),
            Err(e) if matches!(e.status(), Some(404 | 405)) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// A duration in milliseconds, to a tenth.
pub(crate) fn millis(took: Duration) -> f64 {
    (took.as_secs_f64() * 10_000.0).round() / 10.0
}

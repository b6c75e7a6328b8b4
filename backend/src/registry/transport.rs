//! HTTP plumbing under the request loop: the reqwest client (TLS, timeouts), URLs, request bodies,
//! turning failures into [`RegistryError`]s, and the token endpoint call.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{RequestBuilder, Response};

use super::auth::{Credentials, Scope, Token, TokenResponse};
use super::client::{ClientConfig, Host};
use super::error::{ApiErrorDetail, RegistryError};
use crate::spec::reference::is_loopback_host;

/// Largest error or token body read from a registry.
const MAX_SMALL_BODY: usize = 1024 * 1024;

/// The body of a request: replayable bytes, or a stream that can be sent once.
pub(crate) enum Body {
    Empty,
    Bytes { data: Bytes, content_type: String },
    Stream(Option<(reqwest::Body, Option<u64>)>),
}

impl Body {
    pub(crate) fn is_replayable(&self) -> bool {
        !matches!(self, Self::Stream(_))
    }

    /// Puts the body on a request; bytes are shared, a stream is taken.
    pub(crate) fn attach(&mut self, builder: RequestBuilder) -> RequestBuilder {
        match self {
            Self::Empty => builder.header(CONTENT_LENGTH, 0),
            Self::Bytes { data, content_type } => builder
                .header(CONTENT_TYPE, content_type.as_str())
                .body(data.clone()),
            Self::Stream(slot) => match slot.take() {
                Some((body, len)) => {
                    let builder = builder.header(CONTENT_TYPE, "application/octet-stream");
                    let builder = match len {
                        Some(len) => builder.header(CONTENT_LENGTH, len),
                        None => builder,
                    };
                    builder.body(body)
                }
                None => builder,
            },
        }
    }
}

/// The reqwest client: HTTP/1.1 and 2, rustls, extra CAs, optional verification skip, timeouts.
pub(crate) fn build_http(config: &ClientConfig) -> Result<reqwest::Client, RegistryError> {
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("manifold/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(config.connect_timeout)
        .read_timeout(config.timeout)
        .pool_max_idle_per_host(64)
        .danger_accept_invalid_certs(config.insecure_tls);
    for (host, addr) in &config.resolve {
        builder = builder.resolve(host, *addr);
    }
    for path in &config.ca_certs {
        let pem = std::fs::read(path).map_err(|e| {
            RegistryError::Config(format!("cannot read CA bundle {}: {e}", path.display()))
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
            RegistryError::Config(format!("CA bundle {} is not PEM: {e}", path.display()))
        })?;
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .build()
        .map_err(|e| RegistryError::Config(format!("cannot set up HTTP: {}", error_chain(&e))))
}

/// An absolute URL for a request target: `/v2/...` paths and relative Locations join the base.
pub(crate) fn resolve_url(base: &str, target: &str) -> String {
    if target.starts_with("http://") || target.starts_with("https://") {
        target.to_owned()
    } else if target.starts_with('/') {
        format!("{base}{target}")
    } else {
        format!("{base}/{target}")
    }
}

/// Whether two URLs have the same scheme, host and port: credentials go only there.
pub(crate) fn same_authority(url: &str, base: &str) -> bool {
    match (url::Url::parse(url), url::Url::parse(base)) {
        (Ok(a), Ok(b)) => {
            a.scheme() == b.scheme()
                && a.host_str() == b.host_str()
                && a.port_or_known_default() == b.port_or_known_default()
        }
        _ => false,
    }
}

/// An error and all its causes on one line, leaving out causes its message already contains.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

/// A failure before any answer, with advice when it looks like a scheme mix-up or an untrusted
/// certificate (both permanent: retrying cannot help).
pub(crate) fn transport_error(operation: &str, host: &Host, err: &reqwest::Error) -> RegistryError {
    let mut message = error_chain(err);
    let lower = message.to_ascii_lowercase();
    let permanent = if host.is_https()
        && (lower.contains("invalidcontenttype")
            || lower.contains("corrupt message")
            || lower.contains("wrong version number")
            || lower.contains("http/1.") && lower.contains("tls"))
    {
        message.push_str(&format!(
            " — {} seems to speak plain HTTP; use --plain-http (or list it as an insecure registry)",
            host.registry
        ));
        true
    } else if lower.contains("certificate") || lower.contains("unknown issuer") {
        message.push_str(&format!(
            " — the TLS certificate of {} is not trusted; pass its CA with --ca-cert, or --insecure to skip verification",
            host.registry
        ));
        true
    } else {
        if lower.contains("connection refused") {
            message.push_str(&format!(" — is the registry at {} running?", host.api_host));
        }
        false
    };
    RegistryError::Transport {
        operation: operation.to_owned(),
        message,
        timeout: err.is_timeout(),
        permanent,
    }
}

/// Turns a non-success response into an error carrying the registry's error entries.
pub(crate) async fn api_error(operation: &str, response: Response) -> RegistryError {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let text = read_limited(response, MAX_SMALL_BODY)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    api_error_from_text(operation, status, &text, retry_after)
}

/// The error for a status and body text already read.
pub(crate) fn api_error_from_text(
    operation: &str,
    status: u16,
    text: &str,
    retry_after: Option<u64>,
) -> RegistryError {
    #[derive(serde::Deserialize)]
    struct Envelope {
        #[serde(default)]
        errors: Vec<ApiErrorDetail>,
    }
    let mut errors = serde_json::from_str::<Envelope>(text)
        .map(|e| e.errors)
        .unwrap_or_default();
    if errors.is_empty() && !text.trim().is_empty() && !text.trim_start().starts_with('<') {
        let mut message: String = text.trim().chars().take(300).collect();
        if message.len() < text.trim().len() {
            message.push('…');
        }
        errors.push(ApiErrorDetail {
            code: String::new(),
            message,
            detail: serde_json::Value::Null,
        });
    }
    RegistryError::Api {
        operation: operation.to_owned(),
        status,
        errors,
        retry_after,
    }
}

/// Reads a body of at most `limit` bytes.
pub(crate) async fn read_limited(mut response: Response, limit: usize) -> Result<Bytes, String> {
    if let Some(len) = response.content_length()
        && len as usize > limit
    {
        return Err(format!(
            "the answer is {len} bytes, over the {limit}-byte limit"
        ));
    }
    let mut out = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| error_chain(&e))? {
        if out.len() + chunk.len() > limit {
            return Err(format!("the answer is over the {limit}-byte limit"));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out.into())
}

/// Asks a token realm for a token: `GET realm?service=&scope=…`, or the OAuth2 `POST` form for an
/// identity token or a realm that refuses the `GET`. Credentials go to the realm only over HTTPS,
/// or to a loopback realm. Counts every HTTP request it sends in `sent`.
pub(crate) async fn fetch_token(
    http: &reqwest::Client,
    host: &Host,
    realm: &str,
    service: Option<&str>,
    scopes: &[Scope],
    operation: &str,
    sent: &AtomicU64,
) -> Result<Token, RegistryError> {
    let realm_url = url::Url::parse(realm).map_err(|e| RegistryError::Protocol {
        operation: operation.to_owned(),
        message: format!("the registry named an invalid token realm: {e}"),
    })?;
    let credentials = host
        .credentials
        .as_ref()
        .filter(|_| safe_for_credentials(&realm_url));
    if host.credentials.is_some() && credentials.is_none() {
        tracing::warn!(
            realm,
            "not sending credentials to a token realm over plain HTTP"
        );
    }
    let response = match credentials {
        Some(Credentials::IdentityToken(refresh)) => {
            let mut form = vec![
                ("grant_type", "refresh_token".to_owned()),
                ("refresh_token", refresh.expose().to_owned()),
                ("client_id", "manifold".to_owned()),
            ];
            push_service_and_scopes(&mut form, service, scopes);
            send_form(http, realm, &form, operation, sent).await?
        }
        _ => {
            let mut query: Vec<(&str, String)> = Vec::new();
            push_service_and_scopes(&mut query, service, scopes);
            let mut request = http.get(realm).query(&query);
            if let Some(header) = credentials.and_then(Credentials::basic_header) {
                request = request.header(reqwest::header::AUTHORIZATION, header);
            }
            sent.fetch_add(1, Ordering::Relaxed);
            let response = request
                .send()
                .await
                .map_err(|e| transport_error(operation, host, &e))?;
            tracing::debug!(
                method = "GET",
                url = realm,
                status = response.status().as_u16(),
                "token request"
            );
            let refused = matches!(response.status().as_u16(), 404 | 405);
            match credentials {
                Some(Credentials::Basic { username, password }) if refused => {
                    let mut form = vec![
                        ("grant_type", "password".to_owned()),
                        ("username", username.clone()),
                        ("password", password.expose().to_owned()),
                        ("client_id", "manifold".to_owned()),
                    ];
                    push_service_and_scopes(&mut form, service, scopes);
                    send_form(http, realm, &form, operation, sent).await?
                }
                _ => response,
            }
        }
    };
    if !response.status().is_success() {
        return Err(api_error(operation, response).await);
    }
    let body = read_limited(response, MAX_SMALL_BODY)
        .await
        .map_err(|message| RegistryError::Protocol {
            operation: operation.to_owned(),
            message,
        })?;
    serde_json::from_slice::<TokenResponse>(&body)
        .ok()
        .and_then(TokenResponse::into_token)
        .ok_or_else(|| RegistryError::Protocol {
            operation: operation.to_owned(),
            message: "the token realm answered without a token".to_owned(),
        })
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

fn push_service_and_scopes(out: &mut Vec<(&str, String)>, service: Option<&str>, scopes: &[Scope]) {
    if let Some(service) = service {
        out.push(("service", service.to_owned()));
    }
    for scope in scopes {
        out.push(("scope", scope.as_str().to_owned()));
    }
}

async fn send_form(
    http: &reqwest::Client,
    realm: &str,
    form: &[(&str, String)],
    operation: &str,
    sent: &AtomicU64,
) -> Result<Response, RegistryError> {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form.iter().map(|(k, v)| (*k, v.as_str())))
        .finish();
    sent.fetch_add(1, Ordering::Relaxed);
    let response = http
        .post(realm)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .map_err(|e| RegistryError::Transport {
            operation: operation.to_owned(),
            message: error_chain(&e),
            timeout: e.is_timeout(),
            permanent: false,
        })?;
    tracing::debug!(
        method = "POST",
        url = realm,
        status = response.status().as_u16(),
        "token request"
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_and_absolute_locations_resolve_against_the_registry() {
        let base = "http://127.0.0.1:5000";
        assert_eq!(
            resolve_url(base, "/v2/a/blobs/uploads/x?_state=1"),
            "http://127.0.0.1:5000/v2/a/blobs/uploads/x?_state=1"
        );
        assert_eq!(
            resolve_url(base, "https://s3.example/x"),
            "https://s3.example/x"
        );
    }

    #[test]
    fn credentials_follow_only_the_same_scheme_host_and_port() {
        let base = "http://127.0.0.1:5000";
        assert!(same_authority("http://127.0.0.1:5000/v2/x", base));
        assert!(!same_authority("http://127.0.0.1:5001/v2/x", base));
        assert!(!same_authority("https://127.0.0.1:5000/v2/x", base));
        assert!(!same_authority("http://evil.example/v2/x", base));
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

    #[test]
    fn an_error_body_in_the_distribution_envelope_keeps_its_codes() {
        let err = api_error_from_text(
            "PUT manifest r/x:y",
            400,
            r#"{"errors":[{"code":"MANIFEST_INVALID","message":"manifest invalid","detail":"x"}]}"#,
            None,
        );
        assert_eq!(err.code(), crate::model::ErrorCode::ManifestInvalid);
        assert_eq!(err.status(), Some(400));
    }

    #[test]
    fn a_plain_text_error_body_is_kept_short() {
        let long = "x".repeat(1000);
        let err = api_error_from_text("op", 502, &long, Some(3));
        let text = err.to_string();
        assert!(text.len() < 500, "{text}");
        assert!(matches!(
            err,
            RegistryError::Api {
                retry_after: Some(3),
                ..
            }
        ));
    }
}

//! HTTP plumbing under the request loop: the reqwest client (TLS, CAs, resolve overrides,
//! timeouts), the counted way every request goes out, request bodies, URLs, bounded body reads, and
//! turning reqwest failures and error bodies into [`RegistryError`]s.
//!
//! Knows no registry state: callers pass the plain facts it needs (a [`Peer`], [`HttpOptions`]).
//! It must not import `config`, `host`, `request` or `client`, which all build on it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, RequestBuilder, Response};

use super::error::{ApiErrorDetail, RegistryError};
use super::timing::Timeouts;

/// Largest error or token body read from a registry.
pub(crate) const MAX_SMALL_BODY: usize = 1024 * 1024;

/// What the reqwest client is built from.
pub(crate) struct HttpOptions<'a> {
    /// Timeout to establish a connection.
    pub connect_timeout: Duration,
    /// Skip TLS certificate verification.
    pub insecure_tls: bool,
    /// Host names resolved to fixed addresses instead of DNS.
    pub resolve: &'a [(String, SocketAddr)],
    /// Extra CA certificates (PEM files) to trust.
    pub ca_certs: &'a [PathBuf],
    /// Where redirects may lead.
    pub redirects: Redirects,
    /// Speak HTTP/1.1 only (else HTTP/2 where the server offers it over TLS).
    pub http1_only: bool,
}

/// Where the client follows redirects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Redirects {
    /// Anywhere (at most 10 in a row); credentials are dropped on the way to another host.
    Any,
    /// Only to the origin the request went to, or to one of these hosts (`host[:port]`).
    SameOriginOr(Vec<String>),
}

impl Redirects {
    /// The redirect policy of the reqwest client.
    fn policy(self) -> reqwest::redirect::Policy {
        reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > 10 {
                return attempt.error("more than 10 redirects in a row");
            }
            let Self::SameOriginOr(hosts) = &self else {
                return attempt.follow();
            };
            let next = attempt.url();
            let first = attempt.previous().first().map(url::Url::origin);
            let authority = next.port().map_or_else(
                || next.host_str().unwrap_or("").to_owned(),
                |port| format!("{}:{port}", next.host_str().unwrap_or("")),
            );
            let listed = hosts
                .iter()
                .any(|h| *h == authority || Some(h.as_str()) == next.host_str());
            if first == Some(next.origin()) || listed {
                attempt.follow()
            } else {
                let refused = format!(
                    "{REDIRECT_REFUSED} {} (not the registry, nor a host of MANIFOLD_BLOB_HOSTS)",
                    next.origin().ascii_serialization()
                );
                attempt.error(refused)
            }
        })
    }
}

/// How a refused redirect's error starts.
const REDIRECT_REFUSED: &str = "the registry redirected to";

/// Whether `e` is a redirect the client would not follow (off the registry, with an allow-list).
pub(crate) fn is_refused_redirect(e: &RegistryError) -> bool {
    matches!(e, RegistryError::Transport { message, .. } if message.contains(REDIRECT_REFUSED))
}

/// The registry a request went to, as far as error messages need it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Peer<'a> {
    /// The registry as written in references (`docker.io`, `127.0.0.1:5000`).
    pub registry: &'a str,
    /// Where its API answers (`registry-1.docker.io` for Docker Hub).
    pub api_host: &'a str,
    /// Whether it was asked over HTTPS.
    pub https: bool,
    /// Whether CA files were configured (`--ca-cert`): advice then does not ask for them.
    pub ca_given: bool,
}

/// The shared reqwest clients with one registry client's request count: every HTTP request, token
/// requests and retries included, goes out through [`Wire::send`] and is counted there.
pub(crate) struct Wire {
    http: reqwest::Client,
    /// The HTTP/1.1-only client, for hosts that broke HTTP/2.
    http1: reqwest::Client,
    sent: AtomicU64,
    /// The whole-request timeout of requests without a streamed body.
    request_timeout: Duration,
    /// The longest a registry may leave requests unanswered.
    answer_timeout: Duration,
}

impl Wire {
    /// A wire on a (shared) reqwest client, with nothing sent yet; requests without a streamed
    /// body may take `timeouts.request` whole.
    pub(crate) fn new(http: reqwest::Client, timeouts: Timeouts) -> Self {
        Self {
            http1: http.clone(),
            http,
            sent: AtomicU64::new(0),
            request_timeout: timeouts.request,
            answer_timeout: timeouts.answer,
        }
    }

    /// The same wire, sending on `http1` where asked to speak HTTP/1.1 only.
    pub(crate) fn with_http1(mut self, http1: reqwest::Client) -> Self {
        self.http1 = http1;
        self
    }

    /// The client of a request: the HTTP/1.1-only one for a host that broke HTTP/2.
    fn client(&self, http1: bool) -> &reqwest::Client {
        if http1 { &self.http1 } else { &self.http }
    }

    /// Starts a request without a streamed body (bounded whole by the request timeout), over
    /// HTTP/1.1 only when `http1`.
    pub(crate) fn request(&self, http1: bool, method: Method, url: &str) -> RequestBuilder {
        self.client(http1)
            .request(method, url)
            .timeout(self.request_timeout)
    }

    /// Starts a token request: bounded whole by [`Wire::token_timeout`].
    pub(crate) fn token_request(&self, method: Method, url: &str) -> RequestBuilder {
        self.http.request(method, url).timeout(self.token_timeout())
    }

    /// How long one token request may take whole: the request or the answer timeout, the shorter
    /// (a token realm answers at once or not at all; one that did not is asked again under the
    /// retry policy).
    pub(crate) fn token_timeout(&self) -> Duration {
        self.request_timeout.min(self.answer_timeout)
    }

    /// Starts a streamed transfer: no whole-request timeout (the caller watches for idleness);
    /// over HTTP/1.1 only when `http1`.
    pub(crate) fn stream_request(&self, http1: bool, method: Method, url: &str) -> RequestBuilder {
        self.client(http1).request(method, url)
    }

    /// Counts a request and sends it.
    pub(crate) async fn send(&self, request: RequestBuilder) -> reqwest::Result<Response> {
        self.sent.fetch_add(1, Ordering::Relaxed);
        request.send().await
    }

    /// HTTP requests sent so far.
    pub(crate) fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
}

/// The body of a request: replayable bytes, or a stream that can be sent once.
pub(crate) enum Body {
    /// No body (`Content-Length: 0`).
    Empty,
    /// Bytes of a media type, sent again as often as needed.
    Bytes {
        /// The bytes.
        data: Bytes,
        /// Their `Content-Type`.
        content_type: String,
    },
    /// A stream and its length if known, taken by the first request it is attached to.
    Stream(Mutex<Option<(reqwest::Body, Option<u64>)>>),
}

impl Body {
    /// A stream body of `len` bytes, if known.
    pub(crate) fn stream(body: reqwest::Body, len: Option<u64>) -> Self {
        Self::Stream(Mutex::new(Some((body, len))))
    }

    /// Whether the body can be sent again (it is not a stream).
    pub(crate) fn is_replayable(&self) -> bool {
        !matches!(self, Self::Stream(_))
    }

    /// Puts the body on a request; bytes are shared, a stream is taken.
    pub(crate) fn attach(&self, builder: RequestBuilder) -> RequestBuilder {
        match self {
            Self::Empty => builder.header(CONTENT_LENGTH, 0),
            Self::Bytes { data, content_type } => builder
                .header(CONTENT_TYPE, content_type.as_str())
                .body(data.clone()),
            Self::Stream(slot) => match slot.lock().expect("lock").take() {
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

/// The reqwest client: HTTP/1.1 and 2 (or 1.1 only), rustls, extra CAs, optional verification
/// skip, timeouts.
pub(crate) fn build_http(config: &HttpOptions<'_>) -> Result<reqwest::Client, RegistryError> {
    let mut builder = super::tls::http_builder();
    if config.http1_only {
        builder = builder.http1_only();
    }
    let mut builder = builder
        .user_agent(concat!("manifold/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(config.connect_timeout)
        .pool_max_idle_per_host(64)
        .danger_accept_invalid_certs(config.insecure_tls)
        .redirect(config.redirects.clone().policy());
    for (host, addr) in config.resolve {
        builder = builder.resolve(host, *addr);
    }
    if !config.insecure_tls {
        let mut certs = super::tls::read_certificates(config.ca_certs)?;
        certs.extend(super::tls::environment_certificates()?);
        if !certs.is_empty() {
            builder =
                builder.use_preconfigured_tls(super::tls::client_config(certs, config.http1_only)?);
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
/// Whether a request sent over plain HTTP was answered with bytes that are not HTTP at all: a
/// TLS server's alert (Trow's TLS layer answers so; Go's servers answer a readable 400 instead).
pub(crate) fn answered_not_http(err: &RegistryError) -> bool {
    matches!(err, RegistryError::Transport { message, .. }
        if message.contains("invalid HTTP version parsed"))
}

pub(crate) fn transport_error(
    operation: &str,
    host: Peer<'_>,
    err: &reqwest::Error,
) -> RegistryError {
    let mut message = error_chain(err);
    let lower = message.to_ascii_lowercase();
    let permanent = if host.https
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
    } else if message.contains(REDIRECT_REFUSED) {
        true
    } else if lower.contains("certificate") || lower.contains("unknown issuer") {
        message.push_str(&untrusted_advice(host, &lower));
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

/// What to do about a certificate the client refused: without CA files, pass one; with them, the
/// server's certificate is neither signed by one of them nor one of them (or names another host).
fn untrusted_advice(host: Peer<'_>, lower: &str) -> String {
    let registry = host.registry;
    if lower.contains("notvalidforname") || lower.contains("not valid for name") {
        return format!(
            " — the TLS certificate of {registry} does not name {}; reach it by a name the \
             certificate has, or --insecure to skip verification",
            host.api_host
        );
    }
    if host.ca_given {
        format!(
            " — the TLS certificate of {registry} is neither signed by a CA given with --ca-cert \
             nor one of the certificates given; check that the file is the registry's CA or its \
             own certificate (as its server presents it), or --insecure to skip verification"
        )
    } else {
        format!(
            " — the TLS certificate of {registry} is not trusted; pass its CA (or the \
             certificate itself, if it is self-signed) with --ca-cert, or --insecure to skip \
             verification"
        )
    }
}

/// The permanent failure of asking an HTTPS server over plain HTTP when it may not be upgraded.
pub(crate) fn https_server_error(operation: &str, host: Peer<'_>) -> RegistryError {
    RegistryError::Transport {
        operation: operation.to_owned(),
        message: format!(
            "{} speaks HTTPS, but was asked over plain HTTP; drop --plain-http \
             (or take it off the insecure registries)",
            host.registry
        ),
        timeout: false,
        permanent: true,
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

#[cfg(test)]
pub(crate) mod tests {
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

    #[test]
    fn a_stream_body_is_attached_once_and_bytes_every_time() {
        let http = crate::registry::http_builder().build().unwrap();
        let attached = |body: &Body| {
            body.attach(http.put("http://127.0.0.1:5000/v2/x"))
                .build()
                .unwrap()
                .body()
                .is_some()
        };
        let stream = Body::stream(reqwest::Body::from("blob"), Some(4));
        assert!(!stream.is_replayable());
        assert!(attached(&stream));
        assert!(!attached(&stream), "a stream is sent once");
        let bytes = Body::Bytes {
            data: Bytes::from_static(b"{}"),
            content_type: "application/json".into(),
        };
        assert!(bytes.is_replayable());
        assert!(attached(&bytes) && attached(&bytes));
    }

    /// A loopback port nothing listens on (bound, then let go).
    pub(crate) fn unused_port() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }

    #[tokio::test]
    async fn the_wire_counts_every_request_it_sends_even_one_that_fails() {
        let port = unused_port();
        let http = crate::registry::http_builder().build().unwrap();
        let wire = Wire::new(http, Timeouts::default());
        let url = format!("http://127.0.0.1:{port}/v2/");
        assert!(
            wire.send(wire.request(false, Method::GET, &url))
                .await
                .is_err()
        );
        assert!(
            wire.send(wire.request(true, Method::GET, &url))
                .await
                .is_err()
        );
        assert_eq!(wire.sent(), 2);
    }
}

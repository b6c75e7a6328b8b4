//! Registries in the wild, as test doubles: a reverse proxy ([`QuirkProxy`]) in front of a real
//! `docker-registry` that passes every request through unchanged except the ones its
//! [`Profile`] bends, so that everything but the quirk is the real registry's behaviour. One
//! profile per registry (`profile.rs`), each citing where its behaviour was seen.
//!
//! Owns the proxying (plain HTTP/1.1 on loopback, bodies read whole; or over TLS with HTTP/2,
//! `tls.rs`) and the record of what it saw; a profile owns only what it answers instead of the
//! registry, or how it changes the registry's answer. A new registry's quirk is a new profile,
//! not a new proxy.

mod profile;
mod tls;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::dev::ServerHandle;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

pub use profile::Profile;

/// A request as the proxy saw it.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// `GET`, `PUT`, …
    pub method: String,
    /// The `Host` the client named (`127.0.0.1:PORT`).
    pub host: String,
    /// The path, without the query.
    pub path: String,
    /// The query string (empty when none).
    pub query: String,
    /// The `Accept` header (empty when none).
    pub accept: String,
    /// The `Content-Type` header (empty when none).
    pub content_type: String,
    /// Every other header but `Host` and `Content-Length`, passed on as they came.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Incoming {
    /// `(name, reference)` of `/v2/<name>/manifests/<reference>`.
    pub fn manifest(&self) -> Option<(&str, &str)> {
        self.path.strip_prefix("/v2/")?.rsplit_once("/manifests/")
    }

    /// `(name, digest)` of `/v2/<name>/referrers/<digest>`.
    pub fn referrers(&self) -> Option<(&str, &str)> {
        self.path.strip_prefix("/v2/")?.rsplit_once("/referrers/")
    }

    /// The body as JSON, when it is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// An answer: what the proxy sends instead of, or as, the registry's.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// Headers, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Answer {
    /// A registry error: `{"errors":[{"code","message"}]}` with this status.
    pub fn error(status: u16, code: &str, message: &str) -> Self {
        let body = serde_json::json!({"errors": [{"code": code, "message": message}]});
        Self::new(status)
            .header("Content-Type", "application/json")
            .body(body.to_string().into_bytes())
    }

    /// An HTML page with this status, as web front ends answer.
    pub fn html(status: u16, page: &str) -> Self {
        Self::new(status)
            .header("Content-Type", "text/html; charset=utf-8")
            .body(page.as_bytes().to_vec())
    }

    /// An empty answer with this status.
    pub fn new(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// With a header added.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// With this body.
    pub fn body(mut self, body: Vec<u8>) -> Self {
        self.body = body;
        self
    }

    /// The value of a header, if it has it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What the proxy shares with its handlers and the profile.
pub struct Upstream {
    /// The registry's `127.0.0.1:PORT`.
    pub addr: String,
    http: reqwest::Client,
    /// A count a profile keeps across requests (Nexus: the list PUTs seen so far).
    counter: AtomicUsize,
}

impl Upstream {
    /// The registry at `addr` (`127.0.0.1:PORT`, plain HTTP), asked without following redirects.
    pub(crate) fn new(addr: &str) -> Self {
        Self {
            addr: addr.to_owned(),
            http: crate::http_client()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            counter: AtomicUsize::new(0),
        }
    }

    /// The profile's count before this call, counted up by one.
    pub fn count_up(&self) -> usize {
        self.counter.fetch_add(1, Ordering::SeqCst)
    }

    /// Sends `incoming` (with `path_and_query` instead of its own) to the registry; its answer,
    /// redirects not followed.
    pub async fn send(&self, incoming: &Incoming, path_and_query: &str) -> Answer {
        let url = format!("http://{}{path_and_query}", self.addr);
        let method = reqwest::Method::from_bytes(incoming.method.as_bytes()).unwrap();
        let mut forward = self.http.request(method, url).body(incoming.body.clone());
        let named = [
            ("accept", &incoming.accept),
            ("content-type", &incoming.content_type),
        ];
        for (name, value) in named.into_iter().filter(|(_, v)| !v.is_empty()) {
            forward = forward.header(name, value.as_str());
        }
        for (name, value) in &incoming.headers {
            forward = forward.header(name.as_str(), value.as_str());
        }
        let Ok(answer) = forward.send().await else {
            return Answer::new(502);
        };
        let mut out = Answer::new(answer.status().as_u16());
        // A HEAD answer's length is that of what a GET would send: kept as it came.
        let head = incoming.method == "HEAD";
        for (name, value) in answer.headers() {
            if (head || name != "content-length") && name != "transfer-encoding" {
                out = out.header(name.as_str(), value.to_str().unwrap_or_default());
            }
        }
        out.body(answer.bytes().await.map(|b| b.to_vec()).unwrap_or_default())
    }

    /// The `(digest, media type)` the registry holds under `/v2/<name>/manifests/<reference>`,
    /// asked with every manifest type accepted; `None` when it holds nothing there.
    pub async fn manifest(&self, name: &str, reference: &str) -> Option<(String, String)> {
        let head = Incoming {
            method: "HEAD".to_owned(),
            host: self.addr.clone(),
            path: String::new(),
            query: String::new(),
            accept: crate::media_types::ACCEPT_ALL.to_owned(),
            content_type: String::new(),
            headers: Vec::new(),
            body: Vec::new(),
        };
        let answer = self
            .send(&head, &format!("/v2/{name}/manifests/{reference}"))
            .await;
        if answer.status != 200 {
            return None;
        }
        let digest = answer.get("docker-content-digest")?.to_owned();
        Some((digest, answer.get("content-type")?.to_owned()))
    }
}

/// Headers the proxy does not pass on as they came (the connection's own, and those it names).
const HOP_BY_HOP: [&str; 8] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "expect",
    "accept",
    "content-type",
];

struct Shared {
    upstream: Upstream,
    profile: Profile,
    seen: Mutex<Vec<String>>,
    /// The scheme clients reach the double on (`http`, or `https` behind its TLS front).
    scheme: &'static str,
}

/// The proxy, listening on loopback until dropped.
pub struct QuirkProxy {
    /// `127.0.0.1:PORT`: the registry's host as clients of the double name it.
    pub host: String,
    shared: Arc<Shared>,
    server: ServerHandle,
    /// The TLS front, when it is served over TLS.
    front: Option<tokio::task::JoinHandle<()>>,
}

impl QuirkProxy {
    /// A double of `profile` in front of the plain-HTTP registry at `upstream`
    /// (`127.0.0.1:PORT`).
    pub async fn start(upstream: &str, profile: Profile) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let shared = Self::shared(upstream, profile, "http");
        let server = serve(listener, shared.clone(), handle);
        Self {
            host,
            shared,
            server,
            front: None,
        }
    }

    /// A double of `profile` served over TLS with `cert` (HTTP/2 and HTTP/1.1 offered, as
    /// registries on the internet serve), in front of the plain-HTTP registry at `upstream`.
    pub async fn start_tls(upstream: &str, profile: Profile, cert: &crate::ServerCert) -> Self {
        let plain = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let plain_addr = plain.local_addr().unwrap().to_string();
        let shared = Self::shared(upstream, profile, "https");
        let server = serve(plain, shared.clone(), handle);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let front = tls::serve(
            listener,
            &cert.cert_path,
            &cert.key_path,
            plain_addr,
            shared.clone(),
        );
        Self {
            host,
            shared,
            server,
            front: Some(front),
        }
    }

    fn shared(upstream: &str, profile: Profile, scheme: &'static str) -> Arc<Shared> {
        Arc::new(Shared {
            upstream: Upstream::new(upstream),
            profile,
            seen: Mutex::new(Vec::new()),
            scheme,
        })
    }

    /// The request lines (`PUT /v2/demo/manifests/v1`) seen so far, in order.
    pub fn seen(&self) -> Vec<String> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// How many requests seen start with `line` (`"PUT /v2/demo/manifests/"`).
    pub fn count(&self, line: &str) -> usize {
        self.seen().iter().filter(|l| l.starts_with(line)).count()
    }
}

/// Serves every request on `listener` with `handler` (one worker, bodies up to 64 MiB), `state`
/// its `web::Data`; the server's handle, to stop it with.
pub fn serve<T, F, Args>(listener: std::net::TcpListener, state: Arc<T>, handler: F) -> ServerHandle
where
    T: Send + Sync + 'static,
    F: actix_web::Handler<Args> + Clone + Send + 'static,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    let data = web::Data::from(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(64 << 20))
            .default_service(web::to(handler.clone()))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    handle
}

impl Drop for QuirkProxy {
    fn drop(&mut self) {
        if let Some(front) = &self.front {
            front.abort();
        }
        drop(self.server.stop(false));
    }
}

async fn handle(req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let incoming = incoming(&req, body);
    shared
        .seen
        .lock()
        .unwrap()
        .push(format!("{} {}", req.method(), req.uri()));
    let answer = shared.profile.answer(&shared.upstream, &incoming).await;
    respond_as(&req, &shared.upstream, answer, shared.scheme)
}

/// A request as a double sees it.
pub(crate) fn incoming(req: &HttpRequest, body: web::Bytes) -> Incoming {
    // Every value, as one (Go's clients send each type they accept as a header of its own).
    let header = |name: &str| {
        let values = req.headers().get_all(name);
        let values: Vec<&str> = values.filter_map(|v| v.to_str().ok()).collect();
        values.join(", ")
    };
    Incoming {
        method: req.method().as_str().to_owned(),
        host: req.connection_info().host().to_owned(),
        path: req.uri().path().to_owned(),
        query: req.uri().query().unwrap_or_default().to_owned(),
        accept: header("accept"),
        content_type: header("content-type"),
        headers: req
            .headers()
            .iter()
            .filter(|(n, _)| !HOP_BY_HOP.contains(&n.as_str()))
            .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect(),
        body: body.to_vec(),
    }
}

/// The response to `req` of `answer`, the registry's own address in its headers (`Location`)
/// replaced by the double's.
pub(crate) fn respond(req: &HttpRequest, upstream: &Upstream, answer: Answer) -> HttpResponse {
    respond_as(req, upstream, answer, "http")
}

/// [`respond`], for a double its clients reach on `scheme`.
fn respond_as(
    req: &HttpRequest,
    upstream: &Upstream,
    mut answer: Answer,
    scheme: &str,
) -> HttpResponse {
    let proxied = format!("http://{}", upstream.addr);
    let own = format!("{scheme}://{}", req.connection_info().host());
    let mut out = HttpResponse::build(answer.status.try_into().unwrap());
    let mut head_length = None;
    for (name, value) in &mut answer.headers {
        if name.eq_ignore_ascii_case("content-length") {
            head_length = value.parse::<u64>().ok();
            continue;
        }
        let value = value.replace(&proxied, &own);
        if let (Ok(n), Ok(v)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value),
        ) {
            out.append_header((n, v));
        }
    }
    match head_length {
        Some(length) if req.method() == actix_web::http::Method::HEAD => {
            out.no_chunking(length).finish()
        }
        _ => out.body(answer.body),
    }
}

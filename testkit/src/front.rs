//! A reverse proxy in front of a real registry, for doubles that change one thing about how a
//! registry answers: each request is shown to a [`Gate`], which lets it through to the registry
//! unchanged (the `Host` header kept, so the registry's `Location`s name the proxy) or answers it
//! itself. Runs on its own actix system thread on 127.0.0.1; stopped when dropped.
//!
//! Bodies are read whole before the gate decides, so a refusal never cuts a request short:
//! doubles are for small fixture images, not for large blobs.

use std::sync::Arc;
use std::thread::JoinHandle;

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use anyhow::Context as _;

/// What a gate sees of a request.
#[derive(Debug, Clone)]
pub struct Seen {
    /// `GET`, `PUT`, …
    pub method: String,
    /// The path and query.
    pub target: String,
}

/// An answer a gate gives itself.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Its status.
    pub status: u16,
    /// Its headers.
    pub headers: Vec<(String, String)>,
    /// Its body (JSON, as registries answer errors).
    pub body: String,
}

/// Decides about each request, and may add headers to the registry's answer.
pub trait Gate: Send + Sync + 'static {
    /// `None`: pass it on to the registry; else answer it so.
    fn decide(&self, seen: &Seen) -> Option<Answer>;

    /// Headers added to an answer the registry gave.
    fn passed_headers(&self, _seen: &Seen) -> Vec<(String, String)> {
        Vec::new()
    }
}

/// The proxy, listening until dropped.
pub struct Front {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    handle: ServerHandle,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    upstream: String,
    http: reqwest::Client,
    gate: Arc<dyn Gate>,
}

impl Front {
    /// Starts a proxy in front of the registry at `upstream` (`127.0.0.1:PORT`, plain HTTP).
    pub fn start(upstream: &str, gate: Arc<dyn Gate>) -> anyhow::Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").context("bind 127.0.0.1:0")?;
        let addr = listener.local_addr()?.to_string();
        let shared = web::Data::new(Shared {
            upstream: upstream.to_owned(),
            http: crate::http_client()
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            gate,
        });
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(format!("testkit-front-{addr}"))
            .spawn(move || {
                let system = actix_web::rt::System::new();
                system.block_on(async move {
                    let server = HttpServer::new(move || {
                        App::new()
                            .app_data(shared.clone())
                            .app_data(web::PayloadConfig::new(64 * 1024 * 1024))
                            .default_service(web::to(pass))
                    })
                    .workers(2)
                    .disable_signals()
                    .shutdown_timeout(1)
                    .listen(listener);
                    match server {
                        Ok(server) => {
                            let server = server.run();
                            let _ = tx.send(Ok(server.handle()));
                            let _ = server.await;
                        }
                        Err(err) => {
                            let _ = tx.send(Err(err));
                        }
                    }
                });
            })
            .context("spawn the proxy's thread")?;
        let handle = rx.recv().context("the proxy's thread ended")??;
        Ok(Self {
            addr,
            handle,
            thread: Some(thread),
        })
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Headers that belong to one connection, never passed on.
const HOP_BY_HOP: [&str; 5] = [
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "upgrade",
];

async fn pass(req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let seen = Seen {
        method: req.method().to_string(),
        target: req
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned(),
    };
    if let Some(answer) = shared.gate.decide(&seen) {
        return respond(answer.status, &answer.headers, answer.body.into());
    }
    let url = format!("http://{}{}", shared.upstream, seen.target);
    let method = reqwest::Method::from_bytes(seen.method.as_bytes()).expect("a method");
    let mut forward = shared.http.request(method, url).body(body);
    for (name, value) in req.headers() {
        if !HOP_BY_HOP.contains(&name.as_str()) && name.as_str() != "content-length" {
            forward = forward.header(name.as_str(), value.as_bytes());
        }
    }
    let Ok(answer) = forward.send().await else {
        return HttpResponse::BadGateway().finish();
    };
    let status = answer.status().as_u16();
    let mut headers: Vec<(String, String)> = answer
        .headers()
        .iter()
        .filter(|(name, _)| {
            !HOP_BY_HOP.contains(&name.as_str()) && name.as_str() != "content-length"
        })
        .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_owned())))
        .collect();
    headers.extend(shared.gate.passed_headers(&seen));
    if seen.method == "HEAD" {
        // A HEAD answer's length is the length of what a GET would send: kept as it came.
        let length = answer
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok()?.parse().ok())
            .unwrap_or(0);
        let mut response = builder(status, &headers);
        return response.no_chunking(length).finish();
    }
    let bytes = answer.bytes().await.unwrap_or_default();
    respond(status, &headers, bytes)
}

fn builder(status: u16, headers: &[(String, String)]) -> actix_web::HttpResponseBuilder {
    let mut response =
        HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY));
    for (name, value) in headers {
        response.append_header((name.as_str(), value.as_str()));
    }
    response
}

fn respond(status: u16, headers: &[(String, String)], body: web::Bytes) -> HttpResponse {
    builder(status, headers).body(body)
}

//! A double over TLS, as registries serve themselves on the internet: ALPN offers HTTP/2 and
//! HTTP/1.1. An HTTP/2 connection is served here (the `h2` crate, which writes an answer's
//! headers as the profile gives them — so a `Content-Length` its body contradicts reaches the
//! client, as it does from Trow); an HTTP/1.1 connection is passed, decrypted, to the plain
//! double ([`super::QuirkProxy`]'s own server), which answers with the real length.
//!
//! Owns the TLS listener, the protocol choice and the rendering of an [`Answer`] as HTTP/2; what
//! is answered is the profile's, the same over both protocols.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use super::{Answer, HOP_BY_HOP, Incoming, Shared};

/// Headers HTTP/2 forbids (connection-specific), never sent on it.
const CONNECTION_SPECIFIC: [&str; 5] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
];

/// Serves TLS on `listener` with `cert`/`key` (PEM files): HTTP/2 here, HTTP/1.1 passed to the
/// plain double at `plain` (`127.0.0.1:PORT`). The task serving it, to abort.
pub(super) fn serve(
    listener: TcpListener,
    cert: &Path,
    key: &Path,
    plain: String,
    shared: Arc<Shared>,
) -> tokio::task::JoinHandle<()> {
    let acceptor = TlsAcceptor::from(Arc::new(server_config(cert, key)));
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, plain, shared) = (acceptor.clone(), plain.clone(), shared.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
                    serve_h2(tls, shared).await;
                } else if let Ok(mut inner) = TcpStream::connect(&plain).await {
                    let mut tls = tls;
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut inner).await;
                }
            });
        }
    })
}

/// The server's TLS configuration: its certificate and key, `h2` and `http/1.1` offered.
fn server_config(cert: &Path, key: &Path) -> rustls::ServerConfig {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .expect("certificate file")
        .collect::<Result<_, _>>()
        .expect("certificate PEM");
    let key = PrivateKeyDer::from_pem_file(key).expect("key PEM");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("certificate and key");
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config
}

/// Serves one HTTP/2 connection: each stream answered by the profile, concurrently.
async fn serve_h2(tls: tokio_rustls::server::TlsStream<TcpStream>, shared: Arc<Shared>) {
    let Ok(mut connection) = h2::server::handshake(tls).await else {
        return;
    };
    while let Some(Ok((request, respond))) = connection.accept().await {
        tokio::spawn(answer_h2(request, respond, shared.clone()));
    }
}

/// Reads one request whole, records it, and sends the profile's answer as it is.
async fn answer_h2(
    request: http::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
    shared: Arc<Shared>,
) {
    let (parts, mut body) = request.into_parts();
    let mut bytes = Vec::new();
    while let Some(chunk) = body.data().await {
        let Ok(chunk) = chunk else { return };
        let _ = body.flow_control().release_capacity(chunk.len());
        bytes.extend_from_slice(&chunk);
    }
    let target = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), ToString::to_string);
    shared
        .seen
        .lock()
        .unwrap()
        .push(format!("{} {target}", parts.method));
    let incoming = incoming(&parts, bytes);
    let own = format!("https://{}", incoming.host);
    let answer = shared.profile.answer(&shared.upstream, &incoming).await;
    let proxied = format!("http://{}", shared.upstream.addr);
    let (head, body) = render(answer, &proxied, &own);
    let Ok(mut stream) = respond.send_response(head, body.is_empty()) else {
        return;
    };
    if !body.is_empty() {
        let _ = stream.send_data(body, true);
    }
}

/// A request as the profile sees it.
fn incoming(parts: &http::request::Parts, body: Vec<u8>) -> Incoming {
    // Every value, as one (Go's clients send each type they accept as a header of its own).
    let header = |name: &str| {
        let values = parts.headers.get_all(name).iter();
        let values: Vec<&str> = values.filter_map(|v| v.to_str().ok()).collect();
        values.join(", ")
    };
    Incoming {
        method: parts.method.as_str().to_owned(),
        host: parts
            .uri
            .authority()
            .map(ToString::to_string)
            .unwrap_or_default(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        accept: header("accept"),
        content_type: header("content-type"),
        headers: parts
            .headers
            .iter()
            .filter(|(n, _)| !HOP_BY_HOP.contains(&n.as_str()))
            .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect(),
        body,
    }
}

/// An answer as HTTP/2 headers and a body: its headers as they are (a `Content-Length` the
/// profile gave included, right or wrong), the registry's address in them replaced by the
/// double's `own` origin, and the body's length where the answer names none.
fn render(answer: Answer, proxied: &str, own: &str) -> (http::Response<()>, Bytes) {
    let mut head = http::Response::builder().status(answer.status);
    let mut has_length = false;
    for (name, value) in &answer.headers {
        let lower = name.to_ascii_lowercase();
        if CONNECTION_SPECIFIC.contains(&lower.as_str()) {
            continue;
        }
        has_length |= lower == "content-length";
        head = head.header(lower, value.replace(proxied, own));
    }
    if !has_length {
        head = head.header("content-length", answer.body.len());
    }
    let head = head.body(()).unwrap_or_else(|_| {
        let mut failed = http::Response::new(());
        *failed.status_mut() = http::StatusCode::BAD_GATEWAY;
        failed
    });
    (head, Bytes::from(answer.body))
}

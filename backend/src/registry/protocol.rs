//! HTTP/2 where a registry speaks it soundly, HTTP/1.1 where it breaks it: which registry hosts
//! are spoken to over HTTP/1.1 (shared by every client of a factory, so learnt once a process),
//! what failure moves a host there (an HTTP/2 protocol or stream error: Trow over TLS answers its
//! chunk `PATCH`es with a wrong `Content-Length`, a malformed answer under HTTP/2), and the error
//! that says a request failed so and may be sent again at once over HTTP/1.1.
//!
//! Owns the decision and its memory; `request` sends on the HTTP/1.1 client where this says so,
//! and `upload` restarts a streamed chunk that failed so without counting an attempt.

use std::collections::HashSet;
use std::sync::Mutex;

use super::error::RegistryError;
use super::transport::error_chain;

/// How an error that moved its host to HTTP/1.1 ends (and how it is recognised).
const FELL_BACK: &str = "spoken to over HTTP/1.1 from now on";

/// The registry hosts spoken to over HTTP/1.1 since one broke an HTTP/2 stream.
#[derive(Debug, Default)]
pub(crate) struct Http1Hosts {
    hosts: Mutex<HashSet<String>>,
}

impl Http1Hosts {
    /// Whether `registry` is spoken to over HTTP/1.1.
    pub(crate) fn contains(&self, registry: &str) -> bool {
        self.hosts.lock().expect("lock").contains(registry)
    }

    /// Moves `registry` to HTTP/1.1; true the first time (the caller logs it then).
    pub(crate) fn insert(&self, registry: &str) -> bool {
        self.hosts.lock().expect("lock").insert(registry.to_owned())
    }

    /// Every host moved to HTTP/1.1, sorted.
    pub(crate) fn all(&self) -> Vec<String> {
        let mut all: Vec<String> = self.hosts.lock().expect("lock").iter().cloned().collect();
        all.sort();
        all
    }
}

/// Whether a request failed because its HTTP/2 stream or connection broke for a protocol
/// reason — the server's answer malformed (a `Content-Length` its frames contradict), or the
/// server asking for HTTP/1.1 — which HTTP/1.1 may not meet. A refused stream, a cancel or an
/// I/O failure is no such sign.
pub(crate) fn is_http2_failure(err: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(cause) = source {
        if let Some(h2) = cause.downcast_ref::<h2::Error>() {
            return h2.reason().is_some_and(|reason| {
                [
                    h2::Reason::PROTOCOL_ERROR,
                    h2::Reason::FRAME_SIZE_ERROR,
                    h2::Reason::COMPRESSION_ERROR,
                    h2::Reason::HTTP_1_1_REQUIRED,
                ]
                .contains(&reason)
            });
        }
        source = cause.source();
    }
    false
}

/// The error of a request whose HTTP/2 stream `registry` broke, now that it is spoken to over
/// HTTP/1.1: retryable (sent again at once where its body allows).
pub(crate) fn fell_back_error(
    operation: &str,
    registry: &str,
    err: &reqwest::Error,
) -> RegistryError {
    RegistryError::Transport {
        operation: operation.to_owned(),
        message: format!(
            "{registry} broke an HTTP/2 stream ({}); it is {FELL_BACK}",
            error_chain(err)
        ),
        timeout: false,
        permanent: false,
    }
}

/// Whether `err` is a request that failed over HTTP/2 and moved its host to HTTP/1.1: sending
/// it again there is no failed attempt.
pub(crate) fn fell_back(err: &RegistryError) -> bool {
    matches!(err, RegistryError::Transport { message, .. } if message.ends_with(FELL_BACK))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_is_moved_to_http1_once_and_stays() {
        let hosts = Http1Hosts::default();
        assert!(!hosts.contains("127.0.0.1:5000"));
        assert!(hosts.insert("127.0.0.1:5000"));
        assert!(
            !hosts.insert("127.0.0.1:5000"),
            "logged the first time only"
        );
        assert!(hosts.contains("127.0.0.1:5000"));
        assert!(!hosts.contains("127.0.0.1:5001"));
        assert_eq!(hosts.all(), vec!["127.0.0.1:5000".to_owned()]);
    }

    #[tokio::test]
    async fn a_refused_connection_is_no_http2_failure_and_a_fallback_error_is_recognised() {
        let port = crate::registry::transport::tests::unused_port();
        let http = crate::registry::http_builder().build().unwrap();
        let err = http
            .get(format!("http://127.0.0.1:{port}/v2/"))
            .send()
            .await
            .unwrap_err();
        assert!(!is_http2_failure(&err));
        let moved = fell_back_error("PATCH blob", "127.0.0.1:5000", &err);
        assert!(fell_back(&moved), "{moved}");
        assert!(moved.is_retryable());
        let other = RegistryError::Transport {
            operation: "op".into(),
            message: "connection refused".into(),
            timeout: false,
            permanent: false,
        };
        assert!(!fell_back(&other));
    }
}

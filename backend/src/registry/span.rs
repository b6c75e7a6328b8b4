//! The span of one registry request, retries and auth challenges included: its method, registry,
//! the path as a template of the distribution API (`/v2/{name}/manifests/{reference}`: no
//! repository, tag or upload state in it), and once it ends its status and duration. Inside a
//! job's span, so that each request's line says which list it was for.

use std::time::Instant;

use reqwest::Method;
use tracing::Span;

/// A span for a request of `method` to `target` (a `/v2/...` path or an upload location) on
/// `registry`.
pub(crate) fn request_span(method: &Method, registry: &str, target: &str) -> Span {
    tracing::info_span!(
        "registry_request",
        method = %method,
        registry,
        path = template(target),
        status = tracing::field::Empty,
        ms = tracing::field::Empty,
    )
}

/// Records how a request ended on its span, and says so at debug level.
pub(crate) fn ended(span: &Span, status: Option<u16>, started: Instant) {
    let ms = started.elapsed().as_millis() as u64;
    if let Some(status) = status {
        span.record("status", status);
    }
    span.record("ms", ms);
    span.in_scope(|| tracing::debug!(status, ms, "done"));
}

/// The distribution API path `target` is an instance of.
pub(crate) fn template(target: &str) -> &'static str {
    let path = target.split_once("://").map_or(target, |(_, rest)| {
        rest.find('/').map_or("", |i| &rest[i..])
    });
    let path = path.split('?').next().unwrap_or_default();
    // The repository name may hold any of these words; the last one is the operation's.
    let ends = [
        ("/blobs/uploads/", "/v2/{name}/blobs/uploads/{session}"),
        ("/blobs/uploads", "/v2/{name}/blobs/uploads/"),
        ("/manifests/", "/v2/{name}/manifests/{reference}"),
        ("/blobs/", "/v2/{name}/blobs/{digest}"),
        ("/referrers/", "/v2/{name}/referrers/{digest}"),
        ("/tags/list", "/v2/{name}/tags/list"),
    ];
    let found = ends
        .iter()
        .filter_map(|(marker, template)| path.rfind(marker).map(|at| (at, *marker, *template)))
        .max_by_key(|(at, marker, _)| (*at, marker.len()));
    match found {
        Some((at, marker, template)) if marker == "/blobs/uploads/" => {
            if path.len() > at + marker.len() {
                template
            } else {
                "/v2/{name}/blobs/uploads/"
            }
        }
        Some((_, _, template)) => template,
        None if path.trim_end_matches('/') == "/v2" => "/v2/",
        None => "(other)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_becomes_its_template_without_names_tags_or_upload_state() {
        let cases = [
            ("/v2/", "/v2/"),
            ("/v2/demo/manifests/v1", "/v2/{name}/manifests/{reference}"),
            (
                "/v2/a/manifests/b/manifests/sha256:ab",
                "/v2/{name}/manifests/{reference}",
            ),
            (
                "/v2/blobs/demo/blobs/sha256:ab",
                "/v2/{name}/blobs/{digest}",
            ),
            (
                "/v2/demo/blobs/uploads/?mount=sha256:ab&from=x",
                "/v2/{name}/blobs/uploads/",
            ),
            (
                "http://127.0.0.1:5000/v2/demo/blobs/uploads/5f1c?_state=secret",
                "/v2/{name}/blobs/uploads/{session}",
            ),
            ("/v2/demo/tags/list?n=100", "/v2/{name}/tags/list"),
            (
                "/v2/demo/referrers/sha256:ab",
                "/v2/{name}/referrers/{digest}",
            ),
            ("https://cdn.example/some/object", "(other)"),
        ];
        for (path, expected) in cases {
            assert_eq!(template(path), expected, "{path}");
        }
    }
}

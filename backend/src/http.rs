//! What the two HTTP adapters (the API and the pages) share: reading a request body up to a limit
//! (each says in its own words what went wrong), the HTTP status of each kind of service error,
//! each request's id (`X-Request-Id`), and whether a request's `If-None-Match` names an entity
//! tag (RFC 9110 §13.1.2).

use actix_web::http::StatusCode;
use actix_web::web;
use futures::StreamExt as _;

use crate::service::ErrorKind;

/// The status a service error answers with.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::Upstream => StatusCode::BAD_GATEWAY,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Why a body could not be read.
#[derive(Debug)]
pub enum BodyError {
    /// The connection failed while reading it.
    Read(String),
    /// It is over the limit.
    TooLarge,
}

/// Reads the whole body, refusing it once it passes `limit` bytes.
pub async fn read_body(mut payload: web::Payload, limit: usize) -> Result<Vec<u8>, BodyError> {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| BodyError::Read(e.to_string()))?;
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The header that names a request, in its answer and in its span's `request_id`.
pub const REQUEST_ID: &str = "x-request-id";

/// The id of a request: the one its client sent in `X-Request-Id` when it is a plain token (up to
/// 64 letters, digits, `-`, `_`, `.`), else a new one.
pub fn request_id(req: &actix_web::HttpRequest) -> String {
    req.headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| {
            !id.is_empty()
                && id.len() <= 64
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        })
        .map_or_else(|| uuid::Uuid::new_v4().simple().to_string(), str::to_owned)
}

/// Whether the request's `If-None-Match` matches the entity tag whose opaque part is `tag`: `*`,
/// or a list naming it, weak or strong (If-None-Match compares weakly). A field that does not
/// parse as a list of entity tags is ignored (the representation is sent).
pub fn none_match(req: &actix_web::HttpRequest, tag: &str) -> bool {
    let mut matched = false;
    for value in req
        .headers()
        .get_all(actix_web::http::header::IF_NONE_MATCH)
    {
        match value.to_str().ok().and_then(|v| names_tag(v, tag)) {
            Some(found) => matched |= found,
            None => return false,
        }
    }
    matched
}

/// Whether one `If-None-Match` field value (`*`, or entity tags separated by commas) names `tag`;
/// `None` when it is not such a value.
fn names_tag(value: &str, tag: &str) -> Option<bool> {
    const OWS: [char; 2] = [' ', '\t'];
    let mut found = false;
    let mut rest = value.trim_matches(OWS);
    if rest == "*" {
        return Some(true);
    }
    loop {
        rest = rest.trim_start_matches(|c| OWS.contains(&c) || c == ',');
        if rest.is_empty() {
            return Some(found);
        }
        let quoted = rest.strip_prefix("W/").unwrap_or(rest).strip_prefix('"')?;
        let end = quoted.find('"')?;
        let opaque = &quoted[..end];
        if opaque.bytes().any(|b| b < 0x21 || b == 0x7f) {
            return None;
        }
        found |= opaque == tag;
        rest = quoted[end + 1..].trim_start_matches(OWS);
        if !(rest.is_empty() || rest.starts_with(',')) {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_compares_weakly_and_reads_lists_and_the_star() {
        let tag = "abc123";
        for matching in [
            "\"abc123\"",
            "W/\"abc123\"",
            "*",
            " * ",
            "\"x\", \"abc123\"",
            "\"x\",W/\"abc123\" ,",
            ", \"abc123\"\t",
        ] {
            assert_eq!(names_tag(matching, tag), Some(true), "{matching:?}");
        }
        for other in ["\"abc12\"", "\"abc1234\"", "\"\"", "W/\"x\", \"y\"", ""] {
            assert_eq!(names_tag(other, tag), Some(false), "{other:?}");
        }
        for malformed in [
            "abc123",
            "\"abc123",
            "w/\"abc123\"",
            "\"abc123\" \"x\"",
            "\"a b\"",
            "*, \"abc123\"",
        ] {
            assert_eq!(names_tag(malformed, tag), None, "{malformed:?}");
        }
    }

    #[test]
    fn if_none_match_reads_every_field_and_ignores_a_malformed_one() {
        let req = |values: &[&str]| {
            let mut r = actix_web::test::TestRequest::default();
            for v in values {
                r = r.append_header(("if-none-match", *v));
            }
            r.to_http_request()
        };
        assert!(none_match(&req(&["\"x\"", "\"t\""]), "t"));
        assert!(!none_match(&req(&["\"x\"", "\"y\""]), "t"));
        assert!(!none_match(&req(&[]), "t"));
        assert!(!none_match(&req(&["\"t\"", "garbage"]), "t"));
    }

    #[test]
    fn a_request_keeps_a_plain_id_its_client_sent_and_gets_a_new_one_otherwise() {
        let with = |id: &str| {
            let req = actix_web::test::TestRequest::default()
                .insert_header((REQUEST_ID, id))
                .to_http_request();
            request_id(&req)
        };
        assert_eq!(with("ci-build.42_a"), "ci-build.42_a");
        let fresh = request_id(&actix_web::test::TestRequest::default().to_http_request());
        assert_eq!(fresh.len(), 32);
        assert_ne!(with("a b\"injected\""), "a b\"injected\"");
        assert_eq!(with(&"x".repeat(65)).len(), 32);
    }
}

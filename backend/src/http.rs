//! What the two HTTP adapters (the API and the pages) share: reading a request body up to a limit
//! (each says in its own words what went wrong), the HTTP status of each kind of service error,
//! and each request's id (`X-Request-Id`).

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

#[cfg(test)]
mod tests {
    use super::*;

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

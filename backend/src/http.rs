//! What the two HTTP adapters (the API and the pages) share: reading a request body up to a limit
//! (each says in its own words what went wrong) and the HTTP status of each kind of service error.

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

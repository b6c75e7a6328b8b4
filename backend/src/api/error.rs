//! Errors of the JSON API: one envelope, `{"error": {"code", "message", "field", "line",
//! "column"}}`, with a stable code, and the HTTP status of each service error. Internal and
//! database errors are logged with their causes and answered with a plain 500 that shows no
//! detail; a store that cannot take the work now answers 503 `STORE_UNAVAILABLE` with
//! `Retry-After`, saying why in its own words.

use std::num::NonZeroU16;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::status_of;
use crate::model::ErrorCode;
use crate::service::{ErrorKind, ServiceError};

/// The error envelope every API error answers with.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong, for people and for programs.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable code, e.g. `INVALID_SPEC`, `NOT_FOUND`, `MANIFEST_UNKNOWN`.
    pub code: ErrorCode,
    /// What is wrong and what to do.
    pub message: String,
    /// The field at fault, as a path into the request (`manifests[1].platform`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For YAML and JSON bodies: the line at fault (1-based).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// For YAML and JSON bodies: the column at fault (1-based).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
}

/// An API error: a status and the detail to show.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    detail: ErrorDetail,
    /// Seconds for `Retry-After`, when the service said (a rate limit); small, so that the
    /// error stays small.
    retry_after: Option<NonZeroU16>,
}

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            detail: ErrorDetail {
                code,
                message: message.into(),
                field: None,
                line: None,
                column: None,
            },
            retry_after: None,
        }
    }

    /// Names the field at fault.
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.detail.field = Some(field.into());
        self
    }

    /// 404 for a thing that does not exist.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            format!("{what} does not exist"),
        )
    }

    /// A 500 that hides its cause from the client and logs it.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!("internal error: {cause}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            "the server failed; the error is in its log",
        )
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The detail.
    pub fn detail(&self) -> &ErrorDetail {
        &self.detail
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.detail.code,
            self.detail.message
        )
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if let Some(secs) = self.retry_after {
            response.insert_header(("Retry-After", secs.to_string()));
        } else if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header(("Retry-After", RETRY_AFTER_SECS.to_string()));
        }
        response.json(ErrorBody {
            error: self.detail.clone(),
        })
    }
}

/// How long a client told the store is unavailable waits before it tries again.
const RETRY_AFTER_SECS: u32 = 2;

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e.kind() {
            ErrorKind::Internal => return Self::internal(&e),
            ErrorKind::Unavailable => tracing::warn!("refused a request: {e}"),
            _ => {}
        }
        let status = status_of(e.kind());
        let (line, column) = e.position();
        Self {
            status,
            detail: ErrorDetail {
                code: e.code(),
                message: e.message(),
                field: e.field().map(str::to_owned),
                line,
                column,
            },
            retry_after: match e {
                ServiceError::RateLimited { retry_after_secs } => {
                    NonZeroU16::new(u16::try_from(retry_after_secs.max(1)).unwrap_or(u16::MAX))
                }
                _ => None,
            },
        }
    }
}

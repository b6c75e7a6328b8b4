//! Why a use case failed: one error for the adapters to render, each with a stable code, the
//! field at fault where there is one, and a message that says what to do. Store failures keep
//! their cause for the log; the adapters show them as a plain internal error.

use crate::engine::EngineError;
use crate::model::{ErrorCode, ListStatus};
use crate::registry::RegistryError;
use crate::spec::SpecError;
use crate::store::DbError;

/// Why a use case failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The request is invalid (the spec, a reference, a header, a cursor).
    #[error("{message}")]
    Invalid {
        /// What kind of invalid.
        code: ErrorCode,
        /// What is wrong.
        message: String,
        /// The field at fault, as a path into the request.
        field: Option<String>,
        /// For YAML and JSON bodies: the line at fault (1-based).
        line: Option<usize>,
        /// For YAML and JSON bodies: the column at fault (1-based).
        column: Option<usize>,
    },
    /// A registry or callback host the service may not contact.
    #[error("{message}")]
    NotAllowed {
        /// `REGISTRY_NOT_ALLOWED` or `CALLBACK_NOT_ALLOWED`.
        code: ErrorCode,
        /// Which one, and the setting that allows it.
        message: String,
        /// The field that names it.
        field: String,
    },
    /// No such thing (the text names it: "the list").
    #[error("{0} does not exist")]
    NotFound(&'static str),
    /// The list's status does not allow it.
    #[error("the list is {status}; {rule}")]
    Conflict {
        /// The list's status.
        status: ListStatus,
        /// The rule, for people.
        rule: &'static str,
    },
    /// The submission names an open staged release that expects other platforms.
    #[error("{0}")]
    ReleaseMismatch(String),
    /// The idempotency key was used before with another request.
    #[error("this Idempotency-Key was used before with another request")]
    KeyReused,
    /// The engine failed (a dry run or an inspect): the registry's error, or an invalid list.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] DbError),
    /// Too many requests now (the events' rate limit); try again after the seconds given.
    #[error("too many registry events now; try again in {retry_after_secs} s")]
    RateLimited {
        /// Seconds until the request would be taken.
        retry_after_secs: u64,
    },
    /// The service failed otherwise (the cause is logged, never shown).
    #[error("{0}")]
    Failed(String),
}

/// What kind of failure an error is, for an adapter to pick its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is malformed or invalid.
    BadRequest,
    /// The request names something the service may not contact.
    Forbidden,
    /// The thing asked for does not exist (here, or in the registry).
    NotFound,
    /// The thing's state does not allow it.
    Conflict,
    /// Well formed, but it cannot be done (a reused key, sources that make no valid list).
    Unprocessable,
    /// A registry failed or could not be reached.
    Upstream,
    /// Too many requests now; it passes (`Retry-After`).
    TooManyRequests,
    /// The store cannot take the work now (full, unreachable, busy); it may pass.
    Unavailable,
    /// The service failed.
    Internal,
}

impl ServiceError {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Invalid { .. } => ErrorKind::BadRequest,
            Self::NotAllowed { .. } => ErrorKind::Forbidden,
            Self::NotFound(_) => ErrorKind::NotFound,
            Self::Conflict { .. } | Self::ReleaseMismatch(_) => ErrorKind::Conflict,
            Self::KeyReused => ErrorKind::Unprocessable,
            Self::RateLimited { .. } => ErrorKind::TooManyRequests,
            Self::Engine(EngineError::Spec(_)) => ErrorKind::BadRequest,
            Self::Engine(EngineError::Invalid(_)) => ErrorKind::Unprocessable,
            Self::Engine(EngineError::Publish(_)) => ErrorKind::Upstream,
            Self::Engine(EngineError::Registry { source, .. }) => match source {
                RegistryError::Config(_) => ErrorKind::Forbidden,
                RegistryError::Api { status: 404, .. } => ErrorKind::NotFound,
                _ => ErrorKind::Upstream,
            },
            Self::Store(e) if e.unavailable().is_some() => ErrorKind::Unavailable,
            Self::Store(_) | Self::Failed(_) => ErrorKind::Internal,
        }
    }

    /// An invalid request naming its field.
    pub fn invalid(code: ErrorCode, field: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            code,
            message: message.into(),
            field: Some(field.to_owned()),
            line: None,
            column: None,
        }
    }

    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Invalid { code, .. } | Self::NotAllowed { code, .. } => code.clone(),
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Conflict { .. } | Self::ReleaseMismatch(_) => ErrorCode::Conflict,
            Self::KeyReused => ErrorCode::IdempotencyKeyReused,
            Self::RateLimited { .. } => ErrorCode::TooManyRequests,
            Self::Engine(e) => e.code(),
            Self::Store(e) if e.unavailable().is_some() => ErrorCode::StoreUnavailable,
            Self::Store(_) | Self::Failed(_) => ErrorCode::Internal,
        }
    }

    /// The field at fault, if the error names one.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Invalid { field, .. } => field.as_deref(),
            Self::NotAllowed { field, .. } => Some(field),
            Self::KeyReused => Some("Idempotency-Key"),
            Self::ReleaseMismatch(_) => Some("expect"),
            _ => None,
        }
    }

    /// The line and column at fault, for a spec.
    pub fn position(&self) -> (Option<usize>, Option<usize>) {
        match self {
            Self::Invalid { line, column, .. } => (*line, *column),
            _ => (None, None),
        }
    }

    /// The reference the registry failed on, for a registry error.
    pub fn reference(&self) -> Option<&str> {
        match self {
            Self::Engine(EngineError::Registry { reference, .. }) => Some(reference),
            _ => None,
        }
    }

    /// What went wrong, with its causes, for people. A store that cannot take the work now says
    /// why in its own words; any other store failure's text is internal (the adapters log it and
    /// show a plain 500).
    pub fn message(&self) -> String {
        match self {
            Self::Store(e) => match e.unavailable() {
                Some(why) => format!(
                    "the service cannot store this now: {}; nothing was accepted, try again \
                     shortly (a retry with the same Idempotency-Key is safe)",
                    why.reason()
                ),
                None => "the server failed; the error is in its log".to_owned(),
            },
            _ => crate::registry::error_chain(self),
        }
    }
}

impl ServiceError {
    /// A request body (not a spec) that does not read, naming the field at fault.
    pub fn body(e: SpecError) -> Self {
        Self::Invalid {
            code: ErrorCode::InvalidBody,
            message: e.message,
            field: e.field,
            line: e.line,
            column: e.column,
        }
    }
}

impl From<SpecError> for ServiceError {
    fn from(e: SpecError) -> Self {
        Self::Invalid {
            code: ErrorCode::InvalidSpec,
            message: e.message,
            field: e.field,
            line: e.line,
            column: e.column,
        }
    }
}

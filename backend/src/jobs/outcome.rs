//! How a job attempt ends when it does not succeed: retryable (the queue tries again after a
//! backoff, while attempts remain) or fatal — each with a stable code and a message for the list.

use crate::engine::EngineError;
use crate::model::ErrorCode;

/// A failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Trying again later may succeed (network trouble, 429, 5xx).
    Retryable {
        /// The stable code.
        code: ErrorCode,
        /// What went wrong.
        message: String,
    },
    /// Trying again cannot help.
    Fatal {
        /// The stable code.
        code: ErrorCode,
        /// What went wrong.
        message: String,
    },
}

impl Failure {
    /// A failure that may pass.
    pub(crate) fn retryable(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Retryable {
            code,
            message: message.into(),
        }
    }

    /// A failure that cannot pass.
    pub(crate) fn fatal(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Fatal {
            code,
            message: message.into(),
        }
    }

    /// The stable code.
    pub(crate) fn code(&self) -> &ErrorCode {
        match self {
            Self::Retryable { code, .. } | Self::Fatal { code, .. } => code,
        }
    }

    /// What went wrong.
    pub(crate) fn message(&self) -> &str {
        match self {
            Self::Retryable { message, .. } | Self::Fatal { message, .. } => message,
        }
    }

    /// Whether trying again may help.
    pub(crate) fn may_pass(&self) -> bool {
        matches!(self, Self::Retryable { .. })
    }
}

impl From<EngineError> for Failure {
    fn from(e: EngineError) -> Self {
        let message = crate::registry::error_chain(&e);
        if e.is_retryable() {
            Self::retryable(e.code(), message)
        } else {
            Self::fatal(e.code(), message)
        }
    }
}

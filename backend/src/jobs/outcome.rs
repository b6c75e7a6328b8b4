//! How a job attempt ends when it does not succeed: retryable (the queue tries again after a
//! backoff, while attempts remain) or fatal — each with a stable code and a message for the list,
//! and for a publish what became of each destination.

use crate::engine::EngineError;
use crate::model::{Destination, ErrorCode};

/// A failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Trying again later may succeed (network trouble, 429, 5xx).
    Retryable {
        /// The stable code.
        code: ErrorCode,
        /// What went wrong.
        message: String,
        /// With several destinations: what became of each.
        destinations: Vec<Destination>,
    },
    /// Trying again cannot help.
    Fatal {
        /// The stable code.
        code: ErrorCode,
        /// What went wrong.
        message: String,
        /// With several destinations: what became of each.
        destinations: Vec<Destination>,
    },
}

impl Failure {
    /// A failure that may pass.
    pub(crate) fn retryable(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Retryable {
            code,
            message: message.into(),
            destinations: Vec::new(),
        }
    }

    /// A failure that cannot pass.
    pub(crate) fn fatal(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Fatal {
            code,
            message: message.into(),
            destinations: Vec::new(),
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

    /// With several destinations: what became of each.
    pub(crate) fn destinations(&self) -> &[Destination] {
        match self {
            Self::Retryable { destinations, .. } | Self::Fatal { destinations, .. } => destinations,
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
        let mut failure = if e.is_retryable() || e.may_be_a_race() {
            Self::retryable(e.code(), message)
        } else {
            Self::fatal(e.code(), message)
        };
        if let EngineError::Publish(publish) = e {
            match &mut failure {
                Self::Retryable { destinations, .. } | Self::Fatal { destinations, .. } => {
                    *destinations = publish.destinations;
                }
            }
        }
        failure
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::RegistryError;
    use crate::registry::error::ApiErrorDetail;

    fn answered(status: u16, code: &str) -> EngineError {
        EngineError::registry(
            "r.io/demo:v1",
            RegistryError::Api {
                operation: "PUT manifest r.io/demo:v1".into(),
                status,
                errors: vec![ApiErrorDetail {
                    code: code.into(),
                    message: "m".into(),
                    detail: serde_json::Value::Null,
                }],
                retry_after: None,
            },
        )
    }

    #[test]
    fn a_registry_race_between_pushes_is_tried_again_and_a_missing_source_is_not() {
        for code in ["DIGEST_INVALID", "MANIFEST_BLOB_UNKNOWN"] {
            let failure = Failure::from(answered(400, code));
            assert!(failure.may_pass(), "{code}");
            assert_eq!(failure.code().as_str(), code);
        }
        assert!(Failure::from(answered(503, "UNAVAILABLE")).may_pass());
        assert!(!Failure::from(answered(404, "MANIFEST_UNKNOWN")).may_pass());
        assert!(!Failure::from(answered(403, "DENIED")).may_pass());
    }
}

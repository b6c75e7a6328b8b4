//! Errors of a push or an inspect: each names the reference at fault and says what to do.

use crate::registry::RegistryError;
use crate::spec::SpecError;

/// Why a push or an inspect failed.
#[derive(Debug, thiserror::Error)]
pub enum AssembleError {
    /// The spec is invalid.
    #[error("invalid spec: {0}")]
    Spec(#[from] SpecError),
    /// A registry request about one reference failed (the message names the reference).
    #[error("{source}")]
    Registry {
        /// The reference being worked on.
        reference: String,
        /// What the registry or the transport said.
        source: RegistryError,
    },
    /// The sources, once resolved, don't make a valid list.
    #[error("{0}")]
    Invalid(String),
}

impl AssembleError {
    /// A registry error about `reference`.
    pub fn registry(reference: impl ToString, source: RegistryError) -> Self {
        Self::Registry {
            reference: reference.to_string(),
            source,
        }
    }

    /// Whether the same push may succeed later (network trouble, 429, 5xx).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Registry { source, .. } => source.is_retryable(),
            _ => false,
        }
    }

    /// A stable code: the registry's error code, or what kind of failure this is.
    pub fn code(&self) -> String {
        match self {
            Self::Spec(_) => "INVALID_SPEC".to_owned(),
            Self::Invalid(_) => "INVALID_LIST".to_owned(),
            Self::Registry { source, .. } => match source {
                RegistryError::Api { errors, status, .. } => errors
                    .first()
                    .map(|e| e.code.clone())
                    .filter(|c| !c.is_empty())
                    .unwrap_or_else(|| format!("HTTP_{status}")),
                RegistryError::Transport { .. } => "REGISTRY_UNREACHABLE".to_owned(),
                RegistryError::DigestMismatch { .. } => "DIGEST_MISMATCH".to_owned(),
                RegistryError::Protocol { .. } => "REGISTRY_PROTOCOL".to_owned(),
                RegistryError::Config(_) => "REGISTRY_NOT_ALLOWED".to_owned(),
            },
        }
    }
}

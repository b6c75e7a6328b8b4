//! Errors of the engine (a plan, a push, an inspect): each names the reference at fault, carries
//! a stable [`ErrorCode`] and says whether trying again may help.

use super::publish::PublishFailure;
use crate::model::ErrorCode;
use crate::registry::RegistryError;
use crate::spec::SpecError;

/// Why a push or an inspect failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
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
    /// A publish to several destinations failed: the message names the destination at fault and
    /// what became of the others' tags.
    #[error("{}", .0.message)]
    Publish(Box<PublishFailure>),
}

impl EngineError {
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
            Self::Publish(failure) => failure.cause.is_retryable(),
            _ => false,
        }
    }

    /// Whether the failure may be the registry losing a race between pushes of the same content
    /// (distribution answers `DIGEST_INVALID` or `MANIFEST_BLOB_UNKNOWN` when two pushes write
    /// one child at once): a push queued again later may pass.
    pub fn may_be_a_race(&self) -> bool {
        matches!(
            self.code(),
            ErrorCode::DigestInvalid | ErrorCode::ManifestBlobUnknown | ErrorCode::BlobUnknown
        )
    }

    /// A stable code: the registry's error code, or what kind of failure this is.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Spec(_) => ErrorCode::InvalidSpec,
            Self::Invalid(_) => ErrorCode::InvalidList,
            Self::Registry { source, .. } => source.code(),
            Self::Publish(failure) => failure.cause.code(),
        }
    }
}

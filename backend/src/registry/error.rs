//! Errors of the registry client, carrying the registry's own error codes (the advice on what to do
//! about each is `model::ErrorCode::advice`).

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use crate::model::{Audience, ErrorCode};
use crate::retry::Verdict;

/// One entry of a registry's `{"errors": [...]}` body.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ApiErrorDetail {
    /// The distribution error code, e.g. `MANIFEST_BLOB_UNKNOWN`.
    #[serde(default)]
    pub code: String,
    /// The registry's message.
    #[serde(default)]
    pub message: String,
    /// Extra detail (often the digest or the name at fault).
    #[serde(default)]
    pub detail: serde_json::Value,
}

impl fmt::Display for ApiErrorDetail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.code)?;
        self.fmt_message(f)
    }
}

impl ApiErrorDetail {
    /// Whether it says a rate limit was hit (Docker Hub's and GHCR's `TOOMANYREQUESTS`, GitHub's
    /// "You have exceeded a secondary rate limit").
    pub(crate) fn mentions_rate_limit(&self) -> bool {
        self.code.eq_ignore_ascii_case("TOOMANYREQUESTS")
            || self.message.to_ascii_lowercase().contains("rate limit")
    }

    /// The message and its detail, without the code.
    fn fmt_message(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)?;
        match &self.detail {
            serde_json::Value::Null => Ok(()),
            serde_json::Value::String(s) if s.is_empty() => Ok(()),
            serde_json::Value::String(s) => write!(f, " ({s})"),
            other => write!(f, " ({other})"),
        }
    }
}

/// What went wrong talking to a registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry answered with an error status.
    #[error("{operation}: the registry answered {status}{}{}", format_details(.errors), hint_suffix(*.status, .errors))]
    Api {
        /// What was being done (`GET manifest 127.0.0.1:5000/demo:v1`).
        operation: String,
        /// The HTTP status.
        status: u16,
        /// The registry's error entries (may be empty).
        errors: Vec<ApiErrorDetail>,
        /// Seconds the registry asked to wait (`Retry-After`), if any.
        retry_after: Option<u64>,
    },
    /// The request never got an answer (connection refused, reset, timed out, TLS failure).
    #[error("{operation}: {message}")]
    Transport {
        /// What was being done.
        operation: String,
        /// The transport error, with its causes.
        message: String,
        /// Whether it was a timeout.
        timeout: bool,
        /// Whether trying again cannot help: a TLS certificate that is not trusted, or HTTP and
        /// HTTPS mixed up.
        permanent: bool,
    },
    /// A digest did not match: the content is not what was asked for or what was sent.
    #[error("{operation}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// What was being done.
        operation: String,
        /// The digest asked for or computed.
        expected: String,
        /// The digest received.
        actual: String,
    },
    /// The registry sent something that is not a usable manifest or answer.
    #[error("{operation}: {message}")]
    Protocol {
        /// What was being done.
        operation: String,
        /// What was wrong.
        message: String,
    },
    /// The client was asked to do something its configuration does not allow.
    #[error("{0}")]
    Config(String),
}

impl RegistryError {
    /// The HTTP status, when the registry answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the registry said the thing does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Api { status: 404, .. })
    }

    /// Whether the registry refused the request for its rate: `429`, or a `403` that says it is
    /// a rate limit (GitHub's secondary rate limit).
    pub fn is_rate_limited(&self) -> bool {
        match self {
            Self::Api { status: 429, .. } => true,
            Self::Api {
                status: 403,
                errors,
                ..
            } => errors.iter().any(ApiErrorDetail::mentions_rate_limit),
            _ => false,
        }
    }

    /// Whether trying again later may succeed: transport failures (but not TLS or scheme
    /// mismatches), 429, a 403 rate limit and 5xx. Never 4xx otherwise.
    pub fn is_retryable(&self) -> bool {
        match self {
            _ if self.is_rate_limited() => true,
            Self::Api { status, .. } => *status >= 500,
            Self::Transport { permanent, .. } => !permanent,
            _ => false,
        }
    }

    /// What a retry loop does after this error: try again when it may pass — after the
    /// registry's `Retry-After` if it gave one (the policy caps it) — else stop.
    pub(crate) fn verdict(&self) -> Verdict {
        match self {
            _ if !self.is_retryable() => Verdict::Stop,
            Self::Api {
                retry_after: Some(secs),
                ..
            } => Verdict::Retry(Some(Duration::from_secs(*secs))),
            _ => Verdict::Retry(None),
        }
    }

    /// The same error, saying that `attempts` attempts were made when it was retried before it
    /// was given up on (a retryable error after one attempt, one that already says so, and any
    /// other error are unchanged).
    pub(crate) fn after_attempts(self, attempts: u32) -> Self {
        if attempts < 2 || !self.is_retryable() || self.to_string().contains(" times)") {
            return self;
        }
        let note = format!("the request was tried {attempts} times");
        match self {
            Self::Transport {
                operation,
                message,
                timeout,
                permanent,
            } => Self::Transport {
                operation,
                message: format!("{message} ({note})"),
                timeout,
                permanent,
            },
            Self::Api {
                operation,
                status,
                errors,
                retry_after,
            } => Self::Api {
                operation: format!("{operation} ({note})"),
                status,
                errors,
                retry_after,
            },
            other => other,
        }
    }

    /// What was being done (`GET manifest 127.0.0.1:5000/demo:v1`), when the error says.
    fn operation(&self) -> Option<&str> {
        match self {
            Self::Api { operation, .. }
            | Self::Transport { operation, .. }
            | Self::DigestMismatch { operation, .. }
            | Self::Protocol { operation, .. } => Some(operation),
            Self::Config(_) => None,
        }
    }

    /// Why it failed, in a few words, without the operation, the causes around the innermost one,
    /// or advice: the status and code a registry answered, "timed out", or the innermost cause of
    /// a transport failure.
    pub(crate) fn reason(&self) -> String {
        match self {
            Self::Api { status, errors, .. } => match errors.first() {
                Some(e) if !e.code.is_empty() => {
                    format!("the registry answered {status} {}", e.code)
                }
                _ => format!("the registry answered {status}"),
            },
            Self::Transport { timeout: true, .. } => "timed out".to_owned(),
            Self::Transport { message, .. } => {
                let without_advice = message.split(" — ").next().unwrap_or(message);
                let innermost = without_advice.rsplit(": ").next();
                innermost.unwrap_or(without_advice).to_owned()
            }
            Self::DigestMismatch { .. } => "digest mismatch".to_owned(),
            Self::Protocol { message, .. } => message.clone(),
            Self::Config(message) => message.clone(),
        }
    }

    /// The stable code: the registry's own first error code, else what kind of failure this is
    /// (`HTTP_<status>` for an answer without a code).
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Api { errors, status, .. } => api_code(*status, errors),
            Self::Transport { .. } => ErrorCode::RegistryUnreachable,
            Self::DigestMismatch { .. } => ErrorCode::DigestMismatch,
            Self::Protocol { .. } => ErrorCode::RegistryProtocol,
            Self::Config(_) => ErrorCode::RegistryNotAllowed,
        }
    }
}

/// The code of an answer: the registry's first code, else `HTTP_<status>`; a refusal to move an
/// immutable tag is `TAG_IMMUTABLE` whatever the registry calls it (ECR says `TAG_INVALID` "…
/// cannot be overwritten because the tag is immutable"; Harbor names the tag "immutable" too).
fn api_code(status: u16, errors: &[ApiErrorDetail]) -> ErrorCode {
    let immutable = errors
        .iter()
        .any(|e| e.message.to_ascii_lowercase().contains("immutable"));
    if immutable && (400..500).contains(&status) {
        return ErrorCode::TagImmutable;
    }
    errors
        .first()
        .filter(|e| !e.code.is_empty())
        .map_or(ErrorCode::Http(status), |e| ErrorCode::parse(&e.code))
}

/// The entries after the status, each code said once: an entry with the code of the one before
/// it (our lead, then the registry's own words) gives only its message.
/// Logs that `err` ended attempt `attempt` (from 1) of at most `max` and the work is tried
/// again: what was being done and why, in a few words. The whole error, with its causes and
/// advice, is said once, by whoever gives up after the last attempt.
pub(crate) fn warn_retrying(err: &RegistryError, attempt: u32, max: u32) {
    let what = err.operation().unwrap_or("a registry request");
    let reason = err.reason();
    tracing::warn!(
        "{what}: {reason}; retrying (attempt {} of {max})",
        attempt + 1
    );
}

fn format_details(errors: &[ApiErrorDetail]) -> String {
    /// An entry's message without its code.
    struct Message<'a>(&'a ApiErrorDetail);
    impl fmt::Display for Message<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            self.0.fmt_message(f)
        }
    }
    let mut out = String::new();
    let mut previous: Option<&str> = None;
    for e in errors {
        out.push_str(if previous.is_none() { ": " } else { "; " });
        if previous == Some(e.code.as_str()) && !e.code.is_empty() {
            out.push_str(&Message(e).to_string());
        } else {
            out.push_str(&e.to_string());
        }
        previous = Some(&e.code);
    }
    out
}

/// The command line's advice for an answer, after its details: from the registry's code, else from
/// the status alone.
fn hint_suffix(status: u16, errors: &[ApiErrorDetail]) -> String {
    api_code(status, errors)
        .advice(Audience::Cli)
        .or_else(|| ErrorCode::Http(status).advice(Audience::Cli))
        .map_or_else(String::new, |hint| format!(" — {hint}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_api_error_shows_code_detail_and_advice() {
        let err = RegistryError::Api {
            operation: "PUT manifest 127.0.0.1:5000/demo:v1".into(),
            status: 400,
            errors: vec![ApiErrorDetail {
                code: "MANIFEST_BLOB_UNKNOWN".into(),
                message: "blob unknown to registry".into(),
                detail: serde_json::json!("sha256:abc"),
            }],
            retry_after: None,
        };
        let text = err.to_string();
        assert!(
            text.contains("400: MANIFEST_BLOB_UNKNOWN: blob unknown to registry (sha256:abc)"),
            "{text}"
        );
        assert!(text.contains("target repository"), "{text}");
        assert!(!err.is_retryable());
        assert_eq!(err.code(), ErrorCode::ManifestBlobUnknown);
    }

    #[test]
    fn a_refusal_to_move_an_immutable_tag_is_tag_immutable_with_advice_whatever_the_registry_calls_it()
     {
        let ecr = RegistryError::Api {
            operation: "PUT manifest r/app:v1".into(),
            status: 400,
            errors: vec![ApiErrorDetail {
                code: "TAG_INVALID".into(),
                message: "The image tag 'v1' already exists in the 'app' repository and cannot \
                          be overwritten because the tag is immutable."
                    .into(),
                detail: serde_json::Value::Null,
            }],
            retry_after: None,
        };
        let other = RegistryError::Api {
            operation: "PUT manifest r/app:v1".into(),
            status: 400,
            errors: vec![ApiErrorDetail {
                code: "TAG_INVALID".into(),
                message: "manifest tag did not match URI".into(),
                detail: serde_json::Value::Null,
            }],
            retry_after: None,
        };

        assert_eq!(ecr.code(), ErrorCode::TagImmutable);
        assert!(ecr.to_string().contains("push under a new tag"), "{ecr}");
        assert_eq!(other.code(), ErrorCode::Other("TAG_INVALID".into()));
    }

    #[test]
    fn our_lead_and_the_registrys_entry_of_the_same_code_say_the_code_once() {
        let detail = |code: &str, message: &str| ApiErrorDetail {
            code: code.into(),
            message: message.into(),
            detail: serde_json::Value::Null,
        };
        let err = RegistryError::Api {
            operation: "GET manifest r/x:y".into(),
            status: 401,
            errors: vec![
                detail("UNAUTHORIZED", "no credentials were given for r"),
                detail("UNAUTHORIZED", "authentication required"),
                detail("DENIED", "denied"),
            ],
            retry_after: None,
        };

        let text = err.to_string();

        assert!(
            text.contains(
                "401: UNAUTHORIZED: no credentials were given for r; authentication required; \
                 DENIED: denied — "
            ),
            "{text}"
        );
        assert_eq!(text.matches("check the credentials").count(), 1, "{text}");
    }

    #[test]
    fn the_reason_of_a_retry_is_the_status_and_code_or_the_innermost_cause() {
        let refused = RegistryError::Transport {
            operation: "GET manifest r/x:y".into(),
            message: "error sending request for url (http://r/v2/x/manifests/y): client error \
                      (Connect): tcp connect error: Connection refused (os error 111) — is the \
                      registry at r running?"
                .into(),
            timeout: false,
            permanent: false,
        };
        let unavailable = RegistryError::Api {
            operation: "GET manifest r/x:y".into(),
            status: 503,
            errors: vec![ApiErrorDetail {
                code: "UNAVAILABLE".into(),
                message: "down".into(),
                detail: serde_json::Value::Null,
            }],
            retry_after: None,
        };

        assert_eq!(refused.reason(), "Connection refused (os error 111)");
        assert_eq!(
            unavailable.reason(),
            "the registry answered 503 UNAVAILABLE"
        );
    }

    #[test]
    fn rate_limits_server_errors_and_transport_failures_are_retryable() {
        let api = |status| RegistryError::Api {
            operation: "x".into(),
            status,
            errors: vec![],
            retry_after: None,
        };
        assert!(api(429).is_retryable());
        assert!(api(503).is_retryable());
        assert!(!api(404).is_retryable());
        assert!(api(404).is_not_found());
        let t = RegistryError::Transport {
            operation: "x".into(),
            message: "reset".into(),
            timeout: false,
            permanent: false,
        };
        assert!(t.is_retryable());
        let tls = RegistryError::Transport {
            operation: "x".into(),
            message: "invalid peer certificate: UnknownIssuer".into(),
            timeout: false,
            permanent: true,
        };
        assert!(!tls.is_retryable());
    }

    #[test]
    fn an_error_given_up_on_after_retries_says_how_many_attempts_were_made() {
        let t = RegistryError::Transport {
            operation: "GET manifest r/x:y".into(),
            message: "connection reset".into(),
            timeout: false,
            permanent: false,
        };
        let text = t.after_attempts(4).to_string();
        assert!(text.contains("(the request was tried 4 times)"), "{text}");
        let err = RegistryError::Transport {
            operation: "op".into(),
            message: "reset".into(),
            timeout: false,
            permanent: false,
        };
        let twice = err.after_attempts(3).after_attempts(2).to_string();
        assert_eq!(twice.matches("was tried").count(), 1, "{twice}");
        let api = RegistryError::Api {
            operation: "PUT manifest r/x:y".into(),
            status: 503,
            errors: vec![],
            retry_after: None,
        };
        assert!(
            api.after_attempts(2)
                .to_string()
                .contains("(the request was tried 2 times)")
        );
        let not_found = RegistryError::Api {
            operation: "GET manifest r/x:y".into(),
            status: 404,
            errors: vec![],
            retry_after: None,
        };
        assert!(!not_found.after_attempts(3).to_string().contains("attempts"));
    }
}

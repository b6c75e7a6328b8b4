//! The stable error codes manifold answers with — its own, and the registry's own — and the one
//! table that says, for each, what to do about it. The command line and the service give different
//! advice where the fix differs (`--username` against `MANIFOLD_DOCKER_CONFIG`).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Who reads the advice: the fix is a flag for one and a setting for the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Someone at the command line.
    Cli,
    /// A user of the service (API, pages, callbacks).
    Service,
}

/// The command line's advice and the service's.
type Pair = (Option<&'static str>, Option<&'static str>);

/// Declares the codes with their names.
macro_rules! codes {
    ($($(#[$meta:meta])* $variant:ident = $text:literal),+ $(,)?) => {
        /// A stable error code.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[$meta])* $variant,)+
            /// The registry answered this HTTP status without a code of its own (`HTTP_503`).
            Http(u16),
            /// A registry code manifold has no advice for, kept as the registry sent it.
            Other(String),
        }

        impl ErrorCode {
            /// The code as sent and stored.
            pub fn as_str(&self) -> std::borrow::Cow<'_, str> {
                match self {
                    $(Self::$variant => std::borrow::Cow::Borrowed($text),)+
                    Self::Http(status) => std::borrow::Cow::Owned(format!("HTTP_{status}")),
                    Self::Other(code) => std::borrow::Cow::Borrowed(code.as_str()),
                }
            }

            /// Reads a code; any text is a code (unknown ones are [`ErrorCode::Other`]).
            pub fn parse(text: &str) -> Self {
                match text {
                    $($text => Self::$variant,)+
                    _ => text
                        .strip_prefix("HTTP_")
                        .and_then(|s| s.parse().ok())
                        .map_or_else(|| Self::Other(text.to_owned()), Self::Http),
                }
            }
        }
    };
}

codes! {
    /// The spec is invalid (the message names the field).
    InvalidSpec = "INVALID_SPEC",
    /// A command-line argument is wrong or a file it names cannot be read.
    InvalidArgument = "INVALID_ARGUMENT",
    /// The sources, once resolved, do not make a valid list.
    InvalidList = "INVALID_LIST",
    /// A reference given to inspect is not one.
    InvalidReference = "INVALID_REFERENCE",
    /// A body that cannot be read.
    InvalidBody = "INVALID_BODY",
    /// A header with a bad value.
    InvalidHeader = "INVALID_HEADER",
    /// A paging cursor this service did not give.
    InvalidCursor = "INVALID_CURSOR",
    /// A query parameter with a bad value.
    InvalidQuery = "INVALID_QUERY",
    /// A body over the size limit.
    BodyTooLarge = "BODY_TOO_LARGE",
    /// A request whose address or headers are over the service's bounds.
    RequestTooLarge = "REQUEST_TOO_LARGE",
    /// A body in a format the endpoint does not take.
    UnsupportedMediaType = "UNSUPPORTED_MEDIA_TYPE",
    /// No credentials (an API token, or the registry's).
    Unauthorized = "UNAUTHORIZED",
    /// Credentials that may not do this.
    Forbidden = "FORBIDDEN",
    /// A registry not on the service's allow-list.
    RegistryNotAllowed = "REGISTRY_NOT_ALLOWED",
    /// A callback host not on the service's allow-list.
    CallbackNotAllowed = "CALLBACK_NOT_ALLOWED",
    /// No such thing.
    NotFound = "NOT_FOUND",
    /// The address exists, with other methods.
    MethodNotAllowed = "METHOD_NOT_ALLOWED",
    /// The thing's state does not allow it.
    Conflict = "CONFLICT",
    /// An idempotency key used before with another request.
    IdempotencyKeyReused = "IDEMPOTENCY_KEY_REUSED",
    /// A job that ran out of attempts.
    GaveUp = "GAVE_UP",
    /// The server failed; the cause is in its log.
    Internal = "INTERNAL",
    /// The service's database cannot take the work now (full, unreachable, busy): try again.
    StoreUnavailable = "STORE_UNAVAILABLE",
    /// A queued job whose stored submission the workers cannot read; it failed alone.
    UnreadableJob = "UNREADABLE_JOB",
    /// A staged release that did not get every platform it expects before its deadline.
    ReleaseIncomplete = "RELEASE_INCOMPLETE",
    /// The registry could not be reached.
    RegistryUnreachable = "REGISTRY_UNREACHABLE",
    /// The registry answered something that is not the distribution protocol.
    RegistryProtocol = "REGISTRY_PROTOCOL",
    /// Content whose digest is not the one asked for or sent.
    DigestMismatch = "DIGEST_MISMATCH",
    /// distribution: the manifest does not exist.
    ManifestUnknown = "MANIFEST_UNKNOWN",
    /// distribution: a manifest refers to a blob or child the repository does not hold.
    ManifestBlobUnknown = "MANIFEST_BLOB_UNKNOWN",
    /// distribution: the manifest document was refused.
    ManifestInvalid = "MANIFEST_INVALID",
    /// distribution: the blob does not exist.
    BlobUnknown = "BLOB_UNKNOWN",
    /// distribution: content did not match its digest.
    DigestInvalid = "DIGEST_INVALID",
    /// distribution: the repository does not exist.
    NameUnknown = "NAME_UNKNOWN",
    /// distribution: access denied.
    Denied = "DENIED",
    /// The token lacks a scope the request needs.
    InsufficientScope = "INSUFFICIENT_SCOPE",
    /// The registry is rate limiting.
    TooManyRequests = "TOOMANYREQUESTS",
    /// distribution: the operation or media type is not supported.
    Unsupported = "UNSUPPORTED",
    /// The tag exists and the repository does not let it be moved (ECR's and Harbor's immutable
    /// tags; ECR says `TAG_INVALID`).
    TagImmutable = "TAG_IMMUTABLE",
}

impl ErrorCode {
    /// What this code usually means and what to do, for `audience`; `None` where the message
    /// says all there is. The command line's advice is a short clause after the message; the
    /// service's, a sentence of its own.
    pub fn advice(&self, audience: Audience) -> Option<&'static str> {
        let (cli, service) = self.advice_pair()?;
        match audience {
            Audience::Cli => cli,
            Audience::Service => service,
        }
    }

    /// The table: for each code, the command line's advice and the service's.
    fn advice_pair(&self) -> Option<Pair> {
        self.registry_advice().or_else(|| self.own_advice())
    }

    /// Advice for manifold's own codes about registries and lists.
    fn own_advice(&self) -> Option<Pair> {
        Some(match self {
            Self::RegistryUnreachable => (
                None,
                Some(
                    "The service could not reach the registry: check the host and port, DNS, \
                     TLS, and that the registry is up. The push is retried on its own a few times.",
                ),
            ),
            Self::DigestMismatch => (
                None,
                Some(
                    "The registry sent content whose digest is not the one asked for (or stored \
                     the list under another digest). A proxy may be rewriting content; nothing \
                     was trusted.",
                ),
            ),
            Self::RegistryNotAllowed => (
                None,
                Some(
                    "The service may not talk to this registry: it is not in its allow-list \
                     (MANIFOLD_REGISTRIES).",
                ),
            ),
            Self::InvalidList => (
                None,
                Some(
                    "The sources do not make a valid list: for example two of them have the same \
                     platform, or an entry is itself a list.",
                ),
            ),
            Self::InvalidSpec => (
                None,
                Some("The spec is invalid; the message names the field at fault."),
            ),
            Self::StoreUnavailable => (
                None,
                Some(
                    "The service's database could not take the request (full, unreachable or \
                     busy); nothing was accepted. Try again shortly; the operator sees the cause \
                     in the service's log and /readyz.",
                ),
            ),
            Self::UnreadableJob => (
                None,
                Some(
                    "The service could not read this list's stored submission (written by another \
                     version, or edited by hand), so it failed without being pushed. Submit the \
                     spec again.",
                ),
            ),
            Self::ReleaseIncomplete => (
                None,
                Some(
                    "The release's deadline passed before every platform it expects arrived, so \
                     its tag was not moved. Run the missing platforms' jobs and submit again (a \
                     new cycle of the same release key starts), or give a longer deadline_secs.",
                ),
            ),
            Self::RegistryProtocol => (
                None,
                Some(
                    "The registry answered something the service did not expect. Check that the \
                     address is a registry (and not, say, a login page).",
                ),
            ),
            _ => return None,
        })
    }

    /// Advice for the registry's codes (and HTTP statuses without one).
    fn registry_advice(&self) -> Option<Pair> {
        Some(match self {
            Self::ManifestUnknown => (
                Some("check that the image exists and that the tag or digest is spelled right"),
                Some(
                    "A source image or tag does not exist in its registry. Check the reference, \
                     and push the per-architecture image before the list.",
                ),
            ),
            Self::NameUnknown => (
                Some("the repository does not exist; check the name"),
                Some(
                    "The repository does not exist in that registry. Check the spelling of the \
                     repository, and whether it needs to be created first.",
                ),
            ),
            Self::ManifestBlobUnknown => (
                Some(
                    "a child manifest or blob is not in the target repository; push the sources \
                     to the same registry, or check that the registry allows cross-repository \
                     mounts",
                ),
                Some(
                    "The registry is missing a layer or config that a manifest refers to in the \
                     target repository, so the copy into it did not complete. Retrying usually \
                     fixes it; if not, check that the source repository still holds its layers.",
                ),
            ),
            Self::BlobUnknown => (
                Some("the blob does not exist in the source repository any more"),
                Self::ManifestBlobUnknown.advice(Audience::Service),
            ),
            Self::Unauthorized => (
                Some(
                    "check the credentials (--username/--password, or docker login for this registry)",
                ),
                Some(
                    "The registry wants credentials that the service does not have, or refused \
                     the ones it has. Add them to the service's Docker config \
                     (MANIFOLD_DOCKER_CONFIG).",
                ),
            ),
            Self::InsufficientScope => (
                Some(
                    "the credentials lack permission: pushing needs pull and push on the target \
                     and pull on every source repository",
                ),
                Self::Denied.advice(Audience::Service),
            ),
            Self::Denied => (
                Some("the credentials lack permission for this repository"),
                Some(
                    "The credentials are valid but may not do this: they lack push access to the \
                     target repository or pull access to a source. Grant the scope, or use \
                     another account.",
                ),
            ),
            Self::TooManyRequests => (
                Some("the registry is rate limiting; try again later"),
                Some("The registry is rate-limiting the service. Wait a little and retry."),
            ),
            Self::ManifestInvalid | Self::Unsupported => (
                (*self == Self::ManifestInvalid)
                    .then_some("the registry rejected the manifest document"),
                Some(
                    "The registry refused the list document. Some registries take only one list \
                     type: try type docker or oci.",
                ),
            ),
            Self::TagImmutable => (
                Some(
                    "the repository's tags are immutable and this tag holds another image; push \
                     under a new tag, or make the tag mutable in the registry",
                ),
                Some(
                    "The target repository does not let a tag that exists be moved (immutable \
                     tags) and the tag holds another list or image. Push under a new tag, or have \
                     the tag made mutable in the registry's settings.",
                ),
            ),
            Self::Http(401) => Self::Unauthorized.advice_pair()?,
            Self::Http(403) => Self::Denied.advice_pair()?,
            Self::Http(404) => Self::ManifestUnknown.advice_pair()?,
            Self::Http(429) => Self::TooManyRequests.advice_pair()?,
            Self::Http(500..) => (
                Some("the registry failed; try again later"),
                Some(
                    "The registry failed on its side. The push is retried on its own a few times; \
                     retry later if it still fails.",
                ),
            ),
            _ => return None,
        })
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str())
    }
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl From<&str> for ErrorCode {
    fn from(text: &str) -> Self {
        Self::parse(text)
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self::parse(&std::borrow::Cow::<str>::deserialize(d)?))
    }
}

impl utoipa::PartialSchema for ErrorCode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some(
                "A stable code: manifold's own (INVALID_SPEC, NOT_FOUND, REGISTRY_UNREACHABLE, …), \
                 the registry's (MANIFEST_UNKNOWN, …), or HTTP_<status>",
            ))
            .examples([serde_json::json!("MANIFEST_UNKNOWN")])
            .into()
    }
}

impl utoipa::ToSchema for ErrorCode {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_read_back_as_they_are_written() {
        for text in [
            "INVALID_SPEC",
            "MANIFEST_UNKNOWN",
            "HTTP_503",
            "SOMETHING_NEW",
        ] {
            assert_eq!(ErrorCode::parse(text).as_str(), text);
        }
        assert_eq!(ErrorCode::parse("HTTP_503"), ErrorCode::Http(503));
        assert_eq!(
            ErrorCode::parse("SOMETHING_NEW"),
            ErrorCode::Other("SOMETHING_NEW".into())
        );
    }

    #[test]
    fn common_registry_codes_are_explained() {
        for code in [
            "MANIFEST_UNKNOWN",
            "UNAUTHORIZED",
            "INSUFFICIENT_SCOPE",
            "REGISTRY_UNREACHABLE",
            "MANIFEST_BLOB_UNKNOWN",
            "DIGEST_MISMATCH",
            "TAG_IMMUTABLE",
            "HTTP_503",
        ] {
            assert!(
                ErrorCode::parse(code).advice(Audience::Service).is_some(),
                "{code}"
            );
        }
        assert!(
            ErrorCode::parse("SOMETHING_ELSE")
                .advice(Audience::Service)
                .is_none()
        );
    }

    #[test]
    fn the_advice_names_the_fix_its_reader_has() {
        let code = ErrorCode::Unauthorized;
        assert!(code.advice(Audience::Cli).unwrap().contains("--username"));
        assert!(
            code.advice(Audience::Service)
                .unwrap()
                .contains("MANIFOLD_DOCKER_CONFIG")
        );
        assert_eq!(
            ErrorCode::Http(404).advice(Audience::Cli),
            ErrorCode::ManifestUnknown.advice(Audience::Cli)
        );
        assert!(
            ErrorCode::InsufficientScope
                .advice(Audience::Cli)
                .unwrap()
                .contains("pull on every source repository")
        );
    }
}

//! Leaf value types every layer shares: what a list is, where it is in its life, the digest of a
//! content-addressed thing, a platform, a secret that never prints, one entry of a list, what the
//! watch finds a pushed list drifted by, what refers to an image (signatures, attestations,
//! SBOMs), what became of each destination of a publish, who submitted a list with an OIDC ID token, a submission's options and the rule that
//! merges them, a staged release and how its arrivals make its list, and the stable error codes
//! with the
//! one table of advice on what to do about each.
//!
//! Pure data and its invariants: nothing here performs I/O or imports another module of the crate.

mod clock;
mod digest;
mod drift;
mod entry;
mod error_code;
mod identity;
mod names;
mod options;
pub mod platform;
mod publish;
pub mod reference;
mod referrer;
pub mod release;
mod repair;
mod secret;

pub use clock::Clock;
pub use digest::{Digest, DigestError};
pub use drift::{DriftEvent, DriftReason, SourcePin};
pub use entry::Entry;
pub use error_code::{Audience, ErrorCode};
pub use identity::Identity;
pub use names::{
    CallbackStatus, DriftStatus, ListFormat, ListStatus, ListType, Operation, SpecFormat,
    UnknownName,
};
pub use options::{AskedOptions, ListOptions};
pub use platform::Platform;
pub use publish::{Destination, Outcome};
pub use reference::Reference;
pub use referrer::{Referrer, ReferrerKind, SIGSTORE_PREDICATE_ANNOTATION, digest_tag, tally};
pub use release::{OnDeadline, Staging};
pub use repair::Repair;
pub use secret::Secret;

/// Largest list document manifold writes or reads, as distribution limits manifests to 4 MiB (a
/// spec is bounded by the list it produces, its entries estimated as they are read, not by its
/// text).
pub const MAX_LIST_BYTES: usize = 4 * 1024 * 1024;

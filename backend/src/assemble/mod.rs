//! The push algorithm and inspect, on top of the registry client.
//!
//! Owns the order of requests (DESIGN §2): resolve every source concurrently, read platforms from
//! configs where the spec has none, make every child present in the target repository (mount, or a
//! streamed copy), serialise the list deterministically, PUT it and its tags, verify the digest.
//! It knows nothing of HTTP servers, queues or databases.

mod error;
mod inspect;
mod list;
mod present;
mod push;
mod resolve;

pub use error::AssembleError;
pub use inspect::{ImageDetails, InspectEntry, Inspection, inspect};
pub use list::ListDocument;
pub use push::{EntryReport, PushOptions, PushReport, Skipped, push};

//! The engine: how a list gets into a registry, on top of the registry client.
//!
//! Owns the order of requests (DESIGN §2). A push is a [`plan`] — resolve every source
//! concurrently, read platforms from configs where the spec has none, choose the list type,
//! serialise the document — then [`Plan::push`]: make every child present in the target
//! repository (mount, or a streamed copy), PUT the list and its tags, verify the digest. A dry run
//! is a plan reported instead of pushed. Also [`inspect`], with its text layout and manifest-tool's `--raw` shape, and the check of
//! a pushed list against its registry ([`check_drift`]), and what a registry does, probed
//! ([`doctor`]).
//!
//! It knows nothing of HTTP servers, queues or databases: it imports only `registry`, `spec` and
//! `model`.

mod copy;
mod copy_plan;
mod current;
mod doctor;
mod drift;
mod edit;
mod error;
mod inherit;
mod inspect;
mod inspect_raw;
mod inspect_text;
mod manifest_tool;
mod plan;
mod platform;
mod publish;
mod push;
mod referrers;
mod refused;
mod resolve;
mod settle;
mod verify;
mod verify_pull;

pub use crate::model::{Destination, Outcome};
pub use doctor::{Diagnosis, DoctorOptions, Probe, Writes, doctor};
pub use drift::{Pushed, check as check_drift};
pub use error::EngineError;
pub use inspect::{ImageDetails, InspectEntry, Inspection, inspect};
pub use plan::{ChildrenFrom, DEFAULT_CONCURRENCY, ListDocument, Plan, PushOptions, plan};
pub use publish::{PublishFailure, publish};
pub use push::{PushReport, push, release, run, stage};
pub use resolve::Skipped;
pub use verify::{PlatformCheck, Verification, check, pick, verify};
pub use verify_pull::EntryCheck;

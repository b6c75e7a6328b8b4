//! manifold: assembles multi-architecture container images.
//!
//! The layers, top to bottom (each imports only below it; see `docs/ARCHITECTURE.md`):
//!
//! - `main`, [`cli`] — the command line: the engine directly for `push`/`inspect`, the composition
//!   root for `serve`.
//! - [`startup`] — the composition root: store, services, workers, the HTTP app.
//! - [`api`], [`pages`], [`jobs`] — the adapters: JSON, HTML, the queue's workers.
//! - [`service`] — the use cases the adapters share.
//! - [`engine`], [`store`] — how a list gets into a registry; every SQL statement.
//! - [`registry`], [`spec`], [`model`] — the distribution client; list specs; value types.
//! - [`oidc`] — CI jobs' OIDC ID tokens: verified against their issuers' keys, and the rules of
//!   what they may write (below `config` and `service`, beside `registry`).
//!
//! Beside them, leaves anyone may use: [`config`], [`auth`], [`retry`], [`metrics`], [`http`].
//! Reading order for a newcomer: `model`, `spec`, `registry`, `engine` (a push end to end), then
//! `store`, `service`, `jobs`, `api`, `pages`.

pub mod api;
pub mod auth;
pub mod cli;
pub mod config;
pub mod engine;
pub mod http;
pub mod jobs;
pub mod metrics;
pub mod model;
pub mod oidc;
pub mod pages;
pub mod registry;
pub mod retry;
pub mod service;
pub mod spec;
pub mod startup;
pub mod store;

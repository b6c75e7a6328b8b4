//! manifold: assembles multi-architecture container images.
//!
//! Data flows one way: `cli` → `assemble` → `registry`; `spec` is pure and used by all.

pub mod assemble;
pub mod cli;
pub mod config;
pub mod db;
pub mod jobs;
pub mod metrics;
pub mod registry;
pub mod resource;
pub mod spec;

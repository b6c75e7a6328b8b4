//! manifold: assembles multi-architecture container images.
//!
//! Data flows one way: `cli`/`api`/`pages` → `jobs`/`db` → `assemble` → `registry`; `spec` is pure and
//! used by all.

pub mod api;
pub mod cli;
pub mod config;
pub mod db;
pub mod engine;
pub mod error;
pub mod jobs;
pub mod metrics;
pub mod model;
pub mod pages;
pub mod registry;
pub mod resource;
pub mod retry;
pub mod spec;
pub mod startup;

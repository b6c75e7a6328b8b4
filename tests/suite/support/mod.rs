//! What the area tests stand on: the service in-process ([`app`]) and as a `manifold serve`
//! process ([`serve`]), both driven through one [`client::ServiceClient`]; the two stores
//! ([`stores`]); the `manifold` binary, spec files and seeded images ([`cli`]); registry
//! credentials ([`credentials`]); the pages' forms over plain HTTP ([`forms`]) and in Chromium
//! ([`browser`]).

pub mod app;
pub mod browser;
pub mod cli;
pub mod client;
pub mod credentials;
pub mod forms;
pub mod serve;
pub mod stores;

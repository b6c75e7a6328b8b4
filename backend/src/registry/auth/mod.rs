//! Registry authentication: credentials that cannot leak and where they come from, `WWW-Authenticate`
//! challenges, scopes, and bearer tokens (distribution's token spec).
//!
//! Owns what is sent in `Authorization` headers and to token realms. What a registry has asked for
//! is `host`'s to remember and when to ask is the request loop's: nothing here imports them.

mod challenge;
mod credentials;
mod token;

pub use challenge::{Challenge, parse_challenges};
pub(crate) use challenge::{challenges, insufficient_scope};
pub use credentials::{Credentials, DockerConfig, Keychain, Secret};
pub(crate) use token::fetch_token;
pub use token::{Scope, Token, TokenResponse, scope_key};

//! Who may do what: with API tokens configured, writes (and, if configured, reads) need
//! `Authorization: Bearer <token>`. Tokens are kept as SHA-256 hashes and compared in constant time.

use std::future::{Ready, ready};

use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, dev::Payload};

use crate::config::hash_token;
use crate::error::ApiError;
use crate::startup::AppState;

/// A request allowed to write.
pub struct Write;

/// A request allowed to read.
pub struct Read;

impl FromRequest for Write {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(check(req, true).map(|()| Write))
    }
}

impl FromRequest for Read {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(check(req, false).map(|()| Read))
    }
}

fn check(req: &HttpRequest, write: bool) -> Result<(), ApiError> {
    let Some(state) = req.app_data::<actix_web::web::Data<AppState>>() else {
        return Err(ApiError::internal("no application state"));
    };
    let config = &state.config;
    if config.api_token_hashes.is_empty() || (!write && !config.protect_reads) {
        return Ok(());
    }
    let token = bearer(req);
    match token {
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "this needs an API token: send Authorization: Bearer <token>",
        )),
        Some(token) if token_valid(&config.api_token_hashes, &token) => Ok(()),
        Some(_) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "the API token is not valid",
        )),
    }
}

fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

/// Whether `token` hashes to one of `hashes`, comparing every byte of each.
pub fn token_valid(hashes: &[String], token: &str) -> bool {
    let candidate = hash_token(token);
    hashes.iter().fold(false, |found, h| {
        let same = h.len() == candidate.len()
            && h.bytes()
                .zip(candidate.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        found | same
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_valid_only_when_its_hash_is_configured() {
        let hashes = vec![hash_token("right")];
        assert!(token_valid(&hashes, "right"));
        assert!(!token_valid(&hashes, "wrong"));
        assert!(!token_valid(&[], "right"));
    }
}

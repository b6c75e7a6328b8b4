//! Who may call the JSON API: with API tokens configured, writes (and, if configured, reads) need
//! `Authorization: Bearer <token>`. A page session (see `auth`) also allows reads (the pages poll
//! the API); writes always need the bearer token.

use std::future::{Ready, ready};

use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, dev::Payload};

use super::error::ApiError;
use crate::auth::{SESSION_COOKIE, now_unix, session_valid, token_valid};
use crate::model::ErrorCode;
use crate::service::Services;

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
    let Some(services) = req.app_data::<actix_web::web::Data<Services>>() else {
        return Err(ApiError::internal("no application state"));
    };
    let config = &services.settings;
    if config.api_token_hashes.is_empty() || (!write && !config.protect_reads()) {
        return Ok(());
    }
    if !write
        && req
            .cookie(SESSION_COOKIE)
            .is_some_and(|c| session_valid(&config.api_token_hashes, c.value(), now_unix()))
    {
        return Ok(());
    }
    let token = bearer(req);
    match token {
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthorized,
            "this needs an API token: send Authorization: Bearer <token>",
        )),
        Some(token) if token_valid(&config.api_token_hashes, &token) => Ok(()),
        Some(_) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
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

//! Who may call the JSON API: with API tokens (or OIDC issuers) configured, writes (and, if
//! configured, reads) need `Authorization: Bearer <token>`. A page session (see `auth`) also
//! allows reads (the pages poll the API); writes always need the bearer token.
//!
//! A bearer that is no API token but a JWT is taken as a CI job's OIDC ID token when issuers are
//! configured: verified by the service (401 saying why when it is refused), it may submit lists,
//! removals and copies ([`Submitter`], whose rules the service checks) and read when a rule is for
//! its claims — nothing else.

use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, dev::Payload};
use futures::future::LocalBoxFuture;

use super::error::ApiError;
use crate::auth::{SESSION_COOKIE, now_unix, session_valid, token_valid};
use crate::model::ErrorCode;
use crate::service::{IdToken, Services};

/// A request allowed to write.
pub struct Write;

/// A request allowed to read.
pub struct Read;

/// A request allowed to submit (a list, a removal, a copy): with the CI job's verified ID token
/// when one came instead of an API token.
pub struct Submitter(pub Option<IdToken>);

/// What a request is for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Need {
    Read,
    Write,
    Submit,
}

impl FromRequest for Write {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { check(&req, Need::Write).await.map(|_| Write) })
    }
}

impl FromRequest for Read {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { check(&req, Need::Read).await.map(|_| Read) })
    }
}

impl FromRequest for Submitter {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { check(&req, Need::Submit).await.map(Submitter) })
    }
}

async fn check(req: &HttpRequest, need: Need) -> Result<Option<IdToken>, ApiError> {
    let Some(services) = req.app_data::<actix_web::web::Data<Services>>() else {
        return Err(ApiError::internal("no application state"));
    };
    let config = &services.settings;
    if !config.writes_need_credentials() || (need == Need::Read && !config.protect_reads()) {
        return Ok(None);
    }
    if need == Need::Read
        && req
            .cookie(SESSION_COOKIE)
            .is_some_and(|c| session_valid(&config.api_token_hashes, c.value(), now_unix()))
    {
        return Ok(None);
    }
    let Some(token) = bearer(req) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthorized,
            "this needs an API token (or, to submit, a CI job's OIDC ID token): send \
             Authorization: Bearer <token>",
        ));
    };
    if token_valid(&config.api_token_hashes, &token) {
        return Ok(None);
    }
    if !(config.oidc().enabled() && looks_like_jwt(&token)) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            "the API token is not valid",
        ));
    }
    let id_token = services.verify_id_token(&token).await.map_err(|e| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthorized,
            e.to_string(),
        )
    })?;
    match need {
        Need::Write => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            "an OIDC ID token may submit lists, removals and copies and read them; this needs \
             an API token",
        )),
        Need::Read => {
            services.id_token_may_read(&id_token)?;
            Ok(Some(id_token))
        }
        Need::Submit => Ok(Some(id_token)),
    }
}

/// Whether a bearer is shaped as a compact JWS (three base64url parts, a JSON header).
fn looks_like_jwt(token: &str) -> bool {
    token.starts_with("eyJ")
        && token.split('.').count() == 3
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

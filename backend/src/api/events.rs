//! `POST /events/{source}`: registry notifications (pushes and deletes), so that living lists react
//! in seconds. Authenticated by the service's event secret, not by an API token (a registry holds
//! no API token): `Authorization: Bearer <secret>` or `X-Manifold-Secret: <secret>`.

use actix_web::{HttpRequest, HttpResponse, post, web};

use super::State;
use super::error::{ApiError, ErrorBody};
use crate::service::EventsTaken;

/// Largest body of events taken.
const MAX_EVENTS_BYTES: usize = 1024 * 1024;

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(post_events);
}

/// Take a registry's notifications: `distribution` (Docker's registry and its descendants,
/// `notifications.endpoints`). Each push or delete of a manifest in a repository makes the watched
/// lists it concerns due at once; unauthenticated or unknown events are counted and dropped.
#[utoipa::path(
    tag = "service",
    operation_id = "post_events",
    params(("source" = String, Path, description = "The receiver: `distribution`")),
    request_body(content = Object, content_type = "application/json"),
    responses(
        (status = 202, description = "Taken: how many were acted on, repeats, ignored", body = EventsTaken),
        (status = 400, description = "Not the receiver's payload", body = ErrorBody),
        (status = 403, description = "Without the event secret", body = ErrorBody),
        (status = 404, description = "No such receiver", body = ErrorBody)
    ),
    security(())
)]
#[post("/events/{source}")]
async fn post_events(
    state: State,
    req: HttpRequest,
    source: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    if body.len() > MAX_EVENTS_BYTES {
        return Err(ApiError::new(
            actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
            crate::model::ErrorCode::BodyTooLarge,
            format!("events over {MAX_EVENTS_BYTES} bytes"),
        ));
    }
    let secret = secret(&req);
    let taken = state.events(&source, secret.as_deref(), &body).await?;
    Ok(HttpResponse::Accepted().json(taken))
}

/// The secret the request carries.
fn secret(req: &HttpRequest) -> Option<String> {
    let header = |name: &str| req.headers().get(name)?.to_str().ok().map(str::trim);
    if let Some(value) = header("x-manifold-secret") {
        return Some(value.to_owned());
    }
    let (scheme, token) = header("authorization")?.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

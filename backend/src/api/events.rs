//! `POST /events/{source}`: registry notifications (pushes and deletes), so that living lists react
//! in seconds. Authenticated by the service's event secret, not by an API token (a registry holds
//! no API token), each receiver the way its registry can send it: this adapter only gathers what
//! the request carried (headers, the URL's `secret`) for the service to check; it never logs it.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, post, web};

use super::State;
use super::error::{ApiError, ErrorBody};
use crate::service::{EventCredentials, EventsTaken};

/// Largest body of events taken.
const MAX_EVENTS_BYTES: usize = 1024 * 1024;

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(post_events);
}

/// Take a registry's notifications: `distribution` (Docker's registry and its descendants,
/// `notifications.endpoints`), `harbor` (webhooks; `Authorization`), `github` (GHCR's
/// `registry_package`/`package` webhooks; `X-Hub-Signature-256`), `dockerhub` and `quay`
/// (webhooks signing nothing: `?secret=` in the URL), `gitlab` (its registry's notifications;
/// `X-Gitlab-Token`). Each push or delete of a manifest in a repository makes the watched lists
/// it concerns due at once; unauthenticated or unknown events are counted and dropped.
#[utoipa::path(
    tag = "service",
    operation_id = "post_events",
    params(
        ("source" = String, Path, description = "The receiver: `distribution`, `harbor`, `github`, `dockerhub`, `quay`, `gitlab`"),
        ("secret" = Option<String>, Query, description = "The event secret, for `dockerhub` and `quay`")
    ),
    request_body(content = Object, content_type = "application/json"),
    responses(
        (status = 202, description = "Taken: how many were acted on, repeats, ignored", body = EventsTaken),
        (status = 400, description = "Not the receiver's payload", body = ErrorBody),
        (status = 403, description = "Without the event secret", body = ErrorBody),
        (status = 404, description = "No such receiver", body = ErrorBody),
        (status = 429, description = "Over the events' rate limit (`Retry-After`)", body = ErrorBody)
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
            StatusCode::PAYLOAD_TOO_LARGE,
            crate::model::ErrorCode::BodyTooLarge,
            format!("events over {MAX_EVENTS_BYTES} bytes"),
        ));
    }
    let taken = state.events(&source, &credentials(&req), &body).await?;
    Ok(HttpResponse::Accepted().json(taken))
}

/// What the request carries that may authenticate it.
fn credentials(req: &HttpRequest) -> EventCredentials {
    let header = |name: &str| {
        let value = req.headers().get(name)?.to_str().ok()?.trim();
        Some(value.to_owned())
    };
    let url_secret = url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == "secret")
        .map(|(_, v)| v.into_owned());
    EventCredentials {
        authorization: header("authorization"),
        manifold_secret: header("x-manifold-secret"),
        gitlab_token: header("x-gitlab-token"),
        hub_signature: header("x-hub-signature-256"),
        url_secret,
        github_event: header("x-github-event"),
        github_delivery: header("x-github-delivery"),
    }
}

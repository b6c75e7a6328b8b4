//! A target's history and rollback: `GET /targets/{target}/history` (every list that landed on a
//! tag, newest first, the one it holds now marked, and the timeline: those lists and the drift
//! events between them) and `POST /lists/{id}/rollback` (make the
//! target hold that list's digest again, queued in the target's order).

use actix_web::{HttpResponse, get, post, web};

use super::State;
use super::access::{Read, Write};
use super::error::{ApiError, ErrorBody};
use crate::service::{ListResource, TargetHistory};

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(get_history).service(rollback_list);
}

/// What a tag held through manifold: every list that landed on it (pushes, appends, removals,
/// copies, releases, rollbacks), newest first, each with its operation, digest and times; the
/// one it holds now is `current` (and named at the top); `timeline` has those lists and, between
/// them, each change of what the watch found of the list the tag held (the tag moved, and to
/// what; a child gone; back in sync), newest first. `{target}` is the whole reference,
/// `registry/repository:tag` (its slashes as they are, or encoded as `%2F`).
#[utoipa::path(
    tag = "lists",
    operation_id = "get_history",
    params(("target" = String, Path, description = "The target reference, registry/repository:tag")),
    responses(
        (status = 200, description = "The target's lists, newest first", body = TargetHistory),
        (status = 400, description = "Not a reference with a tag", body = ErrorBody),
        (status = 401, description = "No API token (with MANIFOLD_PROTECT_READS)", body = ErrorBody),
        (status = 403, description = "The API token is not valid", body = ErrorBody)
    ),
    security((), ("token" = []))
)]
#[get("/targets/{target:.+}/history")]
async fn get_history(
    state: State,
    target: web::Path<String>,
    _: Read,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.history(&target).await?))
}

/// Make the target hold this (earlier) list's digest again: queued like any submission, in the
/// target's order, as a list of operation `rollback`. Its job copies the registry's own bytes of
/// that list back under the tag and the list's extra tags; when the repository no longer has
/// them, it pushes the list again from the entries recorded for it.
#[utoipa::path(
    tag = "lists",
    operation_id = "rollback_list",
    params(("id" = Uuid, Path, description = "The list to go back to")),
    responses(
        (status = 202, description = "The rollback, queued", body = ListResource),
        (status = 401, description = "No API token (API tokens are configured)", body = ErrorBody),
        (status = 403, description = "The API token is not valid", body = ErrorBody),
        (status = 404, description = "No such list", body = ErrorBody),
        (status = 409, description = "The list did not land (or is a stage of a release)", body = ErrorBody),
        (status = 503, description = "The store cannot take it now (`STORE_UNAVAILABLE`): nothing was changed; try again after `Retry-After` seconds", body = ErrorBody, headers(("Retry-After" = u32, description = "Seconds to wait")))
    ),
    security((), ("token" = []))
)]
#[post("/lists/{id}/rollback")]
async fn rollback_list(
    state: State,
    id: web::Path<String>,
    _: Write,
) -> Result<HttpResponse, ApiError> {
    let list = state.rollback(&id).await?;
    Ok(HttpResponse::Accepted()
        .insert_header(("Location", format!("/lists/{}", list.id)))
        .json(list))
}

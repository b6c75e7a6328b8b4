//! `GET /releases/{id}`: a staged release — the platforms it expects, which arrived from which
//! submission, which it awaits, its deadline and its list (what `manifold submit` shows while a
//! release gathers its platforms).

use actix_web::{HttpResponse, get, web};

use super::State;
use super::access::Read;
use super::error::{ApiError, ErrorBody};
use crate::service::ReleaseResource;

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(get_release);
}

/// One staged release: its submissions (lists of operation `stage`, each `staged` until the
/// release's list lands), the platforms that arrived and those it awaits. Its tag is PUT once,
/// by its list (operation `release`), when every expected platform is there.
#[utoipa::path(
    tag = "lists",
    operation_id = "get_release",
    params(("id" = Uuid, Path, description = "The release's id (a list's `release_id`)")),
    responses(
        (status = 200, description = "The release", body = ReleaseResource),
        (status = 400, description = "Not a release id", body = ErrorBody),
        (status = 401, description = "No API token (with MANIFOLD_PROTECT_READS)", body = ErrorBody),
        (status = 403, description = "The API token is not valid", body = ErrorBody),
        (status = 404, description = "No such release", body = ErrorBody)
    ),
    security((), ("token" = []))
)]
#[get("/releases/{id}")]
async fn get_release(
    state: State,
    id: web::Path<String>,
    _: Read,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.release(&id).await?))
}

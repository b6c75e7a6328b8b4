//! `GET /registries`: the registries the service talks to, each with what a probe found of it
//! and how long its rate limit held requests back (the registries page's data).

use actix_web::{HttpResponse, get};

use super::State;
use super::access::Read;
use super::error::{ApiError, ErrorBody};
use crate::service::RegistryView;

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(get_registries);
}

/// Every registry on the allow-list and any other the service talked to: scheme, HTTP version,
/// auth and token realm, rate-limit headers and answer time as last probed (probed in the
/// background when missing or a day old: `profile` is null until then), and the seconds requests
/// to it were held back by its rate limit.
#[utoipa::path(
    tag = "service",
    operation_id = "get_registries",
    responses(
        (status = 200, description = "The registries, by name", body = [RegistryView]),
        (status = 401, description = "No API token (with MANIFOLD_PROTECT_READS)", body = ErrorBody),
        (status = 403, description = "The API token is not valid", body = ErrorBody)
    ),
    security((), ("token" = []))
)]
#[get("/registries")]
async fn get_registries(state: State, _: Read) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.registries()))
}

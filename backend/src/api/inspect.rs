//! `GET /inspect?ref=…`: the engine's inspect as JSON, the same document as
//! `manifold inspect --json`. Only registries on the service's allow-list are contacted.

use actix_web::{HttpResponse, get};
use serde::Deserialize;
use utoipa::IntoParams;

use super::State;
use super::access::Read;
use super::error::{ApiError, ErrorBody};
use super::query::Query;

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(get_inspect);
}

/// The reference to inspect.
#[derive(Debug, Deserialize, IntoParams)]
pub struct InspectQuery {
    /// A reference: registry/repository:tag or registry/repository@sha256:….
    #[serde(rename = "ref")]
    #[param(rename = "ref", min_length = 1)]
    pub reference: String,
}

/// What a reference holds: for a list, every entry with platform and layers; for an image, its
/// platform, config and layers.
#[utoipa::path(
    tag = "inspect",
    operation_id = "get_inspect",
    params(InspectQuery),
    responses(
        (status = 200, description = "The inspection (same document as `manifold inspect --json`)", body = Object),
        (status = 400, description = "Invalid reference", body = ErrorBody),
        (status = 401, description = "No API token (with MANIFOLD_PROTECT_READS)", body = ErrorBody),
        (status = 403, description = "The API token is not valid", body = ErrorBody),
        (status = 403, description = "Registry not allowed", body = ErrorBody),
        (status = 404, description = "No such manifest", body = ErrorBody),
        (status = 502, description = "The registry failed", body = ErrorBody)
    ),
    security((), ("token" = []))
)]
#[get("/inspect")]
async fn get_inspect(
    state: State,
    query: Query<InspectQuery>,
    _: Read,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.inspect(&query.reference).await?))
}

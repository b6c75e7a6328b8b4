//! The JSON API: one module per resource, each registering its handlers with `configure`, and the
//! OpenAPI document generated from those handlers. A thin adapter: handlers parse the request,
//! call the service, and answer its result or its error as JSON.

mod access;
mod edits;
mod error;
mod events;
mod health;
mod history;
mod inspect;
mod limits;
mod lists;
mod query;
mod registries;
mod releases;
mod unmatched;

use actix_web::web;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_actix_web::AppExt as _;
use utoipa_actix_web::service_config::ServiceConfig;

pub use error::{ApiError, ErrorBody, ErrorDetail};
pub use limits::{MAX_HEADER_BYTES, MAX_URI_BYTES, oversized};
pub use unmatched::unmatched;

/// The document's fixed parts; paths and schemas are collected from the handlers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "manifold",
        description = "Assembles multi-architecture container images: submit a list spec, the push is queued, every digest is recorded.",
        license(name = "Apache-2.0")
    ),
    modifiers(&BearerToken),
    tags(
        (name = "lists", description = "Submit list specs, removals and copies, and follow their pushes"),
        (name = "inspect", description = "What a reference holds"),
        (name = "service", description = "Health, readiness and metrics")
    )
)]
pub struct ApiDoc;

struct BearerToken;

impl utoipa::Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API token of the service; or, to submit lists, removals and copies \
                         and to read, a CI job's OIDC ID token (a JWT) from an issuer the \
                         service trusts, under its rules (docs/ci.md)",
                    ))
                    .build(),
            ),
        );
    }
}

/// Registers every API handler.
pub fn configure(cfg: &mut ServiceConfig) {
    lists::configure(cfg);
    edits::configure(cfg);
    inspect::configure(cfg);
    registries::configure(cfg);
    releases::configure(cfg);
    history::configure(cfg);
    events::configure(cfg);
    health::configure(cfg);
}

/// The OpenAPI document, as served at `/openapi.json` and committed under `openapi/`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, api) = actix_web::App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(configure)
        .split_for_parts();
    api
}

/// The document as pretty JSON with a final newline.
pub fn openapi_json() -> String {
    let mut text = openapi().to_pretty_json().expect("the document serialises");
    text.push('\n');
    text
}

/// What the handlers call: the service's use cases.
pub type State = web::Data<crate::service::Services>;

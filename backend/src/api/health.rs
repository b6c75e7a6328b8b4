//! Liveness, readiness (the database takes a write) and Prometheus metrics.

use actix_web::{HttpResponse, get};
use serde_json::json;

use super::State;

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(healthz).service(readyz).service(metrics);
}

/// The process is up.
#[utoipa::path(tag = "service", operation_id = "get_healthz", responses((status = 200, description = "Up")))]
#[get("/healthz")]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// The process can take work: its database takes a write now (a small one, committed).
#[utoipa::path(
    tag = "service",
    operation_id = "get_readyz",
    responses(
        (status = 200, description = "Ready"),
        (status = 503, description = "The database takes no writes now (full, read-only, unreachable, busy); `reason` says which")
    )
)]
#[get("/readyz")]
async fn readyz(state: State) -> HttpResponse {
    match state.ready().await {
        Ok(()) => HttpResponse::Ok().json(json!({"status": "ready"})),
        Err(reason) => HttpResponse::ServiceUnavailable()
            .json(json!({"status": "unavailable", "code": "STORE_UNAVAILABLE", "reason": reason})),
    }
}

/// Prometheus metrics: requests, queue depth, pushes by outcome, push duration.
#[utoipa::path(
    tag = "service",
    operation_id = "get_metrics",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain"))
)]
#[get("/metrics")]
async fn metrics(state: State) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics_text().await)
}

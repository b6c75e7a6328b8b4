//! `GET /ui/registries`: the registries the service talks to, one row each — how it answers
//! (scheme, HTTP version, time), how it authenticates (and from which token realm), the rate
//! limit it announces and how long its limit held requests back, what pushes learnt of it, and
//! when it was probed.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, web};
use askama::Template;

use super::security::state;
use super::{Layout, Nav, PageError, Visitor, render};
use crate::service::{AuthScheme, RegistryView};

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(registries_page);
}

/// One registry's row.
struct Row {
    registry: String,
    /// `https over HTTP/2 (12 ms)`, or empty while it is probed.
    answers: String,
    auth: String,
    rate_limit: String,
    throttled: String,
    /// What the service's work learnt of it: `no referrers API, mounts refused`, or `—`.
    learnt: String,
    probed_at: String,
    /// Why the last probe failed.
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/registries.html")]
struct RegistriesPage {
    layout: Layout,
    rows: Vec<Row>,
}

fn row(view: RegistryView) -> Row {
    let (answers, auth, rate_limit) = match &view.profile {
        Some(p) => (
            format!(
                "{} over {} ({} ms)",
                p.scheme, p.http_version, p.answered_ms
            ),
            match &p.auth {
                AuthScheme::Anonymous => "anonymous".to_owned(),
                AuthScheme::Basic => "basic".to_owned(),
                AuthScheme::Bearer { realm, .. } => format!("bearer tokens from {realm}"),
            },
            if p.rate_limit.is_empty() {
                "none announced".to_owned()
            } else {
                let pairs: Vec<String> = p
                    .rate_limit
                    .iter()
                    .map(|(k, v)| format!("{k}: {v}"))
                    .collect();
                pairs.join(", ")
            },
        ),
        None => Default::default(),
    };
    let learnt = [
        (view.learnt.referrers_api == Some(false), "no referrers API"),
        (view.learnt.mounts == Some(false), "mounts refused"),
        (view.http1_only, "HTTP/1.1 only"),
    ];
    let learnt: Vec<&str> = learnt
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, t)| *t)
        .collect();
    Row {
        learnt: if learnt.is_empty() {
            "—".to_owned()
        } else {
            learnt.join(", ")
        },
        answers,
        auth,
        rate_limit,
        throttled: format!("{:.1} s", view.throttled_seconds),
        probed_at: view
            .probed_at
            .map_or_else(String::new, |t| t.format("%Y-%m-%d %H:%M UTC").to_string()),
        error: view.error,
        registry: view.registry,
    }
}

#[get("/ui/registries")]
async fn registries_page(req: HttpRequest, visitor: Visitor) -> Result<HttpResponse, PageError> {
    let services = state(&req)?;
    let page = RegistriesPage {
        layout: Layout::new(&visitor, Nav::Registries),
        rows: services.registries().into_iter().map(row).collect(),
    };
    render(&visitor, StatusCode::OK, &page)
}

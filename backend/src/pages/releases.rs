//! `GET /ui/releases/{id}`: a staged release — the platforms it expects, which arrived from
//! which submission (each a list, linked), which it still awaits, its deadline and its list once
//! queued.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, web};
use askama::Template;

use super::list::page_error;
use super::security::state;
use super::{Layout, Nav, PageError, Visitor, render};
use crate::service::ReleaseState;
use crate::service::{ArrivedPlatform, ReleaseResource, StageSummary};

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(release_page);
}

#[derive(Template)]
#[template(path = "pages/release.html")]
struct ReleasePage {
    layout: Layout,
    id: String,
    key: String,
    target: String,
    state: String,
    /// The status colours it shows in: a list's of the same stage of life.
    badge: &'static str,
    arrived: Vec<ArrivedPlatform>,
    awaited: Vec<String>,
    stages: Vec<StageSummary>,
    deadline: String,
    on_deadline: &'static str,
    list_id: Option<String>,
    error: Option<String>,
}

impl ReleasePage {
    fn new(visitor: &Visitor, r: ReleaseResource) -> Self {
        Self {
            layout: Layout::new(visitor, Nav::Lists),
            id: r.id.to_string(),
            state: serde_json::to_value(r.state)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            badge: match r.state {
                ReleaseState::Open => "staged",
                ReleaseState::Releasing => "running",
                ReleaseState::Released => "succeeded",
                ReleaseState::Failed => "failed",
            },
            deadline: r.deadline_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            on_deadline: match r.on_deadline {
                crate::model::OnDeadline::Fail => "fails, and the tag stays as it is",
                crate::model::OnDeadline::Push => "pushes the platforms that arrived",
            },
            list_id: r.list_id.map(|id| id.to_string()),
            key: r.key,
            target: r.target,
            arrived: r.arrived,
            awaited: r.awaited,
            stages: r.stages,
            error: r.error,
        }
    }
}

#[get("/ui/releases/{id}")]
async fn release_page(
    req: HttpRequest,
    visitor: Visitor,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let release = state(&req)?.release(&id).await.map_err(page_error)?;
    render(
        &visitor,
        StatusCode::OK,
        &ReleasePage::new(&visitor, release),
    )
}

//! `GET /ui/targets/{target}/history`: a target's timeline, newest first — each list that landed
//! on it (what moved the tag, its digest, the one the tag holds now marked, the earlier ones
//! history) and, between them, the drift events the watch kept (the tag moved, a child gone, back
//! in sync). The service's `history`, as a page; each list's page has the rollback button.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, web};
use askama::Template;

use super::security::state;
use super::view::{DigestView, DriftView, age, timestamp};
use super::{Layout, Nav, PageError, Visitor, render};
use crate::service::{DriftInfo, ListResource, TargetHistory, TimelineEntry};

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(history_page);
}

/// One row of the timeline: a list that landed, or a drift event of the list before it.
struct Moment {
    /// `list` or `drift`.
    kind: &'static str,
    /// The list (the one that landed, or the one the watch checked).
    list_id: String,
    /// When, and how long ago.
    at: String,
    age: String,
    /// A list's operation (what moved the tag).
    operation: String,
    /// A list's digest, or the digest the tag held as the watch saw it.
    digest: Option<DigestView>,
    /// Whether the target holds this list now.
    current: bool,
    /// What the watch found (a drift event).
    drift: Option<DriftView>,
}

#[derive(Template)]
#[template(path = "pages/history.html")]
struct HistoryPage {
    layout: Layout,
    target: String,
    moments: Vec<Moment>,
    /// The recent lists filtered by this target (every status).
    lists: String,
}

impl HistoryPage {
    fn new(visitor: &Visitor, history: &TargetHistory) -> Self {
        let now = chrono::Utc::now();
        let list = |id| history.items.iter().find(|l: &&ListResource| l.id == id);
        let moments = history
            .timeline
            .iter()
            .map(|entry| {
                let at = entry.at();
                let mut moment = Moment {
                    kind: "list",
                    list_id: String::new(),
                    at: timestamp(at),
                    age: age(at, now),
                    operation: String::new(),
                    digest: None,
                    current: false,
                    drift: None,
                };
                match entry {
                    TimelineEntry::List(l) => {
                        moment.list_id = l.list_id.to_string();
                        moment.operation = l.operation.to_string();
                        moment.digest = l.digest.as_ref().map(|d| DigestView::new(d.as_str()));
                        moment.current = list(l.list_id).is_some_and(|l| l.current);
                    }
                    TimelineEntry::Drift(e) => {
                        moment.kind = "drift";
                        moment.list_id = e.list_id.to_string();
                        moment.digest = e.observed.as_ref().map(|d| DigestView::new(d.as_str()));
                        moment.drift = Some(DriftView::new(&DriftInfo {
                            status: e.status,
                            checked_at: Some(e.at),
                            reasons: e.reasons.clone(),
                            error: None,
                        }));
                    }
                }
                moment
            })
            .collect();
        Self {
            layout: Layout::new(visitor, Nav::Lists),
            lists: format!(
                "/?{}",
                url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("target", &history.target)
                    .finish()
            ),
            target: history.target.clone(),
            moments,
        }
    }
}

/// The address of `target`'s timeline page (a reference's characters need no escaping in a path).
pub(super) fn link(target: &str) -> String {
    format!("/ui/targets/{target}/history")
}

#[get("/ui/targets/{target:.+}/history")]
async fn history_page(
    req: HttpRequest,
    visitor: Visitor,
    target: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let history = state(&req)?.history(&target).await?;
    render(
        &visitor,
        StatusCode::OK,
        &HistoryPage::new(&visitor, &history),
    )
}

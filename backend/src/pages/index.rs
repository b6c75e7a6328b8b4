//! `GET /`: recent lists, newest first — target, status (and drift), short digest, platforms,
//! age — filtered by status and target, a page at a time (the API's cursor paging).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, web};
use askama::Template;
use serde::Deserialize;

use super::view::{DigestView, StatusView, age, platform_text, timestamp};
use super::{Layout, Nav, PageError, Visitor, render};
use crate::model::{DriftStatus, ListStatus};
use crate::service::{ListResource, PageQuery};

/// Lists shown on a page.
const PAGE_SIZE: i64 = 25;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(index);
}

#[derive(Debug, Default, Deserialize)]
struct IndexQuery {
    status: Option<String>,
    target: Option<String>,
    cursor: Option<String>,
}

struct Row {
    id: String,
    target: String,
    /// What it did to the target (`push`, `append`, …).
    operation: String,
    /// Whether the target holds it now.
    current: bool,
    /// A later list landed on the target.
    replaced: bool,
    status: StatusView,
    /// The watch found the list drifted.
    drifted: bool,
    digest: Option<DigestView>,
    platforms: Vec<String>,
    age: String,
    created: String,
}

struct StatusOption {
    name: &'static str,
    selected: bool,
}

#[derive(Template)]
#[template(path = "pages/index.html")]
struct IndexPage {
    layout: Layout,
    statuses: Vec<StatusOption>,
    target: String,
    filtered: bool,
    rows: Vec<Row>,
    next: Option<String>,
    first: Option<String>,
}

#[get("/")]
async fn index(req: HttpRequest, visitor: Visitor) -> Result<HttpResponse, PageError> {
    let state = super::security::state(&req)?;
    let query = web::Query::<IndexQuery>::from_query(req.query_string())
        .map_err(|_| PageError::BadRequest("The filter is not one this page makes.".into()))?
        .into_inner();
    let status = match query.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            s.parse::<ListStatus>()
                .map_err(|_| PageError::BadRequest(format!("There is no status \"{s}\".")))?,
        ),
    };
    let target = query.target.clone().unwrap_or_default().trim().to_owned();
    let page = state
        .lists(&PageQuery {
            status,
            target: Some(target.clone()).filter(|t| !t.is_empty()),
            limit: Some(PAGE_SIZE),
            cursor: query.cursor.clone(),
        })
        .await?;
    let now = chrono::Utc::now();
    let link = |cursor: Option<&str>| {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        if let Some(s) = status {
            q.append_pair("status", s.as_str());
        }
        if !target.is_empty() {
            q.append_pair("target", &target);
        }
        if let Some(c) = cursor {
            q.append_pair("cursor", c);
        }
        let q = q.finish();
        if q.is_empty() {
            "/".to_owned()
        } else {
            format!("/?{q}")
        }
    };
    let page_view = IndexPage {
        layout: Layout::new(&visitor, Nav::Lists),
        statuses: ListStatus::ALL
            .iter()
            .copied()
            .map(|s| StatusOption {
                name: s.as_str(),
                selected: status == Some(s),
            })
            .collect(),
        filtered: status.is_some() || !target.is_empty(),
        rows: page.items.iter().map(|l| row(l, now)).collect(),
        next: page.next_cursor.as_deref().map(|c| link(Some(c))),
        first: query
            .cursor
            .as_deref()
            .filter(|c| !c.is_empty())
            .map(|_| link(None)),
        target,
    };
    render(&visitor, StatusCode::OK, &page_view)
}

fn row(l: &ListResource, now: chrono::DateTime<chrono::Utc>) -> Row {
    let mut platforms: Vec<String> = l
        .entries
        .iter()
        .filter(|e| !e.attestation)
        .map(|e| platform_text(e.platform.as_ref()))
        .collect();
    platforms.dedup();
    Row {
        id: l.id.to_string(),
        target: l.target.clone(),
        operation: l.operation.to_string(),
        current: l.current,
        replaced: l.replaced_by.is_some(),
        status: l.status.into(),
        drifted: l
            .drift
            .as_ref()
            .is_some_and(|d| d.status == DriftStatus::Drifted),
        digest: l.digest.as_ref().map(|d| DigestView::new(d.as_str())),
        platforms,
        age: age(l.created_at, now),
        created: timestamp(l.created_at),
    }
}

//! `GET /ui/lists/{id}`: one list — its status (refreshed until it is final), digest, pull command,
//! entries, attempts, the registry's error explained, the spec as submitted — and the retry and
//! cancel buttons (`POST /ui/lists/{id}/retry`, `/cancel`).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;

use super::security::{FormData, check_csrf, state};
use super::view::{
    DigestView, EntryView, StatusView, age, explain, human_size, media_label, timestamp,
};
use super::{Layout, Nav, PageError, Visitor, render, see_other};
use crate::db::{ListRecord, ListStatus, Transition};
use crate::spec::Reference;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(show_list)
        .service(retry_list)
        .service(cancel_list);
}

struct ErrorView {
    code: String,
    message: String,
    hint: Option<&'static str>,
}

struct CallbackView {
    url: String,
    status: String,
    attempts: i32,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/list.html")]
struct ListPage {
    layout: Layout,
    id: String,
    target: String,
    tags: Vec<String>,
    output_type: String,
    status: StatusView,
    digest: Option<DigestView>,
    pinned: Option<String>,
    pull: Option<String>,
    media_label: &'static str,
    media_type: String,
    size: String,
    entries: Vec<EntryView>,
    attempts: i32,
    error: Option<ErrorView>,
    callback: Option<CallbackView>,
    created: String,
    created_age: String,
    started: Option<String>,
    finished: Option<String>,
    spec_text: String,
    spec_format: String,
    can_retry: bool,
    can_cancel: bool,
    notice: Option<String>,
}

impl ListPage {
    fn new(visitor: &Visitor, l: &ListRecord, notice: Option<String>) -> Self {
        let pinned = l.digest.as_ref().and_then(|d| {
            Reference::parse(&l.target)
                .ok()
                .zip(crate::model::Digest::parse(d).ok())
                .map(|(r, d)| r.with_digest(&d).to_string())
        });
        let media_type = l.media_type.clone().unwrap_or_default();
        Self {
            layout: Layout::new(visitor, Nav::Lists),
            id: l.id.to_string(),
            target: l.target.clone(),
            tags: l.tags.clone(),
            output_type: l.output_type.clone(),
            status: l.status.into(),
            digest: l.digest.as_deref().map(DigestView::new),
            pull: pinned.as_ref().map(|p| format!("docker pull {p}")),
            pinned,
            media_label: media_label(&media_type),
            media_type,
            size: l.size.map_or_else(String::new, |s| {
                format!("{} ({s} bytes)", human_size(s.max(0) as u64))
            }),
            entries: l
                .entries
                .iter()
                .map(|e| {
                    EntryView::new(
                        e.platform.as_ref(),
                        &e.image,
                        &e.digest,
                        e.size.max(0) as u64,
                        &e.media_type,
                        e.attestation,
                    )
                })
                .collect(),
            attempts: l.attempts,
            error: match (&l.error_code, &l.error_message) {
                (Some(code), Some(message)) => Some(ErrorView {
                    hint: explain(code),
                    code: code.clone(),
                    message: message.clone(),
                }),
                _ => None,
            },
            callback: l.callback_url.as_ref().map(|url| CallbackView {
                url: url.clone(),
                status: l
                    .callback_status
                    .clone()
                    .unwrap_or_else(|| "waiting for the push".to_owned()),
                attempts: l.callback_attempts,
                error: l.callback_error.clone(),
            }),
            created: timestamp(l.created_at),
            created_age: age(l.created_at, chrono::Utc::now()),
            started: l.started_at.map(timestamp),
            finished: l.finished_at.map(timestamp),
            spec_text: l.spec_text.clone(),
            spec_format: l.spec_format.clone(),
            can_retry: matches!(l.status, ListStatus::Failed | ListStatus::Canceled),
            can_cancel: l.status == ListStatus::Queued,
            notice,
        }
    }
}

fn parse_id(id: &str) -> Result<uuid::Uuid, PageError> {
    id.parse()
        .map_err(|_| PageError::NotFound("There is no list with this id.".to_owned()))
}

#[get("/ui/lists/{id}")]
async fn show_list(
    req: HttpRequest,
    visitor: Visitor,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let id = parse_id(&id)?;
    let list = state(&req)?
        .store
        .get_list(id)
        .await?
        .ok_or_else(|| PageError::NotFound("There is no list with this id.".to_owned()))?;
    render(
        &visitor,
        StatusCode::OK,
        &ListPage::new(&visitor, &list, None),
    )
}

#[post("/ui/lists/{id}/retry")]
async fn retry_list(
    req: HttpRequest,
    visitor: Visitor,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, PageError> {
    let form = FormData::read(&req, payload).await?;
    check_csrf(&req, &form)?;
    let id = parse_id(&id)?;
    let state = state(&req)?;
    let done = state.store.retry(id, state.config.job_max_attempts).await?;
    transition(
        &req,
        &visitor,
        id,
        done,
        "Only a failed or canceled list can be retried.",
    )
    .await
}

#[post("/ui/lists/{id}/cancel")]
async fn cancel_list(
    req: HttpRequest,
    visitor: Visitor,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, PageError> {
    let form = FormData::read(&req, payload).await?;
    check_csrf(&req, &form)?;
    let id = parse_id(&id)?;
    let done = state(&req)?.store.cancel(id).await?;
    transition(
        &req,
        &visitor,
        id,
        done,
        "Only a queued list can be canceled.",
    )
    .await
}

/// After retry or cancel: back to the list, or the list again with why it could not be done.
async fn transition(
    req: &HttpRequest,
    visitor: &Visitor,
    id: uuid::Uuid,
    done: Transition,
    rule: &str,
) -> Result<HttpResponse, PageError> {
    match done {
        Transition::Done(list) => Ok(see_other(&format!("/ui/lists/{}", list.id))),
        Transition::NotFound => Err(PageError::NotFound(
            "There is no list with this id.".to_owned(),
        )),
        Transition::Conflict(status) => {
            let list =
                state(req)?.store.get_list(id).await?.ok_or_else(|| {
                    PageError::NotFound("There is no list with this id.".to_owned())
                })?;
            let notice = format!("The list is {}. {rule}", status.as_str());
            let page = ListPage::new(visitor, &list, Some(notice));
            render(visitor, StatusCode::CONFLICT, &page)
        }
    }
}

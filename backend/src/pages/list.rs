//! `GET /ui/lists/{id}`: one list — its status (refreshed until it is final), what it did to its
//! target (push, append, remove, copy), digest, pull command, entries, attempts, the registry's
//! error explained, the spec as submitted, what the watch last found (drift), whether it is
//! followed, whether it is kept whole (repair) — and the retry, cancel, follow, unfollow, rollback
//! buttons and the repair choice (`POST /ui/lists/{id}/retry`, `/cancel`, `/follow`,
//! `/unfollow`, `/rollback`, `/repair`; the repair choice only on the list its target holds now).
//! A succeeded list's "Remove" and "Add a platform" forms are shown here and handled in
//! `list_edit`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;

use super::form_errors::FormErrors;
use super::security::{FormData, check_csrf, state};
use super::spec_form::SpecForm;
use super::view::{DigestView, DriftView, StatusView, age, human_size, media_label, timestamp};
use super::{Layout, Nav, PageError, Visitor, render, see_other};
use crate::model::Reference;
use crate::model::{Entry, Identity, ListStatus, Operation, Outcome, Platform, Repair};
use crate::service::{DestinationInfo, ListResource, ServiceError};

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(show_list)
        .service(retry_list)
        .service(cancel_list)
        .service(follow_list)
        .service(unfollow_list)
        .service(rollback_list)
        .service(repair_list);
}

struct ErrorView {
    code: String,
    message: String,
    hint: Option<String>,
}

struct CallbackView {
    url: String,
    status: String,
    attempts: i32,
    error: Option<String>,
}

/// An entry of the list, with what its "Remove" button sends (none for an attestation, or when
/// the list cannot lose an entry).
struct EntryRow {
    entry: Entry,
    remove: Option<(&'static str, String)>,
}

/// Why a list's page was reached by a redirect (`?queued=…`): a fixed sentence, never the query.
fn queued_note(req: &HttpRequest) -> Option<&'static str> {
    let queued = url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == "queued")
        .map(|(_, v)| v.into_owned())?;
    match queued.as_str() {
        "remove" => {
            Some("Removal queued as this list: it pushes what the target holds without that entry.")
        }
        "append" => Some(
            "Platform queued as this list: it pushes what the target holds with that image merged in.",
        ),
        _ => None,
    }
}

#[derive(Template)]
#[template(path = "pages/list.html")]
pub(super) struct ListView {
    layout: Layout,
    id: String,
    target: String,
    tags: Vec<String>,
    list_type: String,
    operation: String,
    status: StatusView,
    digest: Option<DigestView>,
    pinned: Option<String>,
    pull: Option<String>,
    media_label: &'static str,
    media_type: String,
    size: String,
    entries: Vec<Entry>,
    rows: Vec<EntryRow>,
    removable: bool,
    can_edit: bool,
    add: AddView,
    attempts: i32,
    max_attempts: Option<i32>,
    retry_at: Option<String>,
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
    sequence: i64,
    superseded_by: Option<String>,
    follow: bool,
    can_follow: bool,
    repair: &'static str,
    /// The repair choice selected: `false`, `true` or `tag`.
    repair_value: &'static str,
    /// Whether its push brings what refers to its children (signatures, attestations, SBOMs).
    carries_referrers: bool,
    follows: Option<String>,
    /// Whether `follows` names the list this one repairs (not one whose source moved).
    repairs: bool,
    /// The staged release it brings platforms to, or pushes.
    release: Option<String>,
    /// The list that landed on the target after it (this one is history).
    replaced_by: Option<String>,
    /// Whether the target holds it now.
    current: bool,
    /// Whether a rollback to it may be asked for (it landed, and a later list replaced it).
    can_rollback: bool,
    /// The target's timeline page: its landed lists and drift events, newest first.
    history: String,
    followed_by: Option<String>,
    drift: Option<DriftView>,
    notice: Option<String>,
    queued: Option<&'static str>,
    /// Who submitted it, when a CI job's OIDC ID token did.
    submitted_by: Option<Identity>,
    /// Every destination of its publish (empty for a list of one target).
    destinations: Vec<DestinationRow>,
}

/// One destination of a publish, on each of its lists' pages.
struct DestinationRow {
    list_id: String,
    target: String,
    status: StatusView,
    outcome: &'static str,
    digest: Option<String>,
    error: Option<String>,
    /// Whether it is the page's own list.
    this: bool,
}

impl DestinationRow {
    fn new(d: &DestinationInfo, page: uuid::Uuid) -> Self {
        Self {
            list_id: d.list_id.to_string(),
            target: d.target.clone(),
            status: d.status.into(),
            outcome: d.outcome.map_or("not yet", Outcome::label),
            digest: d.digest.as_ref().map(|h| h.as_str().to_owned()),
            error: d.error.clone(),
            this: d.list_id == page,
        }
    }
}

impl ListView {
    /// The page of `l`, with a notice (why an action could not be done) when there is one.
    pub(super) fn new(visitor: &Visitor, l: &ListResource, notice: Option<String>) -> Self {
        let pinned = l.digest.as_ref().and_then(|d| {
            Reference::parse(&l.target)
                .ok()
                .map(|r| r.with_digest(d).to_string())
        });
        let media_type = l.media_type.clone().unwrap_or_default();
        let can_edit = l.current;
        let images = l.entries.iter().filter(|e| !e.attestation).count();
        let removable = can_edit && images > 1;
        let rows = l
            .entries
            .iter()
            .map(|e| EntryRow {
                remove: (removable && !e.attestation).then(|| removal_key(e)),
                entry: e.clone(),
            })
            .collect();
        Self {
            layout: Layout::new(visitor, Nav::Lists),
            id: l.id.to_string(),
            target: l.target.clone(),
            tags: l.tags.clone(),
            list_type: l.list_type.to_string(),
            operation: l.operation.to_string(),
            status: l.status.into(),
            digest: l.digest.as_ref().map(|d| DigestView::new(d.as_str())),
            pull: pinned.as_ref().map(|p| format!("docker pull {p}")),
            pinned,
            media_label: media_label(&media_type),
            media_type,
            size: l
                .size
                .map_or_else(String::new, |s| format!("{} ({s} bytes)", human_size(s))),
            entries: l.entries.clone(),
            rows,
            removable,
            can_edit,
            add: AddView::default(),
            attempts: l.attempts,
            max_attempts: l.max_attempts,
            retry_at: l.retry_at.map(timestamp),
            error: l.error.as_ref().map(|e| ErrorView {
                hint: e.advice.clone(),
                code: e.code.to_string(),
                message: e.message.clone(),
            }),
            callback: l.callback.as_ref().map(|c| CallbackView {
                url: c.url.clone(),
                status: c.status.map_or_else(
                    || "waiting for the push".to_owned(),
                    |s| s.as_str().to_owned(),
                ),
                attempts: c.attempts,
                error: c.error.clone(),
            }),
            created: timestamp(l.created_at),
            created_age: age(l.created_at, chrono::Utc::now()),
            started: l.started_at.map(timestamp),
            finished: l.finished_at.map(timestamp),
            spec_text: l.spec.text.clone(),
            spec_format: l.spec.format.to_string(),
            can_retry: l.status.can_retry(),
            can_cancel: l.status == ListStatus::Queued,
            sequence: l.sequence,
            superseded_by: l.superseded_by.map(|id| id.to_string()),
            follow: l.follow,
            repair: match l.repair {
                Repair::Off => "no",
                Repair::Children => "yes — children gone from the repository made present again",
                Repair::Tag => "yes, and the tag put back whoever moved it",
            },
            repair_value: match l.repair {
                Repair::Off => "false",
                Repair::Children => "true",
                Repair::Tag => "tag",
            },
            can_follow: matches!(l.operation, Operation::Push | Operation::Append),
            carries_referrers: l.referrers,
            follows: l.follows.map(|id| id.to_string()),
            repairs: l.operation == Operation::Repair,
            release: l.release_id.map(|id| id.to_string()),
            replaced_by: l.replaced_by.map(|id| id.to_string()),
            current: l.current,
            can_rollback: l.status == ListStatus::Succeeded
                && l.replaced_by.is_some()
                && l.operation != Operation::Stage,
            history: super::history::link(&l.target),
            followed_by: l.followed_by.map(|id| id.to_string()),
            drift: l.drift.as_ref().map(DriftView::new),
            notice,
            queued: None,
            submitted_by: l.submitted_by.clone(),
            destinations: l
                .destinations
                .iter()
                .map(|d| DestinationRow::new(d, l.id))
                .collect(),
        }
    }

    /// The same page with the "Add a platform" form as typed, and its errors.
    pub(super) fn with_add(mut self, add: AddView) -> Self {
        self.add = add;
        self
    }
}

/// The "Add a platform" form as typed, and the error next to each field.
#[derive(Debug, Clone, Default)]
pub(super) struct AddView {
    /// The source image reference.
    pub image: String,
    /// `os/arch[/variant]`, or empty.
    pub platform: String,
    /// About the image.
    pub image_error: Option<String>,
    /// About the platform.
    pub platform_error: Option<String>,
    /// About neither field (the list's target, a registry failure).
    pub error: Option<String>,
}

impl AddView {
    /// The form's fields with the errors placed for its one row.
    pub(super) fn with_errors(form: &SpecForm, errors: FormErrors) -> Self {
        let row = errors.rows.into_iter().next().unwrap_or_default();
        Self {
            image: form.rows[0].image.clone(),
            platform: form.rows[0].platform.clone(),
            image_error: row.image.or(errors.manifests),
            platform_error: row.platform,
            error: errors
                .general
                .or(errors.target)
                .or(errors.text.map(|t| t.message)),
        }
    }
}

/// What an entry's "Remove" button sends: `platform` and its `os/arch[/variant]` when that text
/// names it (reads back as the same platform), else `digest` and its digest.
pub(super) fn removal_key(e: &Entry) -> (&'static str, String) {
    let named = e.platform.as_ref().and_then(|p| {
        let plain = p.os_version.is_none() && p.os_features.is_empty() && p.features.is_empty();
        let text = p.to_string();
        let same = Platform::parse(&text).is_ok_and(|back| back.same_as(p));
        (plain && same).then_some(text)
    });
    match named {
        Some(text) => ("platform", text),
        None => ("digest", e.digest.to_string()),
    }
}

fn not_found() -> PageError {
    PageError::NotFound("There is no list with this id.".to_owned())
}

/// A service error of the list pages: a missing list is this page's 404.
pub(super) fn page_error(e: ServiceError) -> PageError {
    match e {
        ServiceError::NotFound(_) => not_found(),
        other => other.into(),
    }
}

#[get("/ui/lists/{id}")]
async fn show_list(
    req: HttpRequest,
    visitor: Visitor,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let list = state(&req)?.list(&id).await.map_err(page_error)?;
    let mut page = ListView::new(&visitor, &list, None);
    page.queued = queued_note(&req);
    render(&visitor, StatusCode::OK, &page)
}

#[post("/ui/lists/{id}/retry")]
async fn retry_list(
    req: HttpRequest,
    visitor: Visitor,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, PageError> {
    act(req, visitor, &id, payload, Act::Retry).await
}

#[post("/ui/lists/{id}/cancel")]
async fn cancel_list(
    req: HttpRequest,
    visitor: Visitor,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, PageError> {
    act(req, visitor, &id, payload, Act::Cancel).await
}

#[post("/ui/lists/{id}/follow")]
async fn follow_list(
    req: HttpRequest,
    visitor: Visitor,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, PageError> {
    act(req, visitor, &id, payload, Act::Follow).await
}

#[post("/ui/lists/{id}/rollback")]
async fn rollback_list(
    req: HttpRequest,
    visitor: Visitor,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, PageError> {
    act(req, visitor, &id, payload, Act::Rollback).await
}

#[post("/ui/lists/{id}/repair")]
async fn repair_list(
    req: HttpRequest,
    visitor: Visitor,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, PageError> {
    act(req, visitor, &id, payload, Act::Repair).await
}

#[post("/ui/lists/{id}/unfollow")]
async fn unfollow_list(
    req: HttpRequest,
    visitor: Visitor,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, PageError> {
    act(req, visitor, &id, payload, Act::Unfollow).await
}

/// The buttons of a list's page.
#[derive(Clone, Copy)]
enum Act {
    Retry,
    Cancel,
    Follow,
    Unfollow,
    Rollback,
    Repair,
}

/// A button's form post: checked, done, and back to the list.
async fn act(
    req: HttpRequest,
    visitor: Visitor,
    id: &str,
    payload: web::Payload,
    act: Act,
) -> Result<HttpResponse, PageError> {
    let form = FormData::read(&req, payload).await?;
    check_csrf(&req, &form)?;
    let services = state(&req)?;
    let (done, rule) = match act {
        Act::Retry => (
            services.retry(id).await,
            "Only a failed, canceled or superseded list can be retried.",
        ),
        Act::Cancel => (
            services.cancel(id).await,
            "Only a queued list can be canceled.",
        ),
        Act::Follow => (
            services.follow(id).await,
            "Only a list pushed from a spec can be followed.",
        ),
        Act::Unfollow => (services.unfollow(id).await, ""),
        Act::Rollback => (
            services.rollback(id).await,
            "Only a list that landed can be rolled back to.",
        ),
        Act::Repair => (
            services.set_repair(id, repair_asked(&form)?).await,
            "Only the list its target holds now can be kept whole.",
        ),
    };
    transition(&req, &visitor, id, done, rule).await
}

/// The repair choice a form sent: `false`, `true` or `tag`.
fn repair_asked(form: &FormData) -> Result<Repair, PageError> {
    let asked = form.get("repair").unwrap_or_default();
    serde_json::from_value(serde_json::Value::String(asked.to_owned())).map_err(|_| {
        PageError::BadRequest(format!(
            "\"{asked}\" is not a repair choice this page offers (false, true or tag)."
        ))
    })
}

/// After a button: back to the list, or the list again with why it could not be done.
async fn transition(
    req: &HttpRequest,
    visitor: &Visitor,
    id: &str,
    done: Result<ListResource, ServiceError>,
    rule: &str,
) -> Result<HttpResponse, PageError> {
    match done {
        Ok(list) => Ok(see_other(&format!("/ui/lists/{}", list.id))),
        Err(ServiceError::Conflict { .. }) => {
            let list = state(req)?.list(id).await.map_err(page_error)?;
            not_now(visitor, &list, rule)
        }
        Err(e) => Err(page_error(e)),
    }
}

/// The list again (409), saying why its status does not allow what was asked.
pub(super) fn not_now(
    visitor: &Visitor,
    list: &ListResource,
    rule: &str,
) -> Result<HttpResponse, PageError> {
    let notice = format!("The list is {}. {rule}", list.status);
    let page = ListView::new(visitor, list, Some(notice));
    render(visitor, StatusCode::CONFLICT, &page)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Digest;
    use crate::pages::security::new_token;
    use crate::pages::spec_form::Row;

    fn entry(platform: Option<&str>) -> Entry {
        Entry {
            image: "127.0.0.1:5000/demo-arm:v1".into(),
            digest: Digest::parse(&format!("sha256:{}", "ab".repeat(32))).unwrap(),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            size: 512,
            platform: platform.map(|p| Platform::parse(p).unwrap()),
            annotations: Default::default(),
            attestation: false,
        }
    }

    #[test]
    fn an_entry_is_removed_by_its_platform_or_else_its_digest() {
        let digest = format!("sha256:{}", "ab".repeat(32));

        assert_eq!(
            removal_key(&entry(Some("linux/arm/v7"))),
            ("platform", "linux/arm/v7".to_owned())
        );
        assert_eq!(removal_key(&entry(None)), ("digest", digest.clone()));
        let windows = entry(Some("windows(10.0.17763)/amd64"));
        assert_eq!(
            removal_key(&windows),
            ("digest", digest),
            "its text form does not read back"
        );
    }

    #[test]
    fn the_add_form_shows_each_error_at_its_field_and_keeps_the_input() {
        let form = SpecForm {
            target: "127.0.0.1:5000/demo:v1".into(),
            tags: String::new(),
            list_type: "auto".into(),
            rows: vec![Row {
                image: "127.0.0.1:5000/demo-arm64:v1".into(),
                platform: "plan9".into(),
            }],
            yaml: String::new(),
            referrers: false,
            inherit_annotations: false,
            repair: false,
            nonce: new_token(),
        };

        let errors = form.build().unwrap_err();
        let view = AddView::with_errors(&form, *errors);

        assert!(
            view.platform_error.as_deref().unwrap().contains("plan9"),
            "{view:?}"
        );
        assert!(
            view.image_error.is_none() && view.error.is_none(),
            "{view:?}"
        );
        assert_eq!(view.platform, "plan9");
        assert_eq!(view.image, "127.0.0.1:5000/demo-arm64:v1");
    }
}

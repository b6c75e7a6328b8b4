//! `GET /ui/lists/new` and `POST /ui/lists`: the spec form. Rows of source + platform (added and
//! removed by the server without JavaScript, in the page with it) or a pasted YAML spec; "Dry run"
//! shows the exact list and digest, "Push" queues it like the API and goes to its page.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;

use super::form_errors::{FormErrors, Line, listing};
use super::security::{FormData, check_csrf, state};
use super::spec_form::{Action, Built, SpecForm, refusal};
use super::view::{DigestView, human_size, media_label};
use super::{Layout, Nav, PageError, Visitor, render, see_other};
use crate::model::{AskedOptions, Entry};
use crate::service::{DryRun, ErrorKind, ServiceError, Submit};

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(new_list).service(submit_list);
}

struct RowView {
    index: usize,
    n: usize,
    image: String,
    platform: String,
    image_error: Option<String>,
    platform_error: Option<String>,
}

struct ListTypeOption {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

struct DryRunView {
    target: String,
    digest: DigestView,
    media_type: String,
    media_label: &'static str,
    size: u64,
    size_human: String,
    entries: Vec<Entry>,
    skipped: Vec<(String, String)>,
    document: String,
    /// What the push would bring along, counted by kind ("1 signature, 1 SBOM"); empty for none.
    referrers: String,
    requests: u64,
}

#[derive(Template)]
#[template(path = "pages/new.html")]
struct NewPage {
    layout: Layout,
    form: SpecForm,
    rows: Vec<RowView>,
    list_types: Vec<ListTypeOption>,
    errors: FormErrors,
    has_errors: bool,
    listing: Vec<Line>,
    dry_run: Option<DryRunView>,
}

impl DryRunView {
    fn of(dry: DryRun) -> Self {
        Self {
            target: dry.target,
            digest: DigestView::new(dry.digest.as_str()),
            media_label: media_label(&dry.media_type),
            media_type: dry.media_type,
            size: dry.size,
            size_human: human_size(dry.size),
            entries: dry.entries,
            skipped: dry
                .skipped
                .into_iter()
                .map(|s| (s.image, s.reason))
                .collect(),
            document: dry.document,
            referrers: crate::model::tally(&dry.referrers),
            requests: dry.requests,
        }
    }
}

impl NewPage {
    fn new(visitor: &Visitor, form: SpecForm, errors: Option<FormErrors>) -> Self {
        let has_errors = errors.is_some();
        let errors = errors.unwrap_or_default();
        let rows = form
            .rows
            .iter()
            .enumerate()
            .map(|(index, r)| {
                let e = errors.rows.get(index).cloned().unwrap_or_default();
                RowView {
                    index,
                    n: index + 1,
                    image: r.image.clone(),
                    platform: r.platform.clone(),
                    image_error: e.image,
                    platform_error: e.platform,
                }
            })
            .collect();
        let listing = match errors.text.as_ref().and_then(|t| t.line) {
            Some(line) => listing(&form.yaml, line),
            None => Vec::new(),
        };
        let list_types = [
            ("auto", "Auto (OCI if any source is OCI)"),
            ("docker", "Docker manifest list"),
            ("oci", "OCI image index"),
        ]
        .into_iter()
        .map(|(value, label)| ListTypeOption {
            value,
            label,
            selected: form.list_type == value,
        })
        .collect();
        Self {
            layout: Layout::new(visitor, Nav::New),
            form,
            rows,
            list_types,
            errors,
            has_errors,
            listing,
            dry_run: None,
        }
    }
}

#[get("/ui/lists/new")]
async fn new_list(visitor: Visitor) -> Result<HttpResponse, PageError> {
    let page = NewPage::new(&visitor, SpecForm::empty(), None);
    render(&visitor, StatusCode::OK, &page)
}

#[post("/ui/lists")]
async fn submit_list(
    req: HttpRequest,
    visitor: Visitor,
    payload: web::Payload,
) -> Result<HttpResponse, PageError> {
    let posted = FormData::read(&req, payload).await?;
    check_csrf(&req, &posted)?;
    let state = state(&req)?;
    let mut form = SpecForm::from_form(&posted);
    let action = SpecForm::action(&posted);
    if matches!(action, Action::AddRow | Action::RemoveRow(_)) {
        form.apply(action);
        return render(
            &visitor,
            StatusCode::OK,
            &NewPage::new(&visitor, form, None),
        );
    }
    let (form, built) = form.build_off_thread(state).await?;
    let built = match built {
        Ok(built) => built,
        Err(errors) => return invalid(&visitor, form, *errors, StatusCode::BAD_REQUEST),
    };
    let output = AskedOptions {
        list_type: Some(built.list_type),
        ..AskedOptions::default()
    };
    let submit = built.submit(output, Some(format!("ui:{}", form.nonce)));
    if action == Action::DryRun {
        return match state.dry_run(&submit).await {
            Ok(dry) => {
                let mut page = NewPage::new(&visitor, form, None);
                page.dry_run = Some(DryRunView::of(dry));
                render(&visitor, StatusCode::OK, &page)
            }
            Err(e) => refused(&visitor, form, &built, e),
        };
    }
    let list = match state.submit(&submit).await {
        // The same form sent again after an edit: a new list.
        Err(ServiceError::KeyReused) => {
            let again = Submit {
                idempotency_key: None,
                ..submit
            };
            state.submit(&again).await
        }
        other => other,
    };
    match list {
        Ok(list) => Ok(see_other(&format!("/ui/lists/{}", list.id))),
        Err(e) => refused(&visitor, form, &built, e),
    }
}

/// The form again, with a service error placed on the field or row it is about.
fn refused(
    visitor: &Visitor,
    form: SpecForm,
    built: &Built,
    e: ServiceError,
) -> Result<HttpResponse, PageError> {
    if e.kind() == ErrorKind::Internal {
        return Err(e.into());
    }
    let (errors, status) = refusal(&form, built, &e);
    invalid(visitor, form, errors, status)
}

fn invalid(
    visitor: &Visitor,
    form: SpecForm,
    errors: FormErrors,
    status: StatusCode,
) -> Result<HttpResponse, PageError> {
    render(visitor, status, &NewPage::new(visitor, form, Some(errors)))
}

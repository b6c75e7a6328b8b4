//! `GET /ui/lists/new` and `POST /ui/lists`: the spec form. Rows of source + platform (added and
//! removed by the server without JavaScript, in the page with it) or a pasted YAML spec; "Dry run"
//! shows the exact list and digest, "Push" queues it like the API and goes to its page.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;
use sha2::Digest as _;

use super::form_errors::{FormErrors, Line, listing};
use super::security::{FormData, check_csrf, state};
use super::spec_form::{Action, Built, SpecForm};
use super::view::{DigestView, EntryView, explain, human_size, media_label};
use super::{Layout, Nav, PageError, Visitor, render, see_other};
use crate::api::check_allowed;
use crate::db::{Inserted, NewList};
use crate::engine::{self, EngineError, PushOptions};
use crate::error::ApiError;
use crate::model::ListType;
use crate::startup::AppState;

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

struct OutputOption {
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
    entries: Vec<EntryView>,
    skipped: Vec<(String, String)>,
    document: String,
    requests: u64,
}

#[derive(Template)]
#[template(path = "pages/new.html")]
struct NewPage {
    layout: Layout,
    form: SpecForm,
    rows: Vec<RowView>,
    outputs: Vec<OutputOption>,
    errors: FormErrors,
    has_errors: bool,
    listing: Vec<Line>,
    dry_run: Option<DryRunView>,
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
        let outputs = [
            ("auto", "Auto (OCI if any source is OCI)"),
            ("docker", "Docker manifest list"),
            ("oci", "OCI image index"),
        ]
        .into_iter()
        .map(|(value, label)| OutputOption {
            value,
            label,
            selected: form.output == value,
        })
        .collect();
        Self {
            layout: Layout::new(visitor, Nav::New),
            form,
            rows,
            outputs,
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
    let built = match form.build() {
        Ok(built) => built,
        Err(errors) => return invalid(&visitor, form, *errors, StatusCode::BAD_REQUEST),
    };
    let callback = built.submission.options.callback_url.clone();
    if let Err(e) = check_allowed(state, &built.submission, callback.as_deref()) {
        let mut errors = FormErrors::for_rows(form.rows.len());
        let d = e.detail();
        errors.place(
            &form,
            &built.row_of,
            d.field.as_deref(),
            &d.message,
            (None, None),
        );
        return invalid(&visitor, form, errors, e.status());
    }
    if action == Action::DryRun {
        return dry_run(state, &visitor, form, &built).await;
    }
    let id = insert(state, &form, &built).await?;
    Ok(see_other(&format!("/ui/lists/{id}")))
}

fn invalid(
    visitor: &Visitor,
    form: SpecForm,
    errors: FormErrors,
    status: StatusCode,
) -> Result<HttpResponse, PageError> {
    render(visitor, status, &NewPage::new(visitor, form, Some(errors)))
}

fn options(built: &Built) -> PushOptions {
    PushOptions {
        output: built.output,
        ignore_missing: built.submission.options.ignore_missing.unwrap_or(false),
        ..PushOptions::default()
    }
}

async fn dry_run(
    state: &AppState,
    visitor: &Visitor,
    form: SpecForm,
    built: &Built,
) -> Result<HttpResponse, PageError> {
    let client = state.registries.client();
    let spec = &built.submission.spec;
    match engine::plan(&client, spec, &options(built)).await {
        Ok(plan) => {
            let report = plan.report(&client, true);
            let mut page = NewPage::new(visitor, form, None);
            page.dry_run = Some(DryRunView {
                target: report.target,
                digest: DigestView::new(report.digest.as_str()),
                media_label: media_label(&report.media_type),
                media_type: report.media_type,
                size: report.size,
                size_human: human_size(report.size),
                entries: report
                    .entries
                    .iter()
                    .map(|e| {
                        EntryView::new(
                            e.platform.as_ref(),
                            &e.image,
                            e.digest.as_str(),
                            e.size,
                            &e.media_type,
                            e.attestation,
                        )
                    })
                    .collect(),
                skipped: report
                    .skipped
                    .into_iter()
                    .map(|s| (s.image, s.reason))
                    .collect(),
                document: String::from_utf8_lossy(&report.list.bytes).into_owned(),
                requests: report.requests,
            });
            render(visitor, StatusCode::OK, &page)
        }
        Err(e) => {
            let mut errors = FormErrors::for_rows(form.rows.len());
            let code = e.code().to_string();
            let message = crate::registry::error_chain(&e);
            let text = match explain(&code) {
                Some(hint) => format!("{code}: {message}. {hint}"),
                None => format!("{code}: {message}"),
            };
            let row = match &e {
                EngineError::Registry { reference, .. } => spec
                    .manifests
                    .iter()
                    .position(|m| m.image.to_string() == *reference)
                    .and_then(|i| built.row_of.get(i).copied()),
                _ => None,
            };
            match row {
                Some(r) if !form.uses_text() => errors.rows[r].image = Some(text),
                _ => errors.general = Some(text),
            }
            let status = ApiError::from(e).status();
            invalid(visitor, form, errors, status)
        }
    }
}

async fn insert(state: &AppState, form: &SpecForm, built: &Built) -> Result<String, PageError> {
    let spec = &built.submission.spec;
    let options = options(built);
    let output = match options.output {
        ListType::Docker => "docker",
        ListType::Oci => "oci",
        ListType::Auto => "auto",
    };
    let mut hash = sha2::Sha256::new();
    for part in [built.format, output, built.text.as_str()] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    let mut new = NewList {
        target: spec.image.to_string(),
        tags: spec.tags.clone(),
        output_type: output.to_owned(),
        ignore_missing: options.ignore_missing,
        spec: serde_json::to_value(spec).map_err(PageError::internal)?,
        spec_text: built.text.clone(),
        spec_format: built.format.to_owned(),
        callback_url: built.submission.options.callback_url.clone(),
        request_hash: hex::encode(hash.finalize()),
        idempotency_key: Some(format!("ui:{}", form.nonce)),
    };
    let max = state.config.job_max_attempts;
    let list = match state.store.insert_list(&new, max).await? {
        Inserted::New(list) | Inserted::Existing(list) => list,
        // The same form sent again after an edit: a new list.
        Inserted::KeyReused => {
            new.idempotency_key = None;
            match state.store.insert_list(&new, max).await? {
                Inserted::New(list) | Inserted::Existing(list) => list,
                Inserted::KeyReused => return Err(PageError::internal("no key, yet reused")),
            }
        }
    };
    Ok(list.id.to_string())
}

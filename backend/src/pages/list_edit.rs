//! `POST /ui/lists/{id}/remove` and `/append`: the edits a succeeded list's page offers — an
//! entry removed (by its platform, or by its digest when no `os/arch[/variant]` names it), or one
//! more image merged in ("Add a platform"). Each is queued by the service as a new list of the
//! same target, and the visitor is sent to that list's page.
//!
//! Owns the two forms' fields as posted (what a "Remove" button sends, and the "Add a platform"
//! form's view with its errors, are the list page's: `list.rs`). The rules are the spec parser's
//! and the service's: the added image goes through
//! the same spec form model as a new list's rows, and brings its referrers when the list brought
//! its children's.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, post, web};
use serde_json::{Map, Value};

use super::form_errors::FormErrors;
use super::list::{AddView, ListView, not_now, page_error};
use super::security::{FormData, check_csrf, new_token, state};
use super::spec_form::{Row, SpecForm, refusal};
use super::{PageError, Visitor, render, see_other};
use crate::model::{AskedOptions, ListStatus};
use crate::service::{Edit, ErrorKind, ListResource};
use crate::spec::{Removal, Work};

/// Why a list that has not succeeded offers no edits.
const ONLY_SUCCEEDED: &str =
    "Entries can be removed or added only once a list has succeeded (its entries are known then).";

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(remove_entry).service(append_entry);
}

/// The form posted to a list's edit action (its CSRF token checked) and the list; or the list's
/// page saying why a list that has not succeeded cannot be edited.
async fn posted_to_succeeded(
    req: &HttpRequest,
    visitor: &Visitor,
    id: &str,
    payload: web::Payload,
) -> Result<Result<(FormData, ListResource), HttpResponse>, PageError> {
    let form = FormData::read(req, payload).await?;
    check_csrf(req, &form)?;
    let list = state(req)?.list(id).await.map_err(page_error)?;
    if list.status != ListStatus::Succeeded {
        return not_now(visitor, &list, ONLY_SUCCEEDED).map(Err);
    }
    Ok(Ok((form, list)))
}

#[post("/ui/lists/{id}/remove")]
async fn remove_entry(
    req: HttpRequest,
    visitor: Visitor,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, PageError> {
    let (form, list) = match posted_to_succeeded(&req, &visitor, &id, payload).await? {
        Ok(found) => found,
        Err(refused) => return Ok(refused),
    };
    let platforms: Vec<String> = form.all("platform").map(str::to_owned).collect();
    let digests: Vec<String> = form.all("digest").map(str::to_owned).collect();
    let removal = Removal::parse(&list.target, &platforms, &digests)
        .map_err(|e| PageError::BadRequest(format!("The entry to remove is not valid: {e}.")))?;
    let mut text = Map::new();
    text.insert("target".into(), Value::from(list.target.as_str()));
    for (name, values) in [("platforms", platforms), ("digests", digests)] {
        if !values.is_empty() {
            text.insert(name.into(), Value::from(values));
        }
    }
    let edit = Edit {
        work: Work::Remove(removal),
        asked: AskedOptions::default(),
        text: Value::Object(text).to_string(),
        idempotency_key: None,
    };
    let queued = state(&req)?.edit(&edit).await.map_err(page_error)?;
    Ok(see_other(&format!("/ui/lists/{}?queued=remove", queued.id)))
}

#[post("/ui/lists/{id}/append")]
async fn append_entry(
    req: HttpRequest,
    visitor: Visitor,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, PageError> {
    let (posted, list) = match posted_to_succeeded(&req, &visitor, &id, payload).await? {
        Ok(found) => found,
        Err(refused) => return Ok(refused),
    };
    let form = SpecForm {
        target: list.target.clone(),
        tags: String::new(),
        list_type: "auto".to_owned(),
        rows: vec![Row {
            image: posted.get("image").unwrap_or("").to_owned(),
            platform: posted.get("platform").unwrap_or("").to_owned(),
        }],
        yaml: String::new(),
        // What the list did with its children's referrers, its append does too.
        referrers: list.referrers,
        inherit_annotations: list.inherit_annotations,
        repair: false,
        nonce: new_token(),
    };
    if form.rows[0].image.trim().is_empty() {
        let mut errors = FormErrors::for_rows(1);
        errors.rows[0].image =
            Some("Name the image to add, e.g. registry.example:5000/demo-arm64:v0.2.".to_owned());
        return again(&visitor, &list, &form, errors, StatusCode::BAD_REQUEST);
    }
    let services = state(&req)?;
    let (form, built) = form.build_off_thread(services).await?;
    let built = match built {
        Ok(built) => built,
        Err(errors) => return again(&visitor, &list, &form, *errors, StatusCode::BAD_REQUEST),
    };
    let append = AskedOptions {
        append: Some(true),
        ..AskedOptions::default()
    };
    let submit = built.submit(append, None);
    match services.submit(&submit).await {
        Ok(queued) => Ok(see_other(&format!("/ui/lists/{}?queued=append", queued.id))),
        Err(e) if e.kind() == ErrorKind::Internal => Err(e.into()),
        Err(e) => {
            let (errors, status) = refusal(&form, &built, &e);
            again(&visitor, &list, &form, errors, status)
        }
    }
}

/// The list's page again, the "Add a platform" form as typed with its errors beside its fields.
fn again(
    visitor: &Visitor,
    list: &ListResource,
    form: &SpecForm,
    errors: FormErrors,
    status: StatusCode,
) -> Result<HttpResponse, PageError> {
    let page = ListView::new(visitor, list, None).with_add(AddView::with_errors(form, errors));
    render(visitor, status, &page)
}

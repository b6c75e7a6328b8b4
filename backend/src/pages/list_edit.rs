//! `POST /ui/lists/{id}/remove` and `/append`: the edits a succeeded list's page offers — an
//! entry removed (by its platform, or by its digest when no `os/arch[/variant]` names it), or one
//! more image merged in ("Add a platform"). Each is queued by the service as a new list of the
//! same target, and the visitor is sent to that list's page.
//!
//! Owns the two forms' fields as posted, what a "Remove" button sends for an entry, and the "Add a
//! platform" form's view (its input kept, its errors placed by `form_errors` as the new-list
//! form's are). The rules are the spec parser's and the service's: the added image goes through
//! the same spec form model as a new list's rows, and brings its referrers when the list brought
//! its children's.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, post, web};
use serde_json::{Map, Value};

use super::form_errors::{FormErrors, refusal};
use super::list::{ListPage, not_now, page_error};
use super::security::{FormData, check_csrf, new_token, state};
use super::spec_form::{Row, SpecForm};
use super::{PageError, Visitor, render, see_other};
use crate::model::{AskedOptions, Entry, ListStatus, Platform};
use crate::service::{Edit, ErrorKind, ListResource};
use crate::spec::{Removal, Work};

/// Why a list that has not succeeded offers no edits.
const ONLY_SUCCEEDED: &str =
    "Entries can be removed or added only once a list has succeeded (its entries are known then).";

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(remove_entry).service(append_entry);
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
    fn with_errors(form: &SpecForm, errors: FormErrors) -> Self {
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
        output: "auto".to_owned(),
        rows: vec![Row {
            image: posted.get("image").unwrap_or("").to_owned(),
            platform: posted.get("platform").unwrap_or("").to_owned(),
        }],
        yaml: String::new(),
        // What the list did with its children's referrers, its append does too.
        referrers: list.referrers,
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
    let page = ListPage::new(visitor, list, None).with_add(AddView::with_errors(form, errors));
    render(visitor, status, &page)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Digest;

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
            output: "auto".into(),
            rows: vec![Row {
                image: "127.0.0.1:5000/demo-arm64:v1".into(),
                platform: "plan9".into(),
            }],
            yaml: String::new(),
            referrers: false,
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

//! `/lists`: submit a list spec (JSON or manifest-tool YAML) to be pushed, follow it, list, retry
//! and cancel. A submission is validated before anything is queued; the list and its push job are
//! written in one transaction.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::State;
use super::access::{Read, Write};
use crate::db::{Inserted, ListFilter, ListStatus, NewList, Transition};
use crate::engine::{self, PushOptions};
use crate::error::{ApiError, ErrorBody};
use crate::model::Entry;
use crate::model::ListType;
use crate::resource::ListResource;
use crate::spec::{self, Submission};

/// Largest request body accepted (a spec is at most 4 MiB of list, plus its text).
pub const MAX_BODY_BYTES: usize = 5 * 1024 * 1024;

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_list)
        .service(get_lists)
        .service(get_list)
        .service(retry_list)
        .service(cancel_list);
}

/// Options of a submission given in the query (a spec's own `type`, `callback_url` and
/// `ignore_missing` keys win).
#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct SubmitQuery {
    /// Resolve the sources and answer with the exact list and its digest, writing nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// The list type: `docker`, `oci` or `auto` (the default).
    #[serde(rename = "type")]
    #[param(rename = "type", value_type = Option<String>)]
    pub output: Option<ListType>,
    /// Where to POST the list when it finishes.
    pub callback_url: Option<String>,
    /// Skip sources that do not exist.
    pub ignore_missing: Option<bool>,
}

/// A list spec: manifest-tool's format, as JSON (or as YAML with `Content-Type: application/yaml`).
#[derive(Debug, ToSchema)]
#[expect(
    dead_code,
    reason = "only documents the body: the spec parser reads it"
)]
#[schema(example = json!({
    "image": "registry.example:5000/demo:v0.2",
    "tags": ["latest"],
    "manifests": [
        {"image": "registry.example:5000/demo-s390x:v0.2", "platform": {"architecture": "s390x", "os": "linux"}},
        {"image": "registry.example:5000/demo-amd64:v0.2", "platform": {"architecture": "amd64", "os": "linux"}}
    ],
    "type": "docker",
    "callback_url": "https://ci.example/hooks/manifold"
}))]
pub struct SpecBody {
    /// The target reference (a tag).
    pub image: String,
    /// Extra tags.
    pub tags: Option<Vec<String>>,
    /// Index annotations (OCI only).
    #[schema(value_type = Option<Object>)]
    pub annotations: Option<serde_json::Value>,
    /// Sources: `image`, optional `platform` (`architecture`, `os`, `variant`, `os.version`,
    /// `os.features`, `features`) and `annotations`.
    #[schema(value_type = Vec<Object>)]
    pub manifests: Vec<serde_json::Value>,
    /// `docker`, `oci` or `auto`.
    #[schema(rename = "type")]
    pub output: Option<String>,
    /// Where to POST the list when it finishes.
    pub callback_url: Option<String>,
    /// Skip sources that do not exist.
    pub ignore_missing: Option<bool>,
}

/// What a dry run resolved: the exact list that would be pushed.
#[derive(Debug, Serialize, ToSchema)]
pub struct DryRun {
    /// The target reference.
    pub target: String,
    /// The list's digest.
    pub digest: crate::model::Digest,
    /// Docker manifest list or OCI index.
    pub media_type: String,
    /// The list's size in bytes.
    pub size: u64,
    /// The exact list document that would be pushed (its sha256 is `digest`).
    pub document: String,
    /// The entries.
    #[schema(value_type = Vec<Object>)]
    pub entries: Vec<Entry>,
    /// Sources skipped as missing.
    #[schema(value_type = Vec<Object>)]
    pub skipped: Vec<engine::Skipped>,
    /// Registry requests made.
    pub requests: u64,
}

/// Submit a list spec to be pushed.
///
/// Answers `202 Accepted` with the queued list and its `Location`. A repeated request with the same
/// `Idempotency-Key` answers the first list again. With `?dry_run=true`, resolves the sources and
/// answers `200` with the exact list and its digest, writing nothing.
#[utoipa::path(
    tag = "lists",
    operation_id = "create_list",
    params(
        SubmitQuery,
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retried request answer the first list")
    ),
    request_body(content(
        (SpecBody = "application/json"),
        (String = "application/yaml", example = "image: registry.example:5000/demo:v0.2\nmanifests:\n  - image: registry.example:5000/demo-amd64:v0.2\n"),
        (String = "text/yaml")
    )),
    responses(
        (status = 202, description = "Queued", body = ListResource, headers(("Location" = String, description = "/lists/{id}"))),
        (status = 200, description = "Dry run: the list that would be pushed", body = DryRun),
        (status = 400, description = "Invalid spec: the field (and line, column) at fault", body = ErrorBody),
        (status = 401, description = "No API token", body = ErrorBody),
        (status = 403, description = "Invalid token, or a registry or callback host not allowed", body = ErrorBody),
        (status = 413, description = "Body over 5 MiB", body = ErrorBody),
        (status = 415, description = "Neither JSON nor YAML", body = ErrorBody),
        (status = 422, description = "Idempotency-Key reused with another body; or (dry run) the sources don't make a valid list", body = ErrorBody)
    ),
    security((), ("token" = []))
)]
#[post("/lists")]
async fn create_list(
    state: State,
    req: HttpRequest,
    query: web::Query<SubmitQuery>,
    payload: web::Payload,
    _: Write,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(payload).await?;
    let (format, submission) = parse_body(&req, &body)?;
    let query = query.into_inner();
    let output = submission
        .options
        .output
        .or(query.output)
        .unwrap_or_default();
    let callback_url = submission
        .options
        .callback_url
        .clone()
        .or(query.callback_url.clone());
    let ignore_missing = submission
        .options
        .ignore_missing
        .or(query.ignore_missing)
        .unwrap_or(false);
    check_allowed(&state, &submission, callback_url.as_deref())?;
    let spec = &submission.spec;
    if query.dry_run {
        let client = state.registries.client();
        let options = PushOptions {
            output,
            ignore_missing,
            ..PushOptions::default()
        };
        let report = engine::plan(&client, spec, &options)
            .await?
            .report(&client, true);
        return Ok(HttpResponse::Ok().json(DryRun {
            target: report.target,
            digest: report.digest,
            media_type: report.media_type,
            size: report.size,
            document: String::from_utf8_lossy(&report.list.bytes).into_owned(),
            entries: report.entries,
            skipped: report.skipped,
            requests: report.requests,
        }));
    }
    let text = String::from_utf8_lossy(&body).into_owned();
    let idempotency_key = req
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty());
    if idempotency_key.as_ref().is_some_and(|k| k.len() > 255) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_HEADER",
            "Idempotency-Key is longer than 255 characters",
        )
        .field("Idempotency-Key"));
    }
    let new = NewList {
        target: spec.image.to_string(),
        tags: spec.tags.clone(),
        output_type: output_name(output).to_owned(),
        ignore_missing,
        spec: serde_json::to_value(spec).map_err(ApiError::internal)?,
        spec_text: text,
        spec_format: format.to_owned(),
        callback_url,
        request_hash: request_hash(&req, &body),
        idempotency_key,
    };
    let list = match state
        .store
        .insert_list(&new, state.config.job_max_attempts)
        .await?
    {
        Inserted::New(list) | Inserted::Existing(list) => list,
        Inserted::KeyReused => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "IDEMPOTENCY_KEY_REUSED",
                "this Idempotency-Key was used before with another request",
            )
            .field("Idempotency-Key"));
        }
    };
    Ok(HttpResponse::Accepted()
        .insert_header(("Location", format!("/lists/{}", list.id)))
        .json(ListResource::from(&list)))
}

/// Reads the body up to [`MAX_BODY_BYTES`].
async fn read_body(mut payload: web::Payload) -> Result<Vec<u8>, ApiError> {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "INVALID_BODY",
                format!("cannot read the body: {e}"),
            )
        })?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "BODY_TOO_LARGE",
                format!("the body is over {MAX_BODY_BYTES} bytes"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Parses the body by its content type: JSON, YAML, or (none given) whichever it looks like.
pub fn parse_body(req: &HttpRequest, body: &[u8]) -> Result<(&'static str, Submission), ApiError> {
    let text = std::str::from_utf8(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_BODY",
            format!("the body is not UTF-8: {e}"),
        )
    })?;
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let (format, parsed) = match content_type.as_str() {
        "application/json" => ("json", spec::parse::submission_from_json(text)),
        "application/yaml" | "text/yaml" | "application/x-yaml" | "text/x-yaml" => {
            ("yaml", spec::parse::submission_from_yaml(text))
        }
        "" | "text/plain" => {
            let json = text.trim_start().starts_with('{');
            (
                if json { "json" } else { "yaml" },
                spec::parse::submission_from_text(text),
            )
        }
        other => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
                format!(
                    "Content-Type {other} is not accepted; send application/json or application/yaml"
                ),
            ));
        }
    };
    Ok((format, parsed?))
}

/// Every registry must be on the allow-list, and a callback host on its own.
pub fn check_allowed(
    state: &crate::startup::AppState,
    submission: &Submission,
    callback_url: Option<&str>,
) -> Result<(), ApiError> {
    let allow = state.config.allow();
    let spec = &submission.spec;
    let refs = std::iter::once(("image".to_owned(), &spec.image)).chain(
        spec.manifests
            .iter()
            .enumerate()
            .map(|(i, m)| (format!("manifests[{i}].image"), &m.image)),
    );
    for (field, reference) in refs {
        if !allow.allows(reference.registry()) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "REGISTRY_NOT_ALLOWED",
                format!(
                    "registry {} is not one this service may talk to (MANIFOLD_REGISTRIES)",
                    reference.registry()
                ),
            )
            .field(field));
        }
    }
    if let Some(url) = callback_url
        && !state.config.callback_allowed(url)
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "CALLBACK_NOT_ALLOWED",
            format!("callbacks to {url} are not allowed (MANIFOLD_CALLBACK_HOSTS)"),
        )
        .field("callback_url"));
    }
    Ok(())
}

fn output_name(output: ListType) -> &'static str {
    match output {
        ListType::Docker => "docker",
        ListType::Oci => "oci",
        ListType::Auto => "auto",
    }
}

/// What makes two requests the same, for Idempotency-Key.
fn request_hash(req: &HttpRequest, body: &[u8]) -> String {
    let mut h = sha2::Sha256::new();
    h.update(req.query_string().as_bytes());
    h.update([0]);
    h.update(
        req.headers()
            .get("content-type")
            .map_or(&b""[..], |v| v.as_bytes()),
    );
    h.update([0]);
    h.update(body);
    hex::encode(h.finalize())
}

/// Filters and paging of the list listing.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ListQuery {
    /// Only lists with this status.
    #[param(value_type = Option<String>)]
    pub status: Option<ListStatus>,
    /// Only lists pushed to this target (`registry/repo` or `registry/repo:tag`).
    pub target: Option<String>,
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One page of lists, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListPage {
    /// The lists.
    pub items: Vec<ListResource>,
    /// Pass as `cursor` for the next page; absent on the last one.
    pub next_cursor: Option<String>,
}

/// Lists, newest first, filtered by status and target, with cursor paging.
#[utoipa::path(
    tag = "lists",
    operation_id = "get_lists",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of lists", body = ListPage),
        (status = 400, description = "Invalid filter or cursor", body = ErrorBody)
    ),
    security((), ("token" = []))
)]
#[get("/lists")]
async fn get_lists(
    state: State,
    query: web::Query<ListQuery>,
    _: Read,
) -> Result<HttpResponse, ApiError> {
    let page = list_page(&state, &query).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// The page a listing query asks for (shared with the pages).
pub async fn list_page(
    state: &crate::startup::AppState,
    query: &ListQuery,
) -> Result<ListPage, ApiError> {
    let before = match &query.cursor {
        Some(c) if !c.is_empty() => Some(decode_cursor(c)?),
        _ => None,
    };
    let filter = ListFilter {
        status: query.status,
        target: query.target.clone().filter(|t| !t.trim().is_empty()),
        before,
        limit: query.limit.unwrap_or(50),
    };
    let page = state.store.list_lists(&filter).await?;
    Ok(ListPage {
        items: page.items.iter().map(ListResource::from).collect(),
        next_cursor: page.next.map(|(t, id)| encode_cursor(t, id)),
    })
}

fn encode_cursor(t: DateTime<Utc>, id: Uuid) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{}|{id}", t.to_rfc3339()))
}

fn decode_cursor(cursor: &str) -> Result<(DateTime<Utc>, Uuid), ApiError> {
    let bad = || {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_CURSOR",
            "the cursor is not one this service gave",
        )
        .field("cursor")
    };
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let (t, id) = text.split_once('|').ok_or_else(bad)?;
    let t = DateTime::parse_from_rfc3339(t)
        .map_err(|_| bad())?
        .with_timezone(&Utc);
    Ok((t, id.parse().map_err(|_| bad())?))
}

/// One list: status, attempts, digest and every entry, the error if it failed.
#[utoipa::path(
    tag = "lists",
    operation_id = "get_list",
    params(("id" = Uuid, Path, description = "The list's id")),
    responses(
        (status = 200, description = "The list", body = ListResource),
        (status = 404, description = "No such list", body = ErrorBody)
    ),
    security((), ("token" = []))
)]
#[get("/lists/{id}")]
async fn get_list(state: State, id: web::Path<String>, _: Read) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let list = state
        .store
        .get_list(id)
        .await?
        .ok_or_else(|| ApiError::not_found("the list"))?;
    Ok(HttpResponse::Ok().json(ListResource::from(&list)))
}

/// Queue a failed or canceled list again.
#[utoipa::path(
    tag = "lists",
    operation_id = "retry_list",
    params(("id" = Uuid, Path, description = "The list's id")),
    responses(
        (status = 202, description = "Queued again", body = ListResource),
        (status = 404, description = "No such list", body = ErrorBody),
        (status = 409, description = "The list is not failed or canceled", body = ErrorBody)
    ),
    security((), ("token" = []))
)]
#[post("/lists/{id}/retry")]
async fn retry_list(
    state: State,
    id: web::Path<String>,
    _: Write,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let done = state.store.retry(id, state.config.job_max_attempts).await?;
    transition(done, "only a failed or canceled list can be retried")
}

/// Cancel a queued list (one that is running cannot be canceled).
#[utoipa::path(
    tag = "lists",
    operation_id = "cancel_list",
    params(("id" = Uuid, Path, description = "The list's id")),
    responses(
        (status = 202, description = "Canceled", body = ListResource),
        (status = 404, description = "No such list", body = ErrorBody),
        (status = 409, description = "The list is not queued", body = ErrorBody)
    ),
    security((), ("token" = []))
)]
#[post("/lists/{id}/cancel")]
async fn cancel_list(
    state: State,
    id: web::Path<String>,
    _: Write,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let done = state.store.cancel(id).await?;
    transition(done, "only a queued list can be canceled")
}

fn transition(done: Transition, rule: &str) -> Result<HttpResponse, ApiError> {
    match done {
        Transition::Done(list) => {
            Ok(HttpResponse::Accepted().json(ListResource::from(list.as_ref())))
        }
        Transition::NotFound => Err(ApiError::not_found("the list")),
        Transition::Conflict(status) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "CONFLICT",
            format!("the list is {}; {rule}", status.as_str()),
        )),
    }
}

/// A list id from a path; an id that is not a UUID names no list.
pub fn parse_id(id: &str) -> Result<Uuid, ApiError> {
    id.parse().map_err(|_| ApiError::not_found("the list"))
}

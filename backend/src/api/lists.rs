//! `/lists`: submit a list spec (JSON or manifest-tool YAML) to be pushed, follow it, keep it whole
//! (repair), list, retry and cancel. The handlers read the request (body by content type, query, headers), call the
//! service and answer its result as JSON; the rules are the service's.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, get, post, put, web};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::State;
use super::access::{Read, Submitter, Write};
use super::error::{ApiError, ErrorBody};
use super::query::Query;
use crate::http::{self, BodyError};
use crate::model::{AskedOptions, ErrorCode, ListStatus, Repair, SpecFormat};
use crate::service::{DryRun, Json, ListPage, ListResource, MAX_BODY_BYTES, PageQuery, Submit};
use crate::spec::{self, Submission};

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_list)
        .service(get_lists)
        .service(get_list)
        .service(retry_list)
        .service(cancel_list)
        .service(follow_list)
        .service(unfollow_list)
        .service(set_repair);
}

/// `?dry_run=true`: resolve the sources and answer with the exact list and its digest, writing
/// nothing. (The submission's options in the query are [`AskedOptions`]; a spec's own keys win.)
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DryRunQuery {
    /// Resolve the sources and answer with the exact list and its digest, writing nothing.
    #[serde(default)]
    pub dry_run: bool,
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
    #[schema(min_length = 1)]
    pub image: String,
    /// Extra tags.
    #[schema(min_length = 1)]
    pub tags: Option<Vec<String>>,
    /// Index annotations (OCI only).
    #[schema(value_type = Option<Object>)]
    pub annotations: Option<serde_json::Value>,
    /// Sources: `image`, optional `platform` (`architecture`, `os`, `variant`, `os.version`,
    /// `os.features`, `features`) and `annotations`.
    #[schema(value_type = Vec<Object>)]
    pub manifests: Vec<serde_json::Value>,
    /// The submission's options (a spec's own keys win over the query's).
    #[serde(flatten)]
    pub options: AskedOptions,
    /// A staged release: the platforms (`os/arch[/variant]`) it must have before its tag moves.
    /// Submissions naming the same release (and target) each bring their platforms; their
    /// children are copied into the target repository as they arrive, and the tag and extra tags
    /// are PUT once, when every platform is there. Each submission's list is `staged` until
    /// then, and ends with the release.
    #[schema(example = json!(["linux/amd64", "linux/arm64"]))]
    pub expect: Option<Vec<String>>,
    /// The release's key (with `expect`): submissions with the same target and key make one
    /// release. Default: the target. Once released, a submission to it is an ordinary append;
    /// after a failed release, it starts a new one.
    pub release: Option<String>,
    /// Seconds from a release's first submission until its deadline (with `expect`; default a
    /// day, at most a week).
    pub deadline_secs: Option<u64>,
    /// What the deadline does to an incomplete release: `fail` (the default: the tag is not
    /// moved, the missing platforms are named) or `push` (what arrived is pushed).
    pub on_deadline: Option<crate::model::OnDeadline>,
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
        DryRunQuery,
        AskedOptions,
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
        (status = 401, description = "No API token, or an OIDC ID token refused (the message says why: expired, wrong audience, …)", body = ErrorBody),
        (status = 403, description = "Invalid API token; a registry or callback host not allowed; or no rule lets the ID token write the target (the message names the rules)", body = ErrorBody),
        (status = 413, description = "Body over 5 MiB", body = ErrorBody),
        (status = 415, description = "Neither JSON nor YAML", body = ErrorBody),
        (status = 422, description = "Idempotency-Key reused with another body; or (dry run) the sources don't make a valid list", body = ErrorBody),
        (status = 503, description = "The store cannot take it now (`STORE_UNAVAILABLE`): nothing was changed; try again after `Retry-After` seconds", body = ErrorBody, headers(("Retry-After" = u32, description = "Seconds to wait")))
    ),
    security((), ("token" = []))
)]
#[post("/lists")]
async fn create_list(
    state: State,
    req: HttpRequest,
    dry_run: Query<DryRunQuery>,
    query: Query<AskedOptions>,
    payload: web::Payload,
    Submitter(caller): Submitter,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(payload).await?;
    let (format, submission, text) = parse_body(&state, &req, body).await?;
    let submit = Submit {
        submission,
        format,
        text,
        asked: query.into_inner(),
        idempotency_key: idempotency_key(&req),
    };
    if dry_run.dry_run {
        return Ok(HttpResponse::Ok().json(state.dry_run_as(&submit, caller.as_ref()).await?));
    }
    let list = state.submit_as(&submit, caller.as_ref()).await?;
    Ok(HttpResponse::Accepted()
        .insert_header(("Location", format!("/lists/{}", list.id)))
        .json(list))
}

/// The request's `Idempotency-Key`.
pub(super) fn idempotency_key(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Reads the body up to [`MAX_BODY_BYTES`].
pub(super) async fn read_body(payload: web::Payload) -> Result<Vec<u8>, ApiError> {
    http::read_body(payload, MAX_BODY_BYTES)
        .await
        .map_err(|e| match e {
            BodyError::Read(e) => ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidBody,
                format!("cannot read the body: {e}"),
            ),
            BodyError::TooLarge => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::BodyTooLarge,
                format!("the body is over {MAX_BODY_BYTES} bytes"),
            ),
        })
}

/// How a body is read, by its content type.
#[derive(Clone, Copy)]
pub(super) enum Reader {
    Json,
    Yaml,
    /// None given: JSON when it starts with `{`, else YAML.
    Sniff,
}

impl Reader {
    /// The reader of the request's `Content-Type`; one that is neither JSON nor YAML is a 415.
    pub(super) fn of(req: &HttpRequest) -> Result<Self, ApiError> {
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
        match content_type.as_str() {
            "application/json" => Ok(Self::Json),
            "application/yaml" | "text/yaml" | "application/x-yaml" | "text/x-yaml" => {
                Ok(Self::Yaml)
            }
            "" | "text/plain" => Ok(Self::Sniff),
            other => Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::UnsupportedMediaType,
                format!(
                    "Content-Type {other} is not accepted; send application/json or application/yaml"
                ),
            )),
        }
    }

    fn read(self, text: &str) -> (SpecFormat, Result<Submission, spec::SpecError>) {
        match self {
            Self::Json => (
                SpecFormat::Json,
                spec::parse::submission_from_json(text)
                    .map_err(|e| yaml_hint(e, text, "send it as application/yaml")),
            ),
            Self::Yaml => (SpecFormat::Yaml, spec::parse::submission_from_yaml(text)),
            Self::Sniff if text.trim_start().starts_with('{') => {
                (SpecFormat::Json, spec::parse::submission_from_text(text))
            }
            Self::Sniff => (SpecFormat::Yaml, spec::parse::submission_from_text(text)),
        }
    }
}

/// A JSON body's parse error, saying so when the body looks like YAML (`image: …` sent as
/// `application/json`, say): `expected value` alone does not tell what went wrong. `what_to_do`
/// ends the hint.
pub(super) fn yaml_hint(mut e: spec::SpecError, text: &str, what_to_do: &str) -> spec::SpecError {
    if looks_like_yaml(text) {
        e.message = format!("{}; the body looks like YAML: {what_to_do}", e.message);
    }
    e
}

/// Whether a text that did not read as JSON looks like YAML: it does not open as a JSON document
/// does, and its first line that says something is `---`, a `- ` item, or a `key:` line.
fn looks_like_yaml(text: &str) -> bool {
    let start = text.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    if start.starts_with(['{', '[']) {
        return false;
    }
    let Some(line) = start
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
    else {
        return false;
    };
    let key_line = line.split_once(':').is_some_and(|(key, rest)| {
        let key = key.trim_matches(|c| c == '"' || c == '\'');
        !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'))
            && (rest.is_empty() || rest.starts_with([' ', '\t']))
    });
    line.starts_with("---") || line.starts_with("- ") || key_line
}

/// The body as text.
pub(super) fn utf8(body: Vec<u8>) -> Result<String, ApiError> {
    String::from_utf8(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidBody,
            format!("the body is not UTF-8: {}", e.utf8_error()),
        )
    })
}

/// Parses the body by its content type, off the HTTP threads; answers the text too.
async fn parse_body(
    state: &State,
    req: &HttpRequest,
    body: Vec<u8>,
) -> Result<(SpecFormat, Submission, String), ApiError> {
    let text = utf8(body)?;
    let reader = Reader::of(req)?;
    let ((format, parsed), text) = state.blocking(move || (reader.read(&text), text)).await?;
    let submission = parsed.map_err(crate::service::ServiceError::from)?;
    Ok((format, submission, text))
}

/// Filters and paging of the list listing.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ListQuery {
    /// Only lists with this status.
    pub status: Option<ListStatus>,
    /// Only lists pushed to this target (`registry/repo` or `registry/repo:tag`).
    pub target: Option<String>,
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Lists, newest first, filtered by status and target, with cursor paging.
///
/// The page carries a strong `ETag` of its content; a request whose `If-None-Match` names it is
/// answered `304` with no body.
#[utoipa::path(
    tag = "lists",
    operation_id = "get_lists",
    params(
        ListQuery,
        ("If-None-Match" = Option<String>, Header, description = "Entity tags of pages the client holds: `304` when the page is one of them")
    ),
    responses(
        (status = 200, description = "A page of lists", body = ListPage, headers(
            ("ETag" = String, description = "A strong entity tag of the page's content"),
            ("Cache-Control" = String, description = "`no-cache`: a client may keep the page but asks again (with `If-None-Match`) before it uses it")
        )),
        (status = 304, description = "The page is the one `If-None-Match` names", headers(
            ("ETag" = String, description = "The page's entity tag"),
            ("Cache-Control" = String, description = "`no-cache`")
        )),
        (status = 401, description = "No API token (with MANIFOLD_PROTECT_READS)", body = ErrorBody),
        (status = 403, description = "The API token is not valid", body = ErrorBody),
        (status = 400, description = "Invalid filter or cursor", body = ErrorBody)
    ),
    security((), ("token" = []))
)]
#[get("/lists")]
async fn get_lists(
    state: State,
    req: HttpRequest,
    query: Query<ListQuery>,
    _: Read,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let page = state
        .lists_json(&PageQuery {
            status: query.status,
            target: query.target,
            limit: query.limit,
            cursor: query.cursor,
        })
        .await?;
    Ok(conditional(&req, page))
}

/// One list: status, attempts, digest and every entry, the error if it failed.
///
/// The answer carries a strong `ETag` of its content (the same from every process of the
/// service); a request whose `If-None-Match` names it is answered `304` with no body. A finished
/// list can still change (the watch's findings, following, its callback's delivery, a retry), so
/// the answer is `Cache-Control: no-cache`: a client keeps it and asks again with
/// `If-None-Match`.
#[utoipa::path(
    tag = "lists",
    operation_id = "get_list",
    params(
        ("id" = Uuid, Path, description = "The list's id"),
        ("If-None-Match" = Option<String>, Header, description = "Entity tags of the list the client holds: `304` when the list is one of them")
    ),
    responses(
        (status = 200, description = "The list", body = ListResource, headers(
            ("ETag" = String, description = "A strong entity tag of the list's content"),
            ("Cache-Control" = String, description = "`no-cache`: a client may keep the list but asks again (with `If-None-Match`) before it uses it")
        )),
        (status = 304, description = "The list is the one `If-None-Match` names", headers(
            ("ETag" = String, description = "The list's entity tag"),
            ("Cache-Control" = String, description = "`no-cache`")
        )),
        (status = 401, description = "No API token (with MANIFOLD_PROTECT_READS)", body = ErrorBody),
        (status = 403, description = "The API token is not valid", body = ErrorBody),
        (status = 404, description = "No such list", body = ErrorBody)
    ),
    security((), ("token" = []))
)]
#[get("/lists/{id}")]
async fn get_list(
    state: State,
    req: HttpRequest,
    id: web::Path<String>,
    _: Read,
) -> Result<HttpResponse, ApiError> {
    Ok(conditional(&req, state.list_json(&id).await?))
}

/// The JSON with its `ETag` and `Cache-Control: no-cache`, or `304` when the request's
/// `If-None-Match` names it.
fn conditional(req: &HttpRequest, json: Json) -> HttpResponse {
    let etag = (header::ETAG, format!("\"{}\"", json.tag));
    let cache = (header::CACHE_CONTROL, "no-cache");
    if http::none_match(req, &json.tag) {
        return HttpResponse::NotModified()
            .insert_header(etag)
            .insert_header(cache)
            .finish();
    }
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .insert_header(etag)
        .insert_header(cache)
        .body(json.body)
}

/// Queue a failed, canceled or superseded list again. It takes a new place in the order of its
/// target's submissions: it is the newest, and lands even over lists that landed meanwhile.
#[utoipa::path(
    tag = "lists",
    operation_id = "retry_list",
    params(("id" = Uuid, Path, description = "The list's id")),
    responses(
        (status = 202, description = "Queued again", body = ListResource),
        (status = 401, description = "No API token (API tokens are configured)", body = ErrorBody),
        (status = 403, description = "The API token is not valid", body = ErrorBody),
        (status = 404, description = "No such list", body = ErrorBody),
        (status = 409, description = "The list is not failed, canceled or superseded", body = ErrorBody),
        (status = 503, description = "The store cannot take it now (`STORE_UNAVAILABLE`): nothing was changed; try again after `Retry-After` seconds", body = ErrorBody, headers(("Retry-After" = u32, description = "Seconds to wait")))
    ),
    security((), ("token" = []))
)]
#[post("/lists/{id}/retry")]
async fn retry_list(
    state: State,
    id: web::Path<String>,
    _: Write,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Accepted().json(state.retry(&id).await?))
}

/// Cancel a queued list (one that is running cannot be canceled).
#[utoipa::path(
    tag = "lists",
    operation_id = "cancel_list",
    params(("id" = Uuid, Path, description = "The list's id")),
    responses(
        (status = 202, description = "Canceled", body = ListResource),
        (status = 401, description = "No API token (API tokens are configured)", body = ErrorBody),
        (status = 403, description = "The API token is not valid", body = ErrorBody),
        (status = 404, description = "No such list", body = ErrorBody),
        (status = 409, description = "The list is not queued", body = ErrorBody),
        (status = 503, description = "The store cannot take it now (`STORE_UNAVAILABLE`): nothing was changed; try again after `Retry-After` seconds", body = ErrorBody, headers(("Retry-After" = u32, description = "Seconds to wait")))
    ),
    security((), ("token" = []))
)]
#[post("/lists/{id}/cancel")]
async fn cancel_list(
    state: State,
    id: web::Path<String>,
    _: Write,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Accepted().json(state.cancel(&id).await?))
}

/// Follow a list's sources: each time the watch finds that one of them moved, a new list is
/// queued for the target from the same spec.
#[utoipa::path(
    tag = "lists",
    operation_id = "follow_list",
    params(("id" = Uuid, Path, description = "The list's id")),
    responses(
        (status = 200, description = "Followed", body = ListResource),
        (status = 401, description = "No API token (API tokens are configured)", body = ErrorBody),
        (status = 403, description = "The API token is not valid", body = ErrorBody),
        (status = 404, description = "No such list", body = ErrorBody),
        (status = 409, description = "The list is a removal or a copy, which has no spec to push again", body = ErrorBody),
        (status = 503, description = "The store cannot take it now (`STORE_UNAVAILABLE`): nothing was changed; try again after `Retry-After` seconds", body = ErrorBody, headers(("Retry-After" = u32, description = "Seconds to wait")))
    ),
    security((), ("token" = []))
)]
#[post("/lists/{id}/follow")]
async fn follow_list(
    state: State,
    id: web::Path<String>,
    _: Write,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.follow(&id).await?))
}

/// Stop following a list: neither it nor the follow-ups queued from it are pushed again when a
/// source moves.
#[utoipa::path(
    tag = "lists",
    operation_id = "unfollow_list",
    params(("id" = Uuid, Path, description = "The list's id")),
    responses(
        (status = 200, description = "No longer followed", body = ListResource),
        (status = 401, description = "No API token (API tokens are configured)", body = ErrorBody),
        (status = 403, description = "The API token is not valid", body = ErrorBody),
        (status = 404, description = "No such list", body = ErrorBody),
        (status = 503, description = "The store cannot take it now (`STORE_UNAVAILABLE`): nothing was changed; try again after `Retry-After` seconds", body = ErrorBody, headers(("Retry-After" = u32, description = "Seconds to wait")))
    ),
    security((), ("token" = []))
)]
#[post("/lists/{id}/unfollow")]
async fn unfollow_list(
    state: State,
    id: web::Path<String>,
    _: Write,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.unfollow(&id).await?))
}

/// What the watch does when it finds a landed list no longer whole.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"repair": true}))]
pub struct RepairBody {
    /// `false`: only reported; `true`: children gone from the target repository made present
    /// again (and the tag put back when it moved to an earlier list manifold pushed); `"tag"`:
    /// the tag put back too, whoever moved it.
    pub repair: Repair,
}

/// Keep a landed list whole, or stop: sets its `repair` as a spec's `repair` key would have. Only
/// for the list its target holds now (`current`); the watch uses it from its next check, which
/// is made at once. The list's revision moves on (a kept `ETag` no longer matches).
#[utoipa::path(
    tag = "lists",
    operation_id = "set_repair",
    params(("id" = Uuid, Path, description = "The list's id")),
    request_body(content((RepairBody = "application/json"))),
    responses(
        (status = 200, description = "Set", body = ListResource),
        (status = 400, description = "Invalid body: the field at fault", body = ErrorBody),
        (status = 401, description = "No API token (API tokens are configured)", body = ErrorBody),
        (status = 403, description = "The API token is not valid", body = ErrorBody),
        (status = 404, description = "No such list", body = ErrorBody),
        (status = 409, description = "Not the list its target holds now: it did not land, or a later list replaced it", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 503, description = "The store cannot take it now (`STORE_UNAVAILABLE`): nothing was changed; try again after `Retry-After` seconds", body = ErrorBody, headers(("Retry-After" = u32, description = "Seconds to wait")))
    ),
    security((), ("token" = []))
)]
#[put("/lists/{id}/repair")]
async fn set_repair(
    state: State,
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
    _: Write,
) -> Result<HttpResponse, ApiError> {
    let (body, _): (RepairBody, _) = super::edits::read(&state, &req, payload).await?;
    Ok(HttpResponse::Ok().json(state.set_repair(&id, body.repair).await?))
}

#[cfg(test)]
mod tests {
    use super::looks_like_yaml;

    #[test]
    fn yaml_is_told_from_json_that_does_not_parse() {
        for yaml in [
            "image: r/demo:v1\nmanifests: []\n",
            "\u{feff}# a spec\n\n  image: r/demo:v1\n",
            "---\nimage: r/demo:v1\n",
            "- image: r/a:v1\n",
            "\"image\": r/demo:v1\n",
            "manifests:\n  - image: r/a:v1\n",
        ] {
            assert!(looks_like_yaml(yaml), "{yaml:?}");
        }
        for not_yaml in [
            "{\"image\": \"r/demo:v1\",}",
            "[1, 2",
            "",
            "# only a comment\n",
            "hello world",
            "http://example.com/x",
            "image:r/demo",
        ] {
            assert!(!looks_like_yaml(not_yaml), "{not_yaml:?}");
        }
    }
}

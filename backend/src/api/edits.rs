//! `/removals` and `/copies`: edits of what a tag holds that take no spec — entries removed from
//! the list it holds, a list or image copied there. Each answers `202` with the queued list (the
//! same record `/lists/{id}` follows); the rules are the service's.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::State;
use super::access::Submitter;
use super::error::{ApiError, ErrorBody};
use super::lists::{Reader, idempotency_key, read_body, utf8, yaml_hint};
use crate::model::{AskedOptions, ErrorCode};
use crate::service::{Edit, IdToken, ListResource, ServiceError};
use crate::spec::{self, CopySpec, Removal, Work};

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_removal).service(create_copy);
}

/// Entries to remove from the list a tag holds: by platform, by digest, or both.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "target": "registry.example:5000/demo:v0.2",
    "platforms": ["linux/s390x"]
}))]
pub struct RemovalBody {
    /// The tag whose list loses the entries.
    #[schema(min_length = 1)]
    pub target: String,
    /// Platforms (`os/arch[/variant]`) whose entries go, with their attestations.
    #[serde(default)]
    #[schema(min_length = 1)]
    pub platforms: Vec<String>,
    /// Digests of entries that go.
    #[serde(default)]
    #[schema(min_length = 1)]
    pub digests: Vec<String>,
    /// Where to POST the list when it finishes.
    pub callback_url: Option<String>,
}

/// A list or image to copy, byte for byte, to another repository or registry.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "source": "staging.example:5000/demo:v0.2",
    "target": "registry.example:5000/demo:v0.2",
    "tags": ["latest"]
}))]
pub struct CopyBody {
    /// What to copy (a tag or a digest reference).
    #[schema(min_length = 1)]
    pub source: String,
    /// The tag it is written to (its digest stays the source's); or several, each in a
    /// repository of its own, written as one publish: every child made present at every
    /// destination first, then every tag moved (put back should one fail).
    pub target: Targets,
    /// Extra tags, in the target repository.
    #[serde(default)]
    #[schema(min_length = 1)]
    pub tags: Vec<String>,
    /// Bring the signatures, attestations and SBOMs of the source and its children along
    /// (cosign tags and OCI referrers). Default `true`.
    pub referrers: Option<bool>,
    /// Where to POST the list when it finishes.
    pub callback_url: Option<String>,
}

/// A copy's destination: one tag reference, or a list of them.
#[derive(Debug)]
pub enum Targets {
    /// One target.
    One(String),
    /// Several targets, each in a repository of its own.
    Several(Vec<String>),
}

impl utoipa::PartialSchema for Targets {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Type};
        let one = || {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
        };
        OneOfBuilder::new()
            .item(one())
            .item(ArrayBuilder::new().items(one()).min_items(Some(1)))
            .description(Some(
                "A tag reference, or several (each in a repository of its own)",
            ))
            .examples([serde_json::json!("registry.example:5000/demo:v0.2")])
            .into()
    }
}

impl ToSchema for Targets {}

impl Targets {
    fn texts(&self) -> &[String] {
        match self {
            Targets::One(one) => std::slice::from_ref(one),
            Targets::Several(several) => several,
        }
    }
}

impl<'de> Deserialize<'de> for Targets {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Targets;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(
                    "a tag reference such as registry.example:5000/demo:v1, or a list of them",
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Targets, E> {
                Ok(Targets::One(v.to_owned()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Targets, A::Error> {
                let mut all = Vec::new();
                while let Some(one) = seq.next_element::<String>()? {
                    all.push(one);
                }
                Ok(Targets::Several(all))
            }
        }
        d.deserialize_any(Visit)
    }
}

/// Remove entries from the list a tag holds.
///
/// Queued like a list: answers `202 Accepted` with it and its `Location`. When it runs, the list
/// the tag holds then is read and pushed again without the entries named (attestations follow
/// their image); removing the last entry is refused.
#[utoipa::path(
    tag = "lists",
    operation_id = "create_removal",
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried request answer the first list")),
    request_body(content((RemovalBody = "application/json"))),
    responses(
        (status = 202, description = "Queued", body = ListResource, headers(("Location" = String, description = "/lists/{id}"))),
        (status = 400, description = "Invalid body: the field at fault", body = ErrorBody),
        (status = 401, description = "No API token, or an OIDC ID token refused (the message says why)", body = ErrorBody),
        (status = 403, description = "Invalid API token; a registry or callback host not allowed; or no rule lets the ID token write the target", body = ErrorBody),
        (status = 413, description = "Body over 5 MiB", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Idempotency-Key reused with another body", body = ErrorBody),
        (status = 503, description = "The store cannot take it now (`STORE_UNAVAILABLE`): nothing was changed; try again after `Retry-After` seconds", body = ErrorBody, headers(("Retry-After" = u32, description = "Seconds to wait")))
    ),
    security((), ("token" = []))
)]
#[post("/removals")]
async fn create_removal(
    state: State,
    req: HttpRequest,
    payload: web::Payload,
    Submitter(caller): Submitter,
) -> Result<HttpResponse, ApiError> {
    let (body, text): (RemovalBody, _) = read(&state, &req, payload).await?;
    let removal = Removal::parse(&body.target, &body.platforms, &body.digests);
    let work = Work::Remove(removal.map_err(ServiceError::body)?);
    let asked = AskedOptions {
        callback_url: body.callback_url,
        ..AskedOptions::default()
    };
    queue(&state, &req, (work, caller), asked, text).await
}

/// Copy a list or image to another repository or registry.
///
/// Queued like a list: answers `202 Accepted` with it and its `Location`. When it runs, every
/// child and blob the target repository lacks is mounted or streamed there, then the source's
/// exact bytes are written under the target tag and `tags`: the digest at the target is the
/// source's. What refers to the source and its children (signatures, attestations, SBOMs) comes
/// along unless `referrers` is `false`.
#[utoipa::path(
    tag = "lists",
    operation_id = "create_copy",
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried request answer the first list")),
    request_body(content((CopyBody = "application/json"))),
    responses(
        (status = 202, description = "Queued", body = ListResource, headers(("Location" = String, description = "/lists/{id}"))),
        (status = 400, description = "Invalid body: the field at fault", body = ErrorBody),
        (status = 401, description = "No API token, or an OIDC ID token refused (the message says why)", body = ErrorBody),
        (status = 403, description = "Invalid API token; a registry or callback host not allowed; or no rule lets the ID token write the target", body = ErrorBody),
        (status = 413, description = "Body over 5 MiB", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Idempotency-Key reused with another body", body = ErrorBody),
        (status = 503, description = "The store cannot take it now (`STORE_UNAVAILABLE`): nothing was changed; try again after `Retry-After` seconds", body = ErrorBody, headers(("Retry-After" = u32, description = "Seconds to wait")))
    ),
    security((), ("token" = []))
)]
#[post("/copies")]
async fn create_copy(
    state: State,
    req: HttpRequest,
    payload: web::Payload,
    Submitter(caller): Submitter,
) -> Result<HttpResponse, ApiError> {
    let (body, text): (CopyBody, _) = read(&state, &req, payload).await?;
    let copy = CopySpec::parse(&body.source, body.target.texts(), &body.tags);
    let work = Work::Copy(copy.map_err(ServiceError::body)?);
    let asked = AskedOptions {
        callback_url: body.callback_url,
        referrers: body.referrers,
        ..AskedOptions::default()
    };
    queue(&state, &req, (work, caller), asked, text).await
}

/// A JSON body and its text, parsed off the HTTP threads; its errors name the field, line and
/// column at fault. A body sent as YAML, or as neither, is a 415.
pub(super) async fn read<T: serde::de::DeserializeOwned + Send + 'static>(
    state: &State,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<(T, String), ApiError> {
    if let Reader::Yaml = Reader::of(req)? {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            "this endpoint takes a JSON body (Content-Type: application/json)",
        ));
    }
    let text = utf8(read_body(payload).await?)?;
    let (parsed, text) = state
        .blocking(move || (spec::parse::json_document::<T>(&text), text))
        .await?;
    let parsed = parsed.map_err(|e| yaml_hint(e, &text, "this endpoint takes JSON"));
    Ok((parsed.map_err(ServiceError::body)?, text))
}

async fn queue(
    state: &State,
    req: &HttpRequest,
    (work, caller): (Work, Option<IdToken>),
    asked: AskedOptions,
    text: String,
) -> Result<HttpResponse, ApiError> {
    let edit = Edit {
        work,
        asked,
        text,
        idempotency_key: idempotency_key(req),
    };
    let list = state.edit_as(&edit, caller.as_ref()).await?;
    Ok(HttpResponse::Accepted()
        .insert_header(("Location", format!("/lists/{}", list.id)))
        .json(list))
}

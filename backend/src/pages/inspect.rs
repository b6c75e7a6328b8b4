//! `GET /ui/inspect?ref=…`: what any reference holds, as `manifold inspect` shows it — for a list,
//! one row per entry with platform, digest, size and layer count (layers expandable); for an
//! image, its platform, config and layers; the manifest's JSON and the CLI's text on request.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, web};
use askama::Template;
use serde::Deserialize;

use super::security::state;
use super::view::{DigestView, explain, human_size, media_label, platform_text};
use super::{Layout, Nav, PageError, Visitor, render};
use crate::http::status_of;
use crate::model::ErrorCode;
use crate::service::{Descriptor, ErrorKind, ImageDetails, Inspection, ServiceError};
use crate::spec::Reference;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(inspect_page);
}

#[derive(Debug, Default, Deserialize)]
struct InspectQuery {
    #[serde(rename = "ref")]
    reference: Option<String>,
}

struct Failure {
    code: String,
    message: String,
    hint: Option<&'static str>,
}

struct LayerView {
    n: usize,
    digest: DigestView,
    size: u64,
    size_human: String,
    media_type: String,
}

struct ImageView {
    platform: String,
    config: DigestView,
    config_media_type: String,
    layers: Vec<LayerView>,
    layers_size: String,
}

struct EntryView {
    n: usize,
    platform: String,
    attestation_for: Option<String>,
    digest: DigestView,
    link: String,
    size: u64,
    size_human: String,
    media_label: &'static str,
    media_type: String,
    annotations: Vec<(String, String)>,
    image: Option<ImageView>,
}

struct InspectView {
    name: String,
    digest: DigestView,
    media_type: String,
    media_label: &'static str,
    size: u64,
    size_human: String,
    is_list: bool,
    images: usize,
    attestations: usize,
    annotations: Vec<(String, String)>,
    entries: Vec<EntryView>,
    image: Option<ImageView>,
    manifest: String,
    human: String,
}

#[derive(Template)]
#[template(path = "pages/inspect.html")]
struct InspectPage {
    layout: Layout,
    reference: String,
    field_error: Option<String>,
    failure: Option<Failure>,
    result: Option<InspectView>,
}

#[get("/ui/inspect")]
async fn inspect_page(req: HttpRequest, visitor: Visitor) -> Result<HttpResponse, PageError> {
    let query = web::Query::<InspectQuery>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .unwrap_or_default();
    let text = query.reference.unwrap_or_default();
    let mut page = InspectPage {
        layout: Layout::new(&visitor, Nav::Inspect),
        reference: text.clone(),
        field_error: None,
        failure: None,
        result: None,
    };
    if text.trim().is_empty() {
        return render(&visitor, StatusCode::OK, &page);
    }
    match state(&req)?.inspect(&text).await {
        Ok(inspection) => {
            page.result = Some(view(&inspection));
            render(&visitor, StatusCode::OK, &page)
        }
        Err(ServiceError::Invalid {
            code: ErrorCode::InvalidReference,
            message,
            ..
        }) => {
            page.field_error = Some(message);
            render(&visitor, StatusCode::BAD_REQUEST, &page)
        }
        Err(e) => {
            if e.kind() == ErrorKind::Internal {
                return Err(e.into());
            }
            let status = status_of(e.kind());
            let code = e.code().to_string();
            page.failure = Some(Failure {
                hint: explain(&code),
                message: e.message(),
                code,
            });
            render(&visitor, status, &page)
        }
    }
}

fn view(i: &Inspection) -> InspectView {
    let reference = Reference::parse(&i.name).ok();
    let attestations = i.manifests.iter().filter(|e| e.attestation).count();
    let entries = i
        .manifests
        .iter()
        .enumerate()
        .map(|(n, e)| {
            let d = &e.descriptor;
            let pinned = reference.as_ref().map_or_else(
                || d.digest.to_string(),
                |r| r.with_digest(&d.digest).to_string(),
            );
            EntryView {
                n: n + 1,
                platform: platform_text(d.platform.as_ref()),
                attestation_for: e.attestation.then(|| {
                    d.annotations
                        .get("vnd.docker.reference.digest")
                        .cloned()
                        .unwrap_or_default()
                }),
                digest: DigestView::new(d.digest.as_str()),
                link: inspect_link(&pinned),
                size: d.size,
                size_human: human_size(d.size),
                media_label: media_label(&d.media_type),
                media_type: d.media_type.clone(),
                annotations: pairs(&d.annotations),
                image: e.image.as_ref().map(image_view),
            }
        })
        .collect();
    let manifest = serde_json::from_slice::<serde_json::Value>(&i.raw)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| String::from_utf8_lossy(&i.raw).into_owned());
    InspectView {
        name: i.name.clone(),
        digest: DigestView::new(i.digest.as_str()),
        media_label: media_label(&i.media_type),
        media_type: i.media_type.clone(),
        size: i.size,
        size_human: human_size(i.size),
        is_list: i.is_list,
        images: i.manifests.len() - attestations,
        attestations,
        annotations: pairs(&i.annotations),
        entries,
        image: i.image.as_ref().map(image_view),
        manifest,
        human: i.text(&i.name),
    }
}

fn image_view(image: &ImageDetails) -> ImageView {
    ImageView {
        platform: platform_text(image.platform.as_ref()),
        config: DigestView::new(image.config.digest.as_str()),
        config_media_type: image.config.media_type.clone(),
        layers: image.layers.iter().enumerate().map(layer_view).collect(),
        layers_size: human_size(image.layers_size()),
    }
}

fn layer_view((n, layer): (usize, &Descriptor)) -> LayerView {
    LayerView {
        n: n + 1,
        digest: DigestView::new(layer.digest.as_str()),
        size: layer.size,
        size_human: human_size(layer.size),
        media_type: layer.media_type.clone(),
    }
}

fn pairs(map: &std::collections::BTreeMap<String, String>) -> Vec<(String, String)> {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// The inspect page's address for a reference.
pub(super) fn inspect_link(reference: &str) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("ref", reference)
        .finish();
    format!("/ui/inspect?{query}")
}

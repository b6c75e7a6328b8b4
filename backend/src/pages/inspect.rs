//! `GET /ui/inspect?ref=…`: what any reference holds, as `manifold inspect` shows it — for a list,
//! one row per entry with platform, digest, size and layer count (layers expandable); for an
//! image, its platform, config and layers; what refers to the reference and to each entry
//! (signatures, attestations, SBOMs: a count by kind, each one expandable); the manifest's JSON
//! and the CLI's text on request.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, web};
use askama::Template;
use serde::Deserialize;

use super::security::state;
use super::view::{DigestView, explain, human_size, media_label, platform_text};
use super::{Layout, Nav, PageError, Visitor, render};
use crate::http::status_of;
use crate::model::Reference;
use crate::model::{Digest, ErrorCode, Referrer, ReferrerKind, tally};
use crate::service::{Descriptor, ErrorKind, ImageDetails, InspectEntry, Inspection, ServiceError};

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

/// One thing that refers to a manifest, as its row shows it.
struct ReferrerRow {
    /// `signature`, `attestation`, `sbom`, `other` (a `data-kind`).
    kind: &'static str,
    /// The kind for people.
    label: &'static str,
    /// Its artifact type, or its media type when it declares none.
    artifact: String,
    digest: DigestView,
    /// The cosign tag it was found under.
    tag: Option<String>,
    /// What it refers to, when that is another referrer (a signature of an SBOM).
    refers_to: Option<DigestView>,
}

/// What refers to a manifest: the count by kind (`1 signature, 1 SBOM`) and a row each.
struct ReferrersView {
    tally: String,
    rows: Vec<ReferrerRow>,
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
    referrers: Option<ReferrersView>,
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
    referrers: Option<ReferrersView>,
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
        .map(|(n, e)| entry_view(reference.as_ref(), n, e))
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
        referrers: referrers_view(&i.referrers, &i.digest),
        manifest,
        human: i.text(&i.name),
    }
}

fn entry_view(reference: Option<&Reference>, n: usize, e: &InspectEntry) -> EntryView {
    let d = &e.descriptor;
    let pinned = reference.map_or_else(
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
        referrers: referrers_view(&e.referrers, &d.digest),
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

/// What refers to `subject`, or nothing when nothing does.
fn referrers_view(found: &[Referrer], subject: &Digest) -> Option<ReferrersView> {
    if found.is_empty() {
        return None;
    }
    let rows = found
        .iter()
        .map(|r| ReferrerRow {
            kind: r.kind.as_str(),
            label: kind_label(r.kind),
            artifact: r
                .artifact_type
                .clone()
                .unwrap_or_else(|| r.media_type.clone()),
            digest: DigestView::new(r.digest.as_str()),
            tag: r.tag.clone(),
            refers_to: (r.subject != *subject).then(|| DigestView::new(r.subject.as_str())),
        })
        .collect();
    Some(ReferrersView {
        tally: tally(found),
        rows,
    })
}

/// A referrer's kind, as its row names it.
fn kind_label(kind: ReferrerKind) -> &'static str {
    match kind {
        ReferrerKind::Signature => "Signature",
        ReferrerKind::Attestation => "Attestation",
        ReferrerKind::Sbom => "SBOM",
        ReferrerKind::Other => "Other",
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

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(hex: &str) -> Digest {
        Digest::parse(&format!("sha256:{}", hex.repeat(64))).unwrap()
    }

    fn referrer(kind: ReferrerKind, of: &Digest, artifact_type: Option<&str>) -> Referrer {
        Referrer {
            kind,
            artifact_type: artifact_type.map(str::to_owned),
            media_type: "application/vnd.oci.image.manifest.v1+json".to_owned(),
            digest: digest("c"),
            size: 512,
            subject: of.clone(),
            tag: None,
        }
    }

    #[test]
    fn nothing_is_shown_when_nothing_refers_to_a_manifest() {
        assert!(referrers_view(&[], &digest("a")).is_none());
    }

    #[test]
    fn a_referrer_shows_its_artifact_type_or_else_its_media_type_and_what_it_refers_to() {
        let (image, bom) = (digest("a"), digest("b"));
        let mut signature = referrer(ReferrerKind::Signature, &image, None);
        signature.tag = Some("sha256-aaaa.sig".to_owned());
        let found = [
            signature,
            referrer(ReferrerKind::Sbom, &image, Some("application/spdx+json")),
            referrer(ReferrerKind::Signature, &bom, Some("application/x-sig")),
        ];

        let view = referrers_view(&found, &image).unwrap();

        assert_eq!(view.tally, "2 signatures, 1 SBOM");
        let first = &view.rows[0];
        assert_eq!((first.kind, first.label), ("signature", "Signature"));
        assert_eq!(first.artifact, "application/vnd.oci.image.manifest.v1+json");
        assert_eq!(first.tag.as_deref(), Some("sha256-aaaa.sig"));
        assert!(first.refers_to.is_none());
        assert_eq!(
            (view.rows[1].label, view.rows[1].artifact.as_str()),
            ("SBOM", "application/spdx+json")
        );
        let of_bom = view.rows[2].refers_to.as_ref().unwrap();
        assert_eq!(of_bom.full, bom.as_str());
    }
}

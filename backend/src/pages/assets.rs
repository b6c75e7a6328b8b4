//! The static files, embedded in the binary: `/static/app.css` and `/static/app.js`. Pages link
//! them with `?v=<hash of the content>`, so they can be cached for a long time and a new build is
//! fetched at once.

use std::sync::LazyLock;

use actix_web::{HttpResponse, get, web};
use sha2::Digest as _;

const CSS: &str = include_str!("../../../frontend/static/app.css");
const JS: &str = include_str!("../../../frontend/static/app.js");

static CSS_URL: LazyLock<String> = LazyLock::new(|| versioned("/static/app.css", CSS));
static JS_URL: LazyLock<String> = LazyLock::new(|| versioned("/static/app.js", JS));

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(app_css).service(app_js);
}

fn versioned(path: &str, content: &str) -> String {
    let hash = hex::encode(sha2::Sha256::digest(content.as_bytes()));
    format!("{path}?v={}", &hash[..12])
}

/// The stylesheet's address.
pub(super) fn css_url() -> &'static str {
    &CSS_URL
}

/// The script's address.
pub(super) fn js_url() -> &'static str {
    &JS_URL
}

fn asset(content_type: &str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("cache-control", "public, max-age=31536000, immutable"))
        .insert_header(("x-content-type-options", "nosniff"))
        .body(body)
}

#[get("/static/app.css")]
async fn app_css() -> HttpResponse {
    asset("text/css; charset=utf-8", CSS)
}

#[get("/static/app.js")]
async fn app_js() -> HttpResponse {
    asset("text/javascript; charset=utf-8", JS)
}

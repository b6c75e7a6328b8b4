//! The web pages: server-rendered HTML for people who don't script — recent lists, a form that
//! builds or takes a spec (with a dry run), a list's live status (and, once it succeeded, an
//! entry removed or a platform added), a target's timeline, a staged release's platforms,
//! inspect, sign-in.
//!
//! Owns the HTML routes (`/` and `/ui/…`, beside the JSON API's `/lists` and `/inspect`), the
//! embedded static files (`/static/…`), CSRF and page sessions, and the view data the templates in
//! `frontend/templates/` get. A thin adapter like the API, beside it: handlers read the form or
//! query, call the service, and render its answer; they never build HTML in code, and everything a
//! user typed reaches the page through askama's escaping.

mod assets;
mod error;
mod form;
mod form_errors;
mod history;
mod index;
mod inspect;
mod list;
mod list_edit;
mod login;
mod registries;
mod releases;
mod security;
mod spec_form;
mod view;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, HttpResponseBuilder, web};
use askama::Template;

pub use error::PageError;
pub use security::{CSRF_COOKIE, CSRF_FIELD, Visitor};

/// Registers the pages and the static files (after the API, so the API's routes win).
pub fn configure(cfg: &mut web::ServiceConfig) {
    assets::configure(cfg);
    index::configure(cfg);
    form::configure(cfg);
    list::configure(cfg);
    list_edit::configure(cfg);
    history::configure(cfg);
    inspect::configure(cfg);
    registries::configure(cfg);
    releases::configure(cfg);
    login::configure(cfg);
}

/// What every page's layout needs: the CSRF token for its forms, whether to offer sign-out, the
/// section to mark in the navigation and the static files' addresses.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The CSRF token the page's forms carry.
    pub csrf: String,
    /// Whether the visitor signed in (API tokens are configured): shows "Sign out".
    pub signed_in: bool,
    /// The navigation entry of this page.
    pub nav: Nav,
    /// `/static/app.css?v=…`.
    pub css: &'static str,
    /// `/static/app.js?v=…`.
    pub js: &'static str,
    /// The service's version.
    pub version: &'static str,
}

/// The navigation entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    /// Recent lists.
    Lists,
    /// The spec form.
    New,
    /// Inspect.
    Inspect,
    /// The registries.
    Registries,
    /// No entry (sign-in, errors).
    None,
}

impl Layout {
    /// The layout for a visitor on a page of `nav`.
    pub fn new(visitor: &Visitor, nav: Nav) -> Self {
        Self {
            csrf: visitor.csrf().to_owned(),
            signed_in: visitor.signed_in(),
            nav,
            css: assets::css_url(),
            js: assets::js_url(),
            version: env!("CARGO_PKG_VERSION"),
        }
    }

    /// The layout of an error page: no forms, nothing about the visitor.
    pub fn bare() -> Self {
        Self {
            csrf: String::new(),
            signed_in: false,
            nav: Nav::None,
            css: assets::css_url(),
            js: assets::js_url(),
            version: env!("CARGO_PKG_VERSION"),
        }
    }

    /// Whether the navigation entry named `name` (`lists`, `new`, `inspect`) is this page's
    /// (for `aria-current`).
    pub fn is(&self, name: &str) -> bool {
        let current = match self.nav {
            Nav::Lists => "lists",
            Nav::New => "new",
            Nav::Inspect => "inspect",
            Nav::Registries => "registries",
            Nav::None => "",
        };
        current == name
    }
}

/// A response builder for an HTML page, with the headers every page carries: a strict content
/// security policy (no inline script or style), no sniffing, no framing, no caching.
pub fn html(status: StatusCode) -> HttpResponseBuilder {
    let mut builder = HttpResponse::build(status);
    builder
        .content_type("text/html; charset=utf-8")
        .insert_header((
            "content-security-policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ))
        .insert_header(("x-content-type-options", "nosniff"))
        .insert_header(("referrer-policy", "same-origin"))
        .insert_header(("cache-control", "no-store"));
    builder
}

/// Renders a page for a visitor, setting the CSRF cookie when the visitor had none.
pub fn render(
    visitor: &Visitor,
    status: StatusCode,
    page: &impl Template,
) -> Result<HttpResponse, PageError> {
    let body = page.render().map_err(PageError::internal)?;
    let mut builder = html(status);
    if let Some(cookie) = visitor.new_csrf_cookie() {
        builder.cookie(cookie);
    }
    Ok(builder.body(body))
}

/// The answer to a page address no handler took: the site's 404 page.
pub fn not_found() -> HttpResponse {
    use actix_web::ResponseError as _;
    PageError::NotFound("There is no page at this address.".to_owned()).error_response()
}

/// A `303 See Other` to `location` (after a form was handled).
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("location", location))
        .insert_header(("cache-control", "no-store"))
        .finish()
}

//! `GET`/`POST /ui/login` and `POST /ui/logout`: with API tokens configured, the pages need a
//! session; signing in takes one of the tokens and sets the session cookie (HttpOnly,
//! SameSite=Strict, 12 hours), signing out clears it. Without tokens there is nothing to sign in to.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;
use serde::Deserialize;

use super::security::{FormData, check_csrf, state};
use super::{Layout, Nav, PageError, Visitor, render, see_other};
use crate::auth::{SESSION_SECS, now_unix, session_value, token_index};

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(login_form).service(login).service(logout);
}

#[derive(Debug, Default, Deserialize)]
struct LoginQuery {
    next: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/login.html")]
struct LoginPage {
    layout: Layout,
    next: String,
    error: Option<String>,
}

/// Where to go after signing in: a path of this site, never another site. Only a path that
/// parses as one of this origin is kept (no control characters, which browsers drop — `/\t/host`
/// would become `//host` —, no backslashes), and it is answered as the parser wrote it.
fn safe_next(next: Option<&str>) -> String {
    let plain = |n: &str| {
        n.starts_with('/')
            && !n.starts_with("//")
            && !n.chars().any(|c| c.is_control() || c == '\\')
    };
    let base = url::Url::parse("http://manifold.invalid/").expect("a valid base");
    match next.filter(|n| plain(n)).map(|n| base.join(n)) {
        Some(Ok(url)) if url.origin() == base.origin() => match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        },
        _ => "/".to_owned(),
    }
}

fn page(visitor: &Visitor, next: String, error: Option<String>) -> LoginPage {
    let mut layout = Layout::new(visitor, Nav::None);
    layout.signed_in = false;
    LoginPage {
        layout,
        next,
        error,
    }
}

#[get("/ui/login")]
async fn login_form(req: HttpRequest) -> Result<HttpResponse, PageError> {
    let visitor = Visitor::of(&req, false)?;
    let query = web::Query::<LoginQuery>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .unwrap_or_default();
    let next = safe_next(query.next.as_deref());
    if state(&req)?.settings.api_token_hashes.is_empty() {
        return Ok(see_other(&next));
    }
    render(&visitor, StatusCode::OK, &page(&visitor, next, None))
}

#[post("/ui/login")]
async fn login(req: HttpRequest, payload: web::Payload) -> Result<HttpResponse, PageError> {
    let visitor = Visitor::of(&req, false)?;
    let form = FormData::read(&req, payload).await?;
    check_csrf(&req, &form)?;
    let next = safe_next(form.get("next"));
    let hashes = &state(&req)?.settings.api_token_hashes;
    if hashes.is_empty() {
        return Ok(see_other(&next));
    }
    let token = form.get("token").unwrap_or("").trim();
    let found = (!token.is_empty())
        .then(|| token_index(hashes, token))
        .flatten();
    let Some(index) = found else {
        let error = if token.is_empty() {
            "Enter one of the service's API tokens."
        } else {
            "This token is not one of the service's API tokens."
        };
        let page = page(&visitor, next, Some(error.to_owned()));
        return render(&visitor, StatusCode::UNAUTHORIZED, &page);
    };
    let value = session_value(hashes, index, now_unix() + SESSION_SECS)
        .ok_or_else(|| PageError::internal("a token index out of range"))?;
    let mut response = see_other(&next);
    response
        .add_cookie(&visitor.session_cookie(Some(value)))
        .map_err(PageError::internal)?;
    Ok(response)
}

#[post("/ui/logout")]
async fn logout(req: HttpRequest, payload: web::Payload) -> Result<HttpResponse, PageError> {
    let visitor = Visitor::of(&req, false)?;
    let form = FormData::read(&req, payload).await?;
    check_csrf(&req, &form)?;
    let mut response = see_other("/ui/login");
    response
        .add_cookie(&visitor.session_cookie(None))
        .map_err(PageError::internal)?;
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_of_this_site_are_followed_after_sign_in() {
        assert_eq!(safe_next(Some("/ui/lists/x?y=1")), "/ui/lists/x?y=1");
        assert_eq!(safe_next(Some("//evil.example/")), "/");
        assert_eq!(safe_next(Some("https://evil.example/")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(None), "/");
        for hostile in [
            "/\t/127.0.0.1:9/x",
            "/\n/evil.example",
            "/x\r\nSet-Cookie: a=b",
            "/x\0y",
            "/\u{7f}/evil",
        ] {
            assert_eq!(safe_next(Some(hostile)), "/", "{hostile:?}");
        }
        assert_eq!(safe_next(Some("/ui/a b")), "/ui/a%20b");
    }
}

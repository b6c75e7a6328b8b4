//! Errors of the pages: each renders a template of `errors/` in the site's layout. A 500 says only
//! that the server failed (its cause is logged where it is made), a 503 that the store cannot take
//! the work now; a visitor without a session is sent to sign in.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use super::{Layout, html};
use crate::service::{ErrorKind, ServiceError};

/// Why a page could not be shown.
#[derive(Debug)]
pub enum PageError {
    /// 400: the request is malformed; what is wrong.
    BadRequest(String),
    /// 403: refused (CSRF); why.
    Forbidden(String),
    /// 404: what does not exist.
    NotFound(String),
    /// 303 to sign-in, coming back to `next` afterwards.
    SignIn {
        /// Where to go after signing in.
        next: String,
    },
    /// 503: the store cannot take the work now; why, in its own words.
    Unavailable(String),
    /// 500: the cause was logged.
    Internal,
}

impl PageError {
    /// A 500 whose cause is logged, never shown.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!("page failed: {cause}");
        Self::Internal
    }
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::BadRequest(m) | Self::Forbidden(m) | Self::NotFound(m) | Self::Unavailable(m) => {
                f.write_str(m)
            }
            Self::SignIn { .. } => f.write_str("sign in first"),
            Self::Internal => f.write_str("the server failed"),
        }
    }
}

impl From<ServiceError> for PageError {
    fn from(e: ServiceError) -> Self {
        if e.kind() == ErrorKind::Internal {
            return Self::internal(&e);
        }
        let message = e.message();
        match e.kind() {
            ErrorKind::NotFound => Self::NotFound(message),
            ErrorKind::Forbidden => Self::Forbidden(message),
            ErrorKind::Unavailable | ErrorKind::TooManyRequests => Self::Unavailable(message),
            ErrorKind::Internal | ErrorKind::Upstream => Self::internal(message),
            ErrorKind::BadRequest | ErrorKind::Conflict | ErrorKind::Unprocessable => {
                Self::BadRequest(message)
            }
        }
    }
}

#[derive(Template)]
#[template(path = "errors/400.html")]
struct BadRequestPage<'a> {
    layout: Layout,
    message: &'a str,
}

#[derive(Template)]
#[template(path = "errors/403.html")]
struct ForbiddenPage<'a> {
    layout: Layout,
    message: &'a str,
}

#[derive(Template)]
#[template(path = "errors/404.html")]
struct NotFoundPage<'a> {
    layout: Layout,
    message: &'a str,
}

#[derive(Template)]
#[template(path = "errors/503.html")]
struct UnavailablePage<'a> {
    layout: Layout,
    message: &'a str,
}

#[derive(Template)]
#[template(path = "errors/500.html")]
struct InternalPage {
    layout: Layout,
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::SignIn { .. } => StatusCode::SEE_OTHER,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let layout = Layout::bare();
        let body = match self {
            Self::SignIn { next } => {
                let query = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("next", next)
                    .finish();
                return super::see_other(&format!("/ui/login?{query}"));
            }
            Self::BadRequest(message) => BadRequestPage { layout, message }.render(),
            Self::Forbidden(message) => ForbiddenPage { layout, message }.render(),
            Self::NotFound(message) => NotFoundPage { layout, message }.render(),
            Self::Unavailable(message) => UnavailablePage { layout, message }.render(),
            Self::Internal => InternalPage { layout }.render(),
        };
        match body {
            Ok(body) => html(self.status_code()).body(body),
            Err(e) => {
                tracing::error!("error page failed to render: {e}");
                HttpResponse::InternalServerError()
                    .content_type("text/plain; charset=utf-8")
                    .body("the server failed")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(e: PageError) -> (StatusCode, String) {
        let response = e.error_response();
        let status = response.status();
        let bytes = actix_web::body::to_bytes(response.into_body())
            .await
            .unwrap();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[actix_web::test]
    async fn a_500_page_shows_no_internal_detail() {
        let (status, html) = body(PageError::internal("password=hunter2 at db.rs:12")).await;

        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(html.contains("The server failed"), "{html}");
        assert!(!html.contains("hunter2") && !html.contains("db.rs"));
    }

    #[actix_web::test]
    async fn error_pages_escape_their_message_and_sign_in_redirects() {
        let (status, html) = body(PageError::NotFound("<b>gone</b>".into())).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(html.contains("&#60;b&#62;gone&#60;/b&#62;"), "{html}");
        assert!(html.contains("class=\"topbar\""));

        let redirect = PageError::SignIn {
            next: "/ui/lists/x?a=1".into(),
        }
        .error_response();
        assert_eq!(redirect.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            redirect.headers().get("location").unwrap(),
            "/ui/login?next=%2Fui%2Flists%2Fx%3Fa%3D1"
        );
    }
}

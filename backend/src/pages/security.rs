//! Who is looking at a page, and whether a form post is theirs.
//!
//! CSRF: every form carries a hidden `csrf` field; a post whose field does not match is refused with
//! 403. Signed in, the token is bound to the session (see `auth::session_csrf`); otherwise (no API
//! tokens configured, or the sign-in form) it is a double submit of a random `manifold_csrf` cookie
//! (HttpOnly, SameSite=Strict). With API tokens configured, every page but
//! sign-in and the static files needs a session (see `auth`); without one the visitor is
//! sent to sign in. Form bodies are read here too, as ordered name/value pairs.

use std::future::{Ready, ready};

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::Method;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use rand::RngCore as _;

use super::PageError;
use crate::auth::{SESSION_COOKIE, SESSION_SECS, now_unix, session_csrf, session_valid};
use crate::http::{BodyError, read_body};
use crate::service::{MAX_BODY_BYTES, Services};

/// The CSRF cookie.
pub const CSRF_COOKIE: &str = "manifold_csrf";

/// The form field that carries the CSRF token.
pub const CSRF_FIELD: &str = "csrf";

/// A page visitor: their CSRF token and whether they are signed in.
#[derive(Debug, Clone)]
pub struct Visitor {
    csrf: String,
    fresh: bool,
    signed_in: bool,
    secure: bool,
}

impl Visitor {
    /// Reads the visitor from a request; with `need_session` (and tokens configured), one without
    /// a valid session is sent to sign in.
    pub fn of(req: &HttpRequest, need_session: bool) -> Result<Self, PageError> {
        let state = state(req)?;
        let existing = req
            .cookie(CSRF_COOKIE)
            .map(|c| c.value().to_owned())
            .filter(|v| well_formed(v));
        let hashes = &state.settings.api_token_hashes;
        let auth = state.settings.writes_need_credentials();
        let session = valid_session(req, hashes);
        let signed_in = session.is_some();
        if need_session && auth && !signed_in {
            let next = if req.method() == Method::GET {
                req.uri()
                    .path_and_query()
                    .map_or("/".to_owned(), |p| p.to_string())
            } else {
                "/".to_owned()
            };
            return Err(PageError::SignIn { next });
        }
        let csrf = match session.and_then(|s| session_csrf(hashes, &s)) {
            Some(bound) => bound,
            None => existing.clone().unwrap_or_else(new_token),
        };
        Ok(Self {
            fresh: existing.is_none(),
            csrf,
            signed_in,
            secure: req.connection_info().scheme() == "https",
        })
    }

    /// The CSRF token the page's forms carry.
    pub fn csrf(&self) -> &str {
        &self.csrf
    }

    /// Whether the visitor has a session (only ever with API tokens configured).
    pub fn signed_in(&self) -> bool {
        self.signed_in
    }

    /// The CSRF cookie to set, when the visitor came without one.
    pub fn new_csrf_cookie(&self) -> Option<Cookie<'static>> {
        self.fresh
            .then(|| strict_cookie(CSRF_COOKIE, self.csrf.clone(), self.secure))
    }

    /// A session cookie of `value` (or, for `None`, one that clears the session).
    pub fn session_cookie(&self, value: Option<String>) -> Cookie<'static> {
        match value {
            Some(v) => {
                let mut c = strict_cookie(SESSION_COOKIE, v, self.secure);
                c.set_max_age(CookieDuration::seconds(SESSION_SECS));
                c
            }
            None => {
                let mut c = strict_cookie(SESSION_COOKIE, String::new(), self.secure);
                c.make_removal();
                c
            }
        }
    }
}

impl FromRequest for Visitor {
    type Error = PageError;
    type Future = Ready<Result<Self, PageError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Self::of(req, true))
    }
}

fn strict_cookie(name: &'static str, value: String, secure: bool) -> Cookie<'static> {
    Cookie::build(name, value)
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/")
        .secure(secure)
        .finish()
}

/// The service's use cases, from a request.
pub fn state(req: &HttpRequest) -> Result<&web::Data<Services>, PageError> {
    req.app_data::<web::Data<Services>>()
        .ok_or_else(|| PageError::internal("no application state"))
}

/// A fresh random token: 32 bytes, hex.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn well_formed(token: &str) -> bool {
    token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether the form's token matches the cookie's: both present, well formed, equal (every byte
/// compared).
pub fn csrf_matches(cookie: Option<&str>, field: Option<&str>) -> bool {
    match (cookie, field) {
        (Some(c), Some(f)) if well_formed(c) && c.len() == f.len() => {
            c.bytes()
                .zip(f.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
        }
        _ => false,
    }
}

/// The session cookie's value, when it holds a valid session.
fn valid_session(req: &HttpRequest, hashes: &[String]) -> Option<String> {
    if hashes.is_empty() {
        return None;
    }
    req.cookie(SESSION_COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|v| session_valid(hashes, v, now_unix()))
}

/// Refuses a post whose CSRF field does not match the visitor's token: the one bound to their
/// session when they have one, else their CSRF cookie's.
pub fn check_csrf(req: &HttpRequest, form: &FormData) -> Result<(), PageError> {
    let hashes = &state(req)?.settings.api_token_hashes;
    let expected = match valid_session(req, hashes) {
        Some(session) => session_csrf(hashes, &session),
        None => req.cookie(CSRF_COOKIE).map(|c| c.value().to_owned()),
    };
    if csrf_matches(expected.as_deref(), form.get(CSRF_FIELD)) {
        Ok(())
    } else {
        Err(PageError::Forbidden(
            "The form's security token is missing or does not match this browser's. Reload the \
             page and send the form again."
                .to_owned(),
        ))
    }
}

/// A form body: name/value pairs in the order sent (names may repeat).
#[derive(Debug, Default, Clone)]
pub struct FormData(Vec<(String, String)>);

impl FormData {
    /// Reads an `application/x-www-form-urlencoded` body of at most [`MAX_BODY_BYTES`].
    pub async fn read(req: &HttpRequest, payload: web::Payload) -> Result<Self, PageError> {
        let content_type = req
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !content_type
            .to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
        {
            return Err(PageError::BadRequest(
                "This address takes a form post.".to_owned(),
            ));
        }
        let body = read_body(payload, MAX_BODY_BYTES)
            .await
            .map_err(|e| match e {
                BodyError::Read(_) => {
                    PageError::BadRequest("The form could not be read; send it again.".to_owned())
                }
                BodyError::TooLarge => PageError::BadRequest(format!(
                    "The form is larger than {} MiB.",
                    MAX_BODY_BYTES / (1024 * 1024)
                )),
            })?;
        Ok(Self::parse(&body))
    }

    /// Parses a urlencoded body.
    pub fn parse(body: &[u8]) -> Self {
        Self(
            url::form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_well_formed() {
        let (a, b) = (new_token(), new_token());

        assert_ne!(a, b);
        assert!(well_formed(&a) && well_formed(&b), "{a}");
    }

    #[test]
    fn csrf_matches_only_the_same_well_formed_token() {
        let token = new_token();
        let other = new_token();

        assert!(csrf_matches(Some(&token), Some(&token)));
        assert!(!csrf_matches(Some(&token), Some(&other)));
        assert!(!csrf_matches(Some(&token), None));
        assert!(!csrf_matches(None, Some(&token)));
        assert!(!csrf_matches(Some(""), Some("")));
        assert!(
            !csrf_matches(Some("abc"), Some("abc")),
            "not a token we make"
        );
        assert!(!csrf_matches(Some(&token), Some(&token[..63])));
    }

    #[test]
    fn form_data_keeps_repeated_names_in_order() {
        let form =
            FormData::parse(b"source=a&platform=&source=b%2Fc&platform=linux%2Famd64&csrf=x");

        assert_eq!(form.all("source").collect::<Vec<_>>(), ["a", "b/c"]);
        assert_eq!(
            form.all("platform").collect::<Vec<_>>(),
            ["", "linux/amd64"]
        );
        assert_eq!(form.get("csrf"), Some("x"));
        assert_eq!(form.get("missing"), None);
    }
}

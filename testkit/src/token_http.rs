//! The HTTP side of the test [token server](crate::token): the `GET /token` and OAuth2
//! `POST /token` handlers, the state they share (options, policy, request log, tokens issued)
//! and issuing a signed token. Private to the crate; [`crate::token::TokenServer`] is the API.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::certs::TokenSigner;
use crate::token::TokenRequest;
use crate::token_policy::{Access, TokenPolicy};

/// What the handlers share.
pub(crate) struct State {
    pub(crate) service: String,
    pub(crate) issuer: String,
    pub(crate) expires_in: AtomicU64,
    pub(crate) get_disabled: AtomicBool,
    /// How many of the next requests to leave unanswered (`u64::MAX`: every one).
    pub(crate) stall: AtomicU64,
    /// How many requests were left unanswered.
    pub(crate) stalled: AtomicU64,
    pub(crate) policy: Mutex<TokenPolicy>,
    pub(crate) log: Mutex<Vec<TokenRequest>>,
    pub(crate) issued: Mutex<Vec<String>>,
    pub(crate) issued_refresh: Mutex<Vec<String>>,
    pub(crate) signer: TokenSigner,
}

impl State {
    /// The claims of a token.
    pub(crate) fn claims(
        &self,
        subject: &str,
        audience: &str,
        access: &[Access],
        now: u64,
    ) -> serde_json::Value {
        let mut jti = [0u8; 16];
        let _ = crate::random_fill(&mut jti);
        serde_json::json!({
            "iss": self.issuer,
            "sub": subject,
            "aud": audience,
            "exp": now + self.expires_in.load(Ordering::Relaxed),
            "nbf": now,
            "iat": now,
            "jti": hex::encode(jti),
            "access": access,
        })
    }

    /// Issues a token for `user` (`None`: anonymous) and the scopes asked, logging it; the
    /// answer's body and the access granted.
    fn issue(
        &self,
        user: Option<&str>,
        service: Option<&str>,
        scopes: &[String],
        refresh_token: Option<String>,
    ) -> anyhow::Result<(serde_json::Value, Vec<Access>)> {
        let granted = lock(&self.policy).grant(user, scopes);
        let now = unix_now();
        let audience = service.unwrap_or(&self.service);
        let claims = self.claims(user.unwrap_or(""), audience, &granted, now);
        let token = self.signer.sign(&claims)?;
        lock(&self.issued).push(token.clone());
        let mut body = serde_json::json!({
            "token": token,
            "access_token": token,
            "expires_in": self.expires_in.load(Ordering::Relaxed),
            "issued_at": rfc3339(now),
        });
        if let Some(refresh) = refresh_token {
            lock(&self.issued_refresh).push(refresh.clone());
            body["refresh_token"] = refresh.into();
        }
        Ok((body, granted))
    }

    /// Holds a request, logged with status 0 and unanswered until the server stops, when it is
    /// one of those to stall.
    async fn hold_if_stalling(&self, entry: &TokenRequest) {
        let take = |left: u64| match left {
            0 => None,
            u64::MAX => Some(u64::MAX),
            n => Some(n - 1),
        };
        if self
            .stall
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, take)
            .is_ok()
        {
            self.stalled.fetch_add(1, Ordering::SeqCst);
            lock(&self.log).push(entry.clone());
            std::future::pending::<()>().await;
        }
    }

    /// Records a request and turns the outcome into a response.
    fn finish(&self, mut entry: TokenRequest, outcome: Outcome) -> HttpResponse {
        let response = match outcome {
            Outcome::Issued(user, body, granted) => {
                entry.subject = Some(user.unwrap_or_default());
                entry.granted = granted;
                entry.status = 200;
                HttpResponse::Ok().json(body)
            }
            Outcome::Failed(status, body) => {
                entry.status = status.as_u16();
                let mut builder = HttpResponse::build(status);
                if status == StatusCode::UNAUTHORIZED {
                    builder.insert_header(("WWW-Authenticate", "Basic realm=\"manifold-testkit\""));
                }
                builder.json(body)
            }
        };
        lock(&self.log).push(entry);
        response
    }
}

/// How a request ended.
enum Outcome {
    /// A token for this user (`None`: anonymous), with this body and access.
    Issued(Option<String>, serde_json::Value, Vec<Access>),
    /// An error status with a JSON body.
    Failed(StatusCode, serde_json::Value),
}

/// `{"errors":[{"code":"UNAUTHORIZED","message":…}]}` with 401.
fn unauthorized(message: &str) -> Outcome {
    Outcome::Failed(
        StatusCode::UNAUTHORIZED,
        serde_json::json!({"errors": [{"code": "UNAUTHORIZED", "message": message}]}),
    )
}

/// An OAuth2 error (`{"error": code, "error_description": …}`) with this status.
fn oauth_error(status: StatusCode, code: &str, description: &str) -> Outcome {
    Outcome::Failed(
        status,
        serde_json::json!({"error": code, "error_description": description}),
    )
}

/// `GET /token?service=&scope=…[&account=][&offline_token=true]`, Basic auth optional.
pub(crate) async fn get_token(req: HttpRequest, state: web::Data<State>) -> HttpResponse {
    let params = parse_form(req.query_string().as_bytes());
    let basic = basic_credentials(&req);
    let entry = TokenRequest {
        method: "GET".into(),
        service: first(&params, "service"),
        scopes: all(&params, "scope"),
        grant_type: None,
        client_id: first(&params, "client_id"),
        account: first(&params, "account"),
        basic_auth: basic.is_some(),
        user: basic.as_ref().map(|(u, _)| u.clone()),
        password_sent: basic.is_some(),
        refresh_token_sent: false,
        status: 0,
        subject: None,
        granted: Vec::new(),
    };
    state.hold_if_stalling(&entry).await;
    if state.get_disabled.load(Ordering::Relaxed) {
        let body = serde_json::json!({"errors": [{"code": "NOT_FOUND", "message": "use POST"}]});
        return state.finish(entry, Outcome::Failed(StatusCode::NOT_FOUND, body));
    }
    let user = match &basic {
        Some((user, password)) => {
            if !lock(&state.policy).check_password(user, password) {
                return state.finish(entry, unauthorized("invalid username or password"));
            }
            Some(user.clone())
        }
        None => None,
    };
    let offline = first(&params, "offline_token").as_deref() == Some("true");
    let refresh = match (&user, offline) {
        (Some(user), true) => Some(lock(&state.policy).refresh_token_for(user)),
        _ => None,
    };
    let outcome = match state.issue(
        user.as_deref(),
        entry.service.as_deref(),
        &entry.scopes,
        refresh,
    ) {
        Ok((body, granted)) => Outcome::Issued(user, body, granted),
        Err(err) => Outcome::Failed(
            StatusCode::INTERNAL_SERVER_ERROR,
            serde_json::json!({"error": format!("{err:#}")}),
        ),
    };
    state.finish(entry, outcome)
}

/// The OAuth2 form: `grant_type=password` (`username`, `password`) or `refresh_token`
/// (`refresh_token`), with `service`, `scope` (space-separated) and `client_id`;
/// `access_type=offline` asks for a refresh token with the password grant.
pub(crate) async fn post_token(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<State>,
) -> HttpResponse {
    let params = parse_form(&body);
    let basic = basic_credentials(&req);
    let form_user = first(&params, "username");
    let grant_type = first(&params, "grant_type");
    let refresh_sent = first(&params, "refresh_token");
    let entry = TokenRequest {
        method: "POST".into(),
        service: first(&params, "service"),
        scopes: all(&params, "scope")
            .iter()
            .flat_map(|s| s.split(' ').filter(|s| !s.is_empty()).map(str::to_owned))
            .collect(),
        grant_type: grant_type.clone(),
        client_id: first(&params, "client_id"),
        account: first(&params, "account"),
        basic_auth: basic.is_some(),
        user: form_user.clone().or(basic.as_ref().map(|(u, _)| u.clone())),
        password_sent: basic.is_some() || first(&params, "password").is_some(),
        refresh_token_sent: refresh_sent.is_some(),
        status: 0,
        subject: None,
        granted: Vec::new(),
    };
    state.hold_if_stalling(&entry).await;
    if entry.client_id.is_none() {
        let outcome = oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "client_id missing",
        );
        return state.finish(entry, outcome);
    }
    let (user, refresh) = match grant_type.as_deref() {
        Some("password") => {
            let (Some(user), Some(password)) = (form_user, first(&params, "password")) else {
                let outcome = oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "username and password required",
                );
                return state.finish(entry, outcome);
            };
            if !lock(&state.policy).check_password(&user, &password) {
                return state.finish(entry, unauthorized("invalid username or password"));
            }
            let offline = first(&params, "access_type").as_deref() == Some("offline");
            let refresh = offline.then(|| lock(&state.policy).refresh_token_for(&user));
            (user, refresh)
        }
        Some("refresh_token") => {
            let user = refresh_sent
                .as_deref()
                .and_then(|token| lock(&state.policy).refresh_tokens.get(token).cloned());
            match user {
                Some(user) => (user, refresh_sent),
                None => return state.finish(entry, unauthorized("invalid refresh token")),
            }
        }
        _ => {
            let outcome = oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "grant_type must be password or refresh_token",
            );
            return state.finish(entry, outcome);
        }
    };
    let outcome = match state.issue(
        Some(&user),
        entry.service.as_deref(),
        &entry.scopes,
        refresh,
    ) {
        Ok((body, granted)) => Outcome::Issued(Some(user), body, granted),
        Err(err) => Outcome::Failed(
            StatusCode::INTERNAL_SERVER_ERROR,
            serde_json::json!({"error": format!("{err:#}")}),
        ),
    };
    state.finish(entry, outcome)
}

/// The user and password of an `Authorization: Basic` header.
fn basic_credentials(req: &HttpRequest) -> Option<(String, String)> {
    let value = req.headers().get("authorization")?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// `application/x-www-form-urlencoded` pairs, in order.
fn parse_form(bytes: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(bytes).into_owned().collect()
}

/// The first value of `key`.
fn first(params: &[(String, String)], key: &str) -> Option<String> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
}

/// Every value of `key`.
fn all(params: &[(String, String)], key: &str) -> Vec<String> {
    params
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .collect()
}

/// Locks a mutex, ignoring poisoning (a panicking test must not hide the log).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since the epoch (UTC).
pub(crate) fn rfc3339(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

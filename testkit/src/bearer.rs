//! The client side of distribution's token auth, for the [`crate::Pusher`] and for tests that
//! want a token in hand: parsing `WWW-Authenticate: Bearer realm=…,service=…,scope=…`
//! challenges and asking the realm for a token — `GET realm?service=&scope=…` with optional
//! Basic auth, or the OAuth2 `POST` form (`grant_type=password`), which [`fetch_token`] falls
//! back to when GET answers 404 or 405.

use anyhow::{Context, bail};
use reqwest::{Client, StatusCode};

/// A parsed `WWW-Authenticate: Bearer …` challenge.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BearerChallenge {
    /// The token endpoint.
    pub realm: String,
    /// The `service` parameter.
    pub service: Option<String>,
    /// The `scope` parameter split at spaces (one challenge may name several).
    pub scopes: Vec<String>,
    /// The `error` parameter (`insufficient_scope`, `invalid_token`).
    pub error: Option<String>,
}

/// Parses a `Bearer` challenge (`None` for other schemes or one without a realm).
pub fn parse_bearer_challenge(header: &str) -> Option<BearerChallenge> {
    let header = header.trim();
    let (scheme, params) = header.split_once(' ').unwrap_or((header, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut challenge = BearerChallenge::default();
    for (key, value) in auth_params(params) {
        match key.to_ascii_lowercase().as_str() {
            "realm" => challenge.realm = value,
            "service" => challenge.service = Some(value),
            "scope" => challenge.scopes.extend(
                value
                    .split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            ),
            "error" => challenge.error = Some(value),
            _ => {}
        }
    }
    (!challenge.realm.is_empty()).then_some(challenge)
}

/// `key=value` pairs of an auth-param list, values either tokens or quoted strings (which may
/// hold commas and `\`-escapes).
fn auth_params(input: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = input.chars().peekable();
    loop {
        while chars.next_if(|c| *c == ',' || c.is_whitespace()).is_some() {}
        let key: String =
            std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ',')).collect();
        if key.is_empty() {
            break;
        }
        if chars.next_if_eq(&'=').is_none() {
            continue;
        }
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => value.extend(chars.next()),
                    c => value.push(c),
                }
            }
        } else {
            value.extend(std::iter::from_fn(|| chars.next_if(|c| *c != ',')));
            value = value.trim().to_owned();
        }
        out.push((key.trim().to_owned(), value));
    }
    out
}

/// Asks `challenge.realm` for a token for its service and scopes: GET (with Basic auth when
/// `credentials` are given), and when GET answers 404 or 405 and credentials are given, the
/// OAuth2 POST form with `grant_type=password`. Returns `token` (or `access_token`).
pub async fn fetch_token(
    client: &Client,
    challenge: &BearerChallenge,
    credentials: Option<(&str, &str)>,
) -> anyhow::Result<String> {
    let scopes: Vec<&str> = challenge.scopes.iter().map(String::as_str).collect();
    let service = challenge.service.as_deref();
    match request_token(client, &challenge.realm, service, &scopes, credentials).await {
        Err(TokenError::Status(StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED, _))
            if credentials.is_some() =>
        {
            let (user, password) = credentials.expect("checked");
            let post =
                request_token_post(client, &challenge.realm, service, &scopes, user, password);
            Ok(post.await?)
        }
        other => Ok(other?),
    }
}

/// Why a token request failed.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The server answered this status (and body).
    #[error("token server answered {0}: {1}")]
    Status(StatusCode, String),
    /// The request failed or the answer was not a token.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// `GET realm?service=S&scope=…` (one `scope` parameter per scope), with Basic auth when
/// `credentials` are given; the `token` (or `access_token`) of the answer.
pub async fn request_token(
    client: &Client,
    realm: &str,
    service: Option<&str>,
    scopes: &[&str],
    credentials: Option<(&str, &str)>,
) -> Result<String, TokenError> {
    let mut url = reqwest::Url::parse(realm).with_context(|| format!("bad realm {realm}"))?;
    {
        let mut query = url.query_pairs_mut();
        if let Some(service) = service {
            query.append_pair("service", service);
        }
        for scope in scopes {
            query.append_pair("scope", scope);
        }
    }
    let mut builder = client.get(url);
    if let Some((user, password)) = credentials {
        builder = builder.basic_auth(user, Some(password));
    }
    read_token(builder.send().await.context("GET token")?).await
}

/// The OAuth2 form: `POST realm` with `grant_type=password`, `username`, `password`,
/// `client_id=manifold-testkit`, `service` and space-separated `scope`.
pub async fn request_token_post(
    client: &Client,
    realm: &str,
    service: Option<&str>,
    scopes: &[&str],
    user: &str,
    password: &str,
) -> Result<String, TokenError> {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", "password")
        .append_pair("username", user)
        .append_pair("password", password)
        .append_pair("client_id", "manifold-testkit");
    if let Some(service) = service {
        form.append_pair("service", service);
    }
    if !scopes.is_empty() {
        form.append_pair("scope", &scopes.join(" "));
    }
    let resp = client
        .post(realm)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.finish())
        .send()
        .await
        .context("POST token")?;
    read_token(resp).await
}

/// The token of a token server's answer.
async fn read_token(resp: reqwest::Response) -> Result<String, TokenError> {
    let status = resp.status();
    let text = resp.text().await.context("read token answer")?;
    if status != StatusCode::OK {
        return Err(TokenError::Status(status, text));
    }
    let body: serde_json::Value =
        serde_json::from_str(&text).context("token answer is not JSON")?;
    match body["token"].as_str().or(body["access_token"].as_str()) {
        Some(token) if !token.is_empty() => Ok(token.to_owned()),
        _ => Err(TokenError::Other(anyhow::anyhow!(
            "token answer without token: {text}"
        ))),
    }
}

/// The repository a `/v2/<name>/(blobs|manifests|tags)/…` path is about.
pub fn repository_of(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/v2/")?;
    ["/blobs/", "/manifests/", "/tags/"]
        .iter()
        .filter_map(|marker| rest.rfind(marker).map(|i| &rest[..i]))
        .min_by_key(|name| name.len())
        .filter(|name| !name.is_empty())
}

/// The Bearer challenge of a `WWW-Authenticate` value; an error when there is none or it is
/// another scheme (helper for assertions).
pub fn expect_bearer(header: Option<&str>) -> anyhow::Result<BearerChallenge> {
    let header = header.context("no WWW-Authenticate header")?;
    match parse_bearer_challenge(header) {
        Some(challenge) => Ok(challenge),
        None => bail!("not a Bearer challenge: {header}"),
    }
}

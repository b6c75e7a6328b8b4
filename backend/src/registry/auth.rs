//! Registry authentication: credentials that cannot leak, `WWW-Authenticate` challenges, scopes, and
//! bearer tokens (distribution's token spec) cached per registry and scope set.
//!
//! Owns what is sent in `Authorization` headers and to token realms; the request loop in `client`
//! decides when. Secrets never appear in `Debug` output or logs.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine as _;

pub use crate::model::Secret;

/// How to prove who we are to one registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// A user name and password (or access token used as a password).
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: Secret,
    },
    /// An OAuth2 refresh token (docker's `identitytoken`), exchanged at the token realm.
    IdentityToken(Secret),
}

impl Credentials {
    /// Basic credentials.
    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self::Basic {
            username: username.into(),
            password: Secret::new(password),
        }
    }

    /// The `Authorization` value for Basic auth, when these are Basic credentials.
    pub fn basic_header(&self) -> Option<String> {
        match self {
            Self::Basic { username, password } => {
                let raw = format!("{username}:{}", password.expose());
                Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(raw)
                ))
            }
            Self::IdentityToken(_) => None,
        }
    }
}

/// An authentication challenge from a `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// `Basic realm="..."`.
    Basic,
    /// `Bearer realm="...",service="...",scope="...",error="..."`.
    Bearer {
        /// Where tokens are issued.
        realm: String,
        /// The `service` parameter to send back.
        service: Option<String>,
        /// The scope the registry asks for, if named.
        scope: Option<String>,
        /// An error such as `insufficient_scope` or `invalid_token`.
        error: Option<String>,
    },
}

/// Parses a `WWW-Authenticate` header value; unknown schemes are skipped.
pub fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut out = Vec::new();
    let mut rest = header.trim();
    while !rest.is_empty() {
        let scheme_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let scheme = &rest[..scheme_end];
        rest = rest[scheme_end..].trim_start();
        let (params, remaining) = parse_params(rest);
        rest = remaining;
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => out.push(Challenge::Basic),
            "bearer" => {
                if let Some(realm) = params.get("realm") {
                    out.push(Challenge::Bearer {
                        realm: realm.clone(),
                        service: params.get("service").cloned(),
                        scope: params.get("scope").cloned(),
                        error: params.get("error").cloned(),
                    });
                }
            }
            _ => {}
        }
    }
    out
}

/// Parses `key=value` or `key="quoted, value"` pairs up to the start of the next challenge.
fn parse_params(mut s: &str) -> (HashMap<String, String>, &str) {
    let mut params = HashMap::new();
    loop {
        s = s.trim_start_matches([' ', ',']);
        let Some(eq) = s.find('=') else { break };
        let key = &s[..eq];
        if key.is_empty() || key.contains(char::is_whitespace) {
            break; // the next challenge's scheme
        }
        let after = &s[eq + 1..];
        let (value, rest) = if let Some(q) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = q.char_indices();
            let mut end = q.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            value.push(n);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, &q[end.min(q.len())..])
        } else {
            let end = after.find([',', ' ']).unwrap_or(after.len());
            (after[..end].to_owned(), &after[end..])
        };
        params.insert(key.to_ascii_lowercase(), value);
        s = rest;
    }
    (params, s)
}

/// An access scope in the token spec's form: `repository:<name>:<actions>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope(String);

impl Scope {
    /// Pull access to a repository.
    pub fn pull(repository: &str) -> Self {
        Self(format!("repository:{repository}:pull"))
    }

    /// Pull and push access to a repository.
    pub fn push(repository: &str) -> Self {
        Self(format!("repository:{repository}:pull,push"))
    }

    /// The scope string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A bearer token and when it stops being good.
#[derive(Debug, Clone)]
pub struct Token {
    /// The token.
    pub value: Secret,
    /// When to stop using it (a little before the issuer's expiry).
    pub expires: Instant,
}

impl Token {
    /// A token good for `expires_in` seconds from now (60 when the issuer didn't say).
    pub fn new(value: String, expires_in: Option<u64>) -> Self {
        let secs = expires_in.filter(|s| *s > 0).unwrap_or(60);
        // Renew a little early so a token does not expire in flight.
        let margin = (secs / 10).clamp(1, 30);
        Self {
            value: Secret::new(value),
            expires: Instant::now() + Duration::from_secs(secs.saturating_sub(margin).max(1)),
        }
    }

    /// Whether the token can still be used.
    pub fn is_fresh(&self) -> bool {
        Instant::now() < self.expires
    }
}

/// The key of a cached token: the sorted scope set.
pub fn scope_key(scopes: &[Scope]) -> String {
    let mut names: Vec<&str> = scopes.iter().map(Scope::as_str).collect();
    names.sort_unstable();
    names.dedup();
    names.join(" ")
}

/// The JSON a token endpoint answers with.
#[derive(Debug, serde::Deserialize)]
pub struct TokenResponse {
    /// The token (distribution's name).
    #[serde(default)]
    pub token: Option<String>,
    /// The token (OAuth2's name).
    #[serde(default)]
    pub access_token: Option<String>,
    /// Lifetime in seconds.
    #[serde(default)]
    pub expires_in: Option<u64>,
}

impl TokenResponse {
    /// The token under either name.
    pub fn into_token(self) -> Option<Token> {
        let value = self.token.or(self.access_token).filter(|t| !t.is_empty())?;
        Some(Token::new(value, self.expires_in))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bearer_challenge_with_quoted_commas_in_its_scope_is_parsed_whole() {
        let header = r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push repository:c:pull",error="insufficient_scope""#;
        let parsed = parse_challenges(header);
        assert_eq!(
            parsed,
            vec![Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("registry.example".into()),
                scope: Some("repository:a/b:pull,push repository:c:pull".into()),
                error: Some("insufficient_scope".into()),
            }]
        );
    }

    #[test]
    fn a_basic_challenge_is_recognised_whatever_its_case() {
        assert_eq!(
            parse_challenges(r#"basic realm="Registry Realm""#),
            vec![Challenge::Basic]
        );
    }

    #[test]
    fn two_challenges_in_one_header_are_both_read() {
        let parsed = parse_challenges(r#"Basic realm="r", Bearer realm="https://t/x",service=s"#);
        assert_eq!(parsed.len(), 2);
        assert!(matches!(&parsed[1], Challenge::Bearer { service: Some(s), .. } if s == "s"));
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let creds = Credentials::basic("alice", "hunter2");
        let shown = format!("{creds:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(creds.basic_header().unwrap(), "Basic YWxpY2U6aHVudGVyMg==");
    }

    #[test]
    fn the_scope_key_ignores_order_and_repeats() {
        let a = scope_key(&[Scope::push("t"), Scope::pull("s"), Scope::pull("s")]);
        let b = scope_key(&[Scope::pull("s"), Scope::push("t")]);
        assert_eq!(a, b);
    }

    #[test]
    fn a_token_response_under_either_name_gives_a_fresh_token() {
        let r: TokenResponse =
            serde_json::from_str(r#"{"access_token":"abc","expires_in":300}"#).unwrap();
        let t = r.into_token().unwrap();
        assert_eq!(t.value.expose(), "abc");
        assert!(t.is_fresh());
        let empty: TokenResponse = serde_json::from_str(r#"{"token":""}"#).unwrap();
        assert!(empty.into_token().is_none());
    }
}

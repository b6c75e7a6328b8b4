//! `WWW-Authenticate` challenges: parsing them, and reading what a refusal says is missing
//! (`error="insufficient_scope"`).
//!
//! Pure parsing: no I/O, no state, nothing of the registry client above it.

use std::collections::HashMap;

use reqwest::header::{HeaderMap, WWW_AUTHENTICATE};

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

/// All the challenges of an answer's `WWW-Authenticate` headers, in order.
pub(crate) fn challenges(headers: &HeaderMap) -> Vec<Challenge> {
    headers
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(parse_challenges)
        .collect()
}

/// The scope a registry said our token lacks (`error="insufficient_scope"`), if it did.
pub(crate) fn insufficient_scope(challenges: &[Challenge]) -> Option<String> {
    challenges.iter().find_map(|c| match c {
        Challenge::Bearer {
            error: Some(error),
            scope,
            ..
        } if error == "insufficient_scope" => Some(
            scope
                .clone()
                .unwrap_or_else(|| "the access asked for".to_owned()),
        ),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

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
    fn every_www_authenticate_header_of_an_answer_is_read() {
        let mut headers = HeaderMap::new();
        headers.append(
            WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Basic realm="r""#),
        );
        headers.append(
            WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Bearer realm="https://t/x",service=s"#),
        );
        let parsed = challenges(&headers);
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0], Challenge::Basic);
        assert!(challenges(&HeaderMap::new()).is_empty());
    }

    #[test]
    fn an_insufficient_scope_refusal_names_the_scope_or_says_what_was_asked() {
        let refusal = |scope: Option<&str>| Challenge::Bearer {
            realm: "https://t/x".into(),
            service: None,
            scope: scope.map(str::to_owned),
            error: Some("insufficient_scope".into()),
        };
        assert_eq!(
            insufficient_scope(&[Challenge::Basic, refusal(Some("repository:a:push"))]),
            Some("repository:a:push".to_owned())
        );
        assert_eq!(
            insufficient_scope(&[refusal(None)]),
            Some("the access asked for".to_owned())
        );
        let expired = Challenge::Bearer {
            realm: "https://t/x".into(),
            service: None,
            scope: None,
            error: Some("invalid_token".into()),
        };
        assert_eq!(insufficient_scope(&[expired, Challenge::Basic]), None);
    }
}

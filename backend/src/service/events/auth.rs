//! How each receiver's events are authenticated, from what the request carried: the shared
//! secret in a header (distribution, Harbor, GitLab), GitHub's `X-Hub-Signature-256` (an
//! HMAC-SHA256 of the raw body keyed with the secret), or the secret in the URL (Docker Hub and
//! Quay sign nothing). Every comparison is constant-time; no secret is ever logged or returned.

use hmac::{KeyInit as _, Mac as _};

/// What a request of events carried that may authenticate it (the adapter's reading of it).
/// Its `Debug` says which are present, never their values.
#[derive(Default, Clone)]
pub struct EventCredentials {
    /// `Authorization`, verbatim.
    pub authorization: Option<String>,
    /// `X-Manifold-Secret`.
    pub manifold_secret: Option<String>,
    /// `X-Gitlab-Token`.
    pub gitlab_token: Option<String>,
    /// `X-Hub-Signature-256` (`sha256=<hex>`).
    pub hub_signature: Option<String>,
    /// The URL's `secret` query parameter.
    pub url_secret: Option<String>,
    /// `X-GitHub-Event` (`ping`, `registry_package`, `package`).
    pub github_event: Option<String>,
    /// `X-GitHub-Delivery`: the event's id.
    pub github_delivery: Option<String>,
}

impl std::fmt::Debug for EventCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let present = |v: &Option<String>| v.as_ref().map(|_| "<present>");
        f.debug_struct("EventCredentials")
            .field("authorization", &present(&self.authorization))
            .field("manifold_secret", &present(&self.manifold_secret))
            .field("gitlab_token", &present(&self.gitlab_token))
            .field("hub_signature", &present(&self.hub_signature))
            .field("url_secret", &present(&self.url_secret))
            .field("github_event", &self.github_event)
            .field("github_delivery", &self.github_delivery)
            .finish()
    }
}

/// The header (or place) each receiver's secret is carried in, for the refusal's `field`.
pub(super) fn field(source: &str) -> &'static str {
    match source {
        "github" => "X-Hub-Signature-256",
        "gitlab" => "X-Gitlab-Token",
        "dockerhub" | "quay" => "secret",
        _ => "Authorization",
    }
}

/// Whether `given` authenticates an event to `source` with `secret`.
pub(super) fn authentic(source: &str, secret: &str, given: &EventCredentials, body: &[u8]) -> bool {
    let header = || {
        let bearer = given.authorization.as_deref().and_then(bearer);
        bearer.or(given.manifold_secret.as_deref())
    };
    match source {
        "github" => given
            .hub_signature
            .as_deref()
            .is_some_and(|s| signature_matches(secret, body, s)),
        "dockerhub" | "quay" => given.url_secret.as_deref().is_some_and(|g| same(secret, g)),
        "gitlab" => given
            .gitlab_token
            .as_deref()
            .or_else(header)
            .is_some_and(|g| same(secret, g)),
        // Harbor sends its configured `Authorization` value verbatim: a bearer, or the secret.
        "harbor" => {
            header().is_some_and(|g| same(secret, g))
                || given
                    .authorization
                    .as_deref()
                    .is_some_and(|g| same(secret, g.trim()))
        }
        _ => header().is_some_and(|g| same(secret, g)),
    }
}

/// The token of `Bearer <token>`.
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Whether two strings are equal, in time that depends on their lengths only.
fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether `header` (`sha256=<hex>`) is the HMAC-SHA256 of `body` keyed with `secret`.
pub(super) fn signature_matches(secret: &str, body: &[u8], header: &str) -> bool {
    let Some(hex_mac) = header.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Ok(given) = hex::decode(hex_mac) else {
        return false;
    };
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GitHub's documented example: secret "It's a Secret to Everybody", payload "Hello, World!"
    /// (https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries).
    const GITHUB_EXAMPLE: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn github_s_documented_signature_verifies_and_a_changed_body_or_key_does_not() {
        let secret = "It's a Secret to Everybody";

        assert!(signature_matches(secret, b"Hello, World!", GITHUB_EXAMPLE));
        assert!(!signature_matches(secret, b"Hello, World?", GITHUB_EXAMPLE));
        assert!(!signature_matches(
            "another",
            b"Hello, World!",
            GITHUB_EXAMPLE
        ));
        assert!(!signature_matches(secret, b"Hello, World!", "sha256=zz"));
        assert!(!signature_matches(
            secret,
            b"Hello, World!",
            &GITHUB_EXAMPLE[7..]
        ));
    }

    #[test]
    fn each_receiver_takes_its_secret_where_its_registry_puts_it_and_nowhere_else() {
        let with = |f: fn(&mut EventCredentials)| {
            let mut c = EventCredentials::default();
            f(&mut c);
            c
        };
        let raw = with(|c| c.authorization = Some("s3".into()));
        let bearer = with(|c| c.authorization = Some("Bearer s3".into()));
        let url = with(|c| c.url_secret = Some("s3".into()));
        let gitlab = with(|c| c.gitlab_token = Some("s3".into()));

        assert!(authentic("harbor", "s3", &raw, b""));
        assert!(authentic("harbor", "s3", &bearer, b""));
        assert!(!authentic("distribution", "s3", &raw, b""));
        assert!(authentic("distribution", "s3", &bearer, b""));
        assert!(authentic("dockerhub", "s3", &url, b""));
        assert!(!authentic("dockerhub", "s3", &bearer, b""));
        assert!(authentic("quay", "s3", &url, b""));
        assert!(authentic("gitlab", "s3", &gitlab, b""));
        assert!(!authentic("github", "s3", &bearer, b""));
        assert!(!authentic("gitlab", "s4", &gitlab, b""));
        assert!(
            !format!("{url:?} {bearer:?}").contains("s3"),
            "no secret in Debug"
        );
    }
}

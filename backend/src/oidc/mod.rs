//! CI identity without secrets: OIDC ID tokens (GitHub Actions, GitLab, any OIDC issuer) taken as
//! credentials for submitting lists. Owns the settings of the trusted issuers and of the rules
//! (`oidc:` in the configuration file), the pure token check (`jwt.rs`), the issuers' keys fetched
//! and kept (`jwks.rs`), and which rule lets a token's claims write which targets (`rules.rs`).
//!
//! Knows nothing of HTTP servers, lists or stores: the API asks it whether a token is valid, the
//! service whether the token's claims may write a submission's targets. A token is never logged,
//! kept or put into an error.

mod jwks;
mod jwt;
mod rules;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use jwks::{REFETCH_SECS, Verifier};
pub use jwt::{Expect, Jwk, JwkSet, LEEWAY_SECS, verify};
pub use rules::{Refusal, decide, glob_match, matching, may_read};

use crate::model::Identity;

/// The `oidc:` section of the configuration file: the issuers whose ID tokens are taken, and the
/// rules saying what their tokens may write.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcSettings {
    /// The trusted issuers.
    #[serde(default)]
    pub issuers: Vec<IssuerSettings>,
    /// What tokens may write: a token may write a target when a rule of its issuer matches its
    /// claims and names the target.
    #[serde(default)]
    pub rules: Vec<Rule>,
}

/// An issuer whose ID tokens are taken.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerSettings {
    /// The issuer's URL, exactly as tokens say it in `iss` (`https://token.actions.githubusercontent.com`).
    pub issuer: String,
    /// The audience tokens must name in `aud` (what the CI job asks its token for).
    #[serde(default = "default_audience")]
    pub audience: String,
    /// Hosts besides the issuer's own that its `jwks_uri` may be on.
    #[serde(default)]
    pub jwks_hosts: Vec<String>,
}

/// The audience a token must name unless an issuer says otherwise.
pub const DEFAULT_AUDIENCE: &str = "manifold";

fn default_audience() -> String {
    DEFAULT_AUDIENCE.to_owned()
}

/// What the tokens of one issuer whose claims match may write.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Its name, said when it lets a token in and when no rule does.
    pub name: String,
    /// The issuer whose tokens it is for (one of `issuers`).
    pub issuer: String,
    /// Claims and the values they must have (`*` matches any text): every one must hold.
    pub claims: std::collections::BTreeMap<String, String>,
    /// The targets it lets them write (`ghcr.io/example-org/demo:*`; `*` matches any text).
    pub targets: Vec<String>,
    /// The sources it lets them take (a list's images, a copy's source; `*` matches any text).
    /// None named: any the service may read. Name them when the service's credentials read
    /// repositories that the job's own should not reach.
    #[serde(default)]
    pub sources: Vec<String>,
}

impl OidcSettings {
    /// Whether any issuer is configured.
    pub fn enabled(&self) -> bool {
        !self.issuers.is_empty()
    }

    /// Checks the settings: issuer URLs (https, or http on loopback), audiences, rules that name
    /// a configured issuer, hold at least one claim and one target, and have unique names.
    pub fn check(&self) -> Result<(), String> {
        for (i, issuer) in self.issuers.iter().enumerate() {
            let at = format!("oidc.issuers[{i}]");
            jwks::check_url(&issuer.issuer).map_err(|e| format!("{at}.issuer: {e}"))?;
            if issuer.audience.trim().is_empty() {
                return Err(format!("{at}.audience: empty"));
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, rule) in self.rules.iter().enumerate() {
            let at = format!("oidc.rules[{i}]");
            if rule.name.trim().is_empty() || !names.insert(rule.name.as_str()) {
                return Err(format!("{at}.name: empty, or the name of another rule"));
            }
            if !self.issuers.iter().any(|s| s.issuer == rule.issuer) {
                return Err(format!(
                    "{at}.issuer: {} is not in oidc.issuers",
                    rule.issuer
                ));
            }
            if rule.claims.is_empty() {
                return Err(format!(
                    "{at}.claims: none, so every token of the issuer (any repository) would match"
                ));
            }
            if rule.targets.is_empty() {
                return Err(format!("{at}.targets: none"));
            }
        }
        Ok(())
    }
}

/// A verified ID token: its issuer and claims (never the token).
#[derive(Debug, Clone)]
pub struct IdToken {
    /// The issuer it was verified against.
    pub issuer: String,
    /// Its claims.
    pub claims: Map<String, Value>,
}

impl IdToken {
    /// A claim as text (strings as they are, numbers and booleans written out).
    pub fn claim(&self, name: &str) -> Option<String> {
        match self.claims.get(name)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// Who the token says it is, with the rule that let it in.
    pub fn identity(&self, rule: Option<&str>) -> Identity {
        let first = |names: &[&str]| names.iter().find_map(|n| self.claim(n));
        Identity {
            issuer: self.issuer.clone(),
            subject: self.claim("sub").unwrap_or_default(),
            repository: first(&["repository", "project_path"]),
            git_ref: self.claim("ref"),
            run_id: first(&["run_id", "pipeline_id"]),
            rule: rule.map(str::to_owned),
        }
    }
}

/// Why an ID token is refused; every message names the claim or header at fault and none holds
/// the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a compact JWS.
    #[error("the ID token is malformed: {0}")]
    Malformed(String),
    /// An alg other than RS256 or ES256.
    #[error("the ID token's alg `{0}` is refused: only RS256 and ES256 are taken")]
    Alg(String),
    /// An `iss` no configured issuer has.
    #[error("the ID token's iss `{0}` is not an issuer this service trusts (oidc.issuers)")]
    Issuer(String),
    /// A `kid` the issuer's keys do not hold (after one fetch of them at most a minute).
    #[error("the ID token's kid `{0}` is not among its issuer's keys")]
    KeyUnknown(String),
    /// The key named is not of the alg's type.
    #[error("the ID token's alg {alg} does not fit its key (kty {kty})")]
    KeyMismatch {
        /// The token's alg.
        alg: String,
        /// The key's type.
        kty: String,
    },
    /// A key of the issuer that cannot be used.
    #[error("the issuer's key cannot be used: {0}")]
    BadKey(String),
    /// The signature does not verify.
    #[error("the ID token's signature does not verify")]
    Signature,
    /// A required claim is missing or not a number.
    #[error("the ID token's `{0}` claim is missing or not a number")]
    Missing(&'static str),
    /// `exp` has passed.
    #[error("the ID token expired (exp was {ago} s ago)")]
    Expired {
        /// Seconds since `exp`.
        ago: i64,
    },
    /// `nbf` is to come.
    #[error("the ID token is not valid yet (nbf is in {in_secs} s)")]
    NotYet {
        /// Seconds until `nbf`.
        in_secs: i64,
    },
    /// `aud` does not name the audience.
    #[error("the ID token's aud `{found}` does not name this service's audience `{expected}`")]
    Audience {
        /// What `aud` named.
        found: String,
        /// The audience configured.
        expected: String,
    },
    /// The issuer's keys could not be fetched.
    #[error("the keys of issuer {issuer} could not be fetched: {why}")]
    Keys {
        /// The issuer.
        issuer: String,
        /// Why.
        why: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(claims: Value) -> IdToken {
        IdToken {
            issuer: "https://gitlab.example".to_owned(),
            claims: claims.as_object().unwrap().clone(),
        }
    }

    #[test]
    fn the_identity_takes_github_s_claims_or_gitlab_s_and_names_the_rule() {
        let github = token(serde_json::json!({
            "sub": "repo:o/r:ref:refs/heads/main", "repository": "o/r",
            "ref": "refs/heads/main", "run_id": "42", "project_path": "ignored",
        }));
        let gitlab = token(serde_json::json!({
            "sub": "project_path:g/p:ref_type:branch:ref:main", "project_path": "g/p",
            "ref": "main", "pipeline_id": 1234,
        }));

        let github = github.identity(Some("r1"));
        let gitlab = gitlab.identity(None);

        assert_eq!(
            (
                github.repository.as_deref(),
                github.run_id.as_deref(),
                github.rule.as_deref()
            ),
            (Some("o/r"), Some("42"), Some("r1"))
        );
        assert_eq!(
            (
                gitlab.repository.as_deref(),
                gitlab.git_ref.as_deref(),
                gitlab.run_id.as_deref()
            ),
            (Some("g/p"), Some("main"), Some("1234"))
        );
        assert_eq!(gitlab.subject, "project_path:g/p:ref_type:branch:ref:main");
        assert_eq!(gitlab.issuer, "https://gitlab.example");
    }
}

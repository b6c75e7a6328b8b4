//! Which credential `manifold submit` sends, in this order: `--token` (`MANIFOLD_TOKEN`); inside
//! GitHub Actions (`ACTIONS_ID_TOKEN_REQUEST_URL` and `ACTIONS_ID_TOKEN_REQUEST_TOKEN` set, as a
//! job with `permissions: id-token: write` has them) an ID token fetched for `--audience`; in
//! GitLab CI the ID token the job declares under `id_tokens:` (the variable `--id-token-env`
//! names, `MANIFOLD_ID_TOKEN` by default); else none. Errors name the variable at fault; no
//! token is ever printed.

use std::time::Duration;

use anyhow::Context as _;

/// GitHub's ID token request URL.
pub(super) const REQUEST_URL: &str = "ACTIONS_ID_TOKEN_REQUEST_URL";
/// The bearer for GitHub's ID token request.
pub(super) const REQUEST_TOKEN: &str = "ACTIONS_ID_TOKEN_REQUEST_TOKEN";
/// The variable a GitLab job's ID token is read from unless `--id-token-env` says otherwise.
pub(super) const DEFAULT_ID_TOKEN_ENV: &str = "MANIFOLD_ID_TOKEN";

/// Where the credential comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Source {
    /// None is sent.
    None,
    /// An API token (or a token given as one).
    Given,
    /// GitHub's ID token endpoint, for this audience (asked again when the token expires).
    GitHub { audience: String },
    /// A GitLab job's ID token variable.
    Variable(String),
}

/// How the credential is chosen: the flags and what the environment says.
pub(super) struct Choice<'a> {
    pub token: Option<&'a str>,
    pub audience: &'a str,
    pub id_token_env: Option<&'a str>,
}

/// The credential and where it came from.
pub(super) async fn choose(
    choice: &Choice<'_>,
    env: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<(Option<String>, Source)> {
    let set = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    if let Some(token) = choice.token.filter(|t| !t.trim().is_empty()) {
        return Ok((Some(token.trim().to_owned()), Source::Given));
    }
    match (set(REQUEST_URL), set(REQUEST_TOKEN)) {
        (Some(url), Some(bearer)) => {
            let token = github(&url, &bearer, choice.audience).await?;
            let source = Source::GitHub {
                audience: choice.audience.to_owned(),
            };
            return Ok((Some(token), source));
        }
        (Some(_), None) => anyhow::bail!(
            "{REQUEST_URL} is set but {REQUEST_TOKEN} is not: give the job `permissions: id-token: write`"
        ),
        _ => {}
    }
    let name = choice.id_token_env.unwrap_or(DEFAULT_ID_TOKEN_ENV);
    match set(name) {
        Some(token) => Ok((
            Some(token.trim().to_owned()),
            Source::Variable(name.to_owned()),
        )),
        None if choice.id_token_env.is_some() => anyhow::bail!(
            "--id-token-env: ${name} is not set: declare it under `id_tokens:` in the job \
             (with `aud:` the service's audience)"
        ),
        None => Ok((None, Source::None)),
    }
}

/// Asks GitHub Actions for an ID token for `audience`.
pub(super) async fn github(url: &str, bearer: &str, audience: &str) -> anyhow::Result<String> {
    let mut url = url::Url::parse(url).with_context(|| format!("{REQUEST_URL} is not a URL"))?;
    url.query_pairs_mut().append_pair("audience", audience);
    let http = crate::registry::http_builder()
        .timeout(Duration::from_secs(30))
        .user_agent(concat!("manifold/", env!("CARGO_PKG_VERSION")))
        .build()?;
    let answer = http
        .get(url)
        .bearer_auth(bearer)
        .header("accept", "application/json")
        .send()
        .await
        .with_context(|| format!("{REQUEST_URL} does not answer"))?;
    let status = answer.status();
    if !status.is_success() {
        anyhow::bail!(
            "{REQUEST_URL} answered {status} to {REQUEST_TOKEN}: the job needs `permissions: id-token: write`"
        );
    }
    let body: serde_json::Value = answer
        .json()
        .await
        .with_context(|| format!("{REQUEST_URL} answered no JSON"))?;
    body["value"]
        .as_str()
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .with_context(|| format!("{REQUEST_URL} answered no `value`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    fn choice<'a>(token: Option<&'a str>, id_token_env: Option<&'a str>) -> Choice<'a> {
        Choice {
            token,
            audience: "manifold",
            id_token_env,
        }
    }

    #[tokio::test]
    async fn a_given_token_wins_then_gitlab_s_variable_then_none() {
        let gitlab = env(&[
            ("MANIFOLD_ID_TOKEN", "eyJ.gitlab.token"),
            ("CI_JOB_TOKEN", "x"),
        ]);

        let given = choose(&choice(Some("api"), None), &gitlab).await.unwrap();
        let declared = choose(&choice(None, None), &gitlab).await.unwrap();
        let nothing = choose(&choice(None, None), env(&[])).await.unwrap();

        assert_eq!(given, (Some("api".to_owned()), Source::Given));
        assert_eq!(
            declared,
            (
                Some("eyJ.gitlab.token".to_owned()),
                Source::Variable("MANIFOLD_ID_TOKEN".to_owned())
            )
        );
        assert_eq!(nothing, (None, Source::None));
    }

    #[tokio::test]
    async fn a_named_variable_that_is_unset_or_half_of_github_s_pair_is_an_error_naming_it() {
        let named = choose(&choice(None, Some("CI_ID_TOKEN")), env(&[]))
            .await
            .unwrap_err();
        let half = choose(
            &choice(None, None),
            env(&[(REQUEST_URL, "http://127.0.0.1:9/x")]),
        )
        .await
        .unwrap_err();

        assert!(
            named.to_string().contains("$CI_ID_TOKEN is not set"),
            "{named}"
        );
        assert!(
            half.to_string()
                .contains("ACTIONS_ID_TOKEN_REQUEST_TOKEN is not"),
            "{half}"
        );
    }
}

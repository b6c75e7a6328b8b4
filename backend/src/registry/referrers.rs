//! The two listings referrers are found by: a repository's tags (`GET /v2/<name>/tags/list`,
//! where the referrers tag schema and cosign keep theirs) and the referrers API
//! (`GET /v2/<name>/referrers/<digest>`, OCI distribution 1.1), each followed across its pages
//! (`Link: <…>; rel="next"`, on the registry itself only). A tag page as long as was asked for
//! and without a `Link` (Trow cuts its listing at `n` so) is followed by asking again from its
//! last tag (`last=`). A referrers API that refuses one subject (`405`) is told apart from one
//! that is absent ([`Listing`]).

use reqwest::Method;
use reqwest::header::{ACCEPT, HeaderValue};
use serde::Deserialize;

use super::auth::Scope;
use super::client::RegistryClient;
use super::error::RegistryError;
use super::media::{Descriptor, OCI_INDEX};
use super::ops::header;
use super::request::Request;
use super::transport::read_limited;
use crate::model::Digest;
use crate::model::{MAX_LIST_BYTES, Reference};

/// Tags asked for a page.
const TAGS_PER_PAGE: usize = 1000;
/// Pages read of one listing at most (a hundred thousand tags).
const MAX_PAGES: usize = 100;

#[derive(Deserialize)]
struct TagList {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

/// What a registry's referrers API says of one subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listing {
    /// What refers to it (every page).
    Listed(Vec<Descriptor>),
    /// The registry has no referrers API.
    NoApi,
    /// The API lists nothing for this subject (`405`: ECR, for an index), though it may for
    /// others: its tag schema is where its referrers are.
    NotForSubject,
}

#[derive(Deserialize)]
struct ReferrerList {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

impl RegistryClient {
    /// Every tag of a repository (none when the repository does not exist).
    pub async fn list_tags(&self, repo: &Reference) -> Result<Vec<String>, RegistryError> {
        let first = format!("/v2/{}/tags/list?n={TAGS_PER_PAGE}", repo.repository());
        let operation = format!("list the tags of {}", repo.name());
        let mut tags = Vec::new();
        let mut next = Some(first);
        for _ in 0..MAX_PAGES {
            let Some(target) = next.take() else { break };
            let (body, link) = match self.read_page(repo, target, &operation, None).await {
                Ok(page) => page,
                Err(e) if e.is_not_found() && tags.is_empty() => return Ok(Vec::new()),
                Err(e) => return Err(e),
            };
            let page = parse::<TagList>(&body, &operation)?
                .tags
                .unwrap_or_default();
            if link.is_none() && tags.last().is_some() && page.last() == tags.last() {
                break; // `last=` not understood: the same page again
            }
            let cut = page.len() >= TAGS_PER_PAGE;
            tags.extend(page);
            next = link.or_else(|| {
                let last = tags.last().filter(|_| cut)?;
                let last: String = url::form_urlencoded::byte_serialize(last.as_bytes()).collect();
                Some(format!(
                    "/v2/{}/tags/list?n={TAGS_PER_PAGE}&last={last}",
                    repo.repository()
                ))
            });
        }
        Ok(tags)
    }

    /// The referrers the registry's referrers API lists for `digest`, or `None` when it has no
    /// API for it (see [`RegistryClient::referrers_of`]).
    pub async fn referrers(
        &self,
        repo: &Reference,
        digest: &Digest,
    ) -> Result<Option<Vec<Descriptor>>, RegistryError> {
        Ok(match self.referrers_of(repo, digest).await? {
            Listing::Listed(found) => Some(found),
            Listing::NoApi | Listing::NotForSubject => None,
        })
    }

    /// What the registry's referrers API says of `digest`: its listing; no API — it answers
    /// 404 or 400, as registries without it do (GitLab's 404 is an HTML page), or something that
    /// is not a listing at all (GHCR and Artifact Registry redirect to an HTML page); or no
    /// listing for this subject — 405, as ECR answers for an index while it may list an image's.
    /// `OCI-Subject` on a PUT is not taken as a sign of the API: ECR sends it without having one.
    /// What the answer says of the API is kept ([`super::Kept`]).
    pub async fn referrers_of(
        &self,
        repo: &Reference,
        digest: &Digest,
    ) -> Result<Listing, RegistryError> {
        let listing = self.ask_referrers(repo, digest).await?;
        match &listing {
            Listing::Listed(_) => self.kept().referrers_api(repo.registry(), true),
            Listing::NoApi => self.kept().referrers_api(repo.registry(), false),
            Listing::NotForSubject => {}
        }
        Ok(listing)
    }

    /// [`RegistryClient::referrers_of`], asked.
    async fn ask_referrers(
        &self,
        repo: &Reference,
        digest: &Digest,
    ) -> Result<Listing, RegistryError> {
        let operation = format!("list the referrers of {digest} in {}", repo.name());
        let mut found = Vec::new();
        let mut next = Some(format!("/v2/{}/referrers/{digest}", repo.repository()));
        for page_number in 0..MAX_PAGES {
            let Some(target) = next.take() else { break };
            let (body, link) = match self
                .read_page(repo, target, &operation, Some(OCI_INDEX))
                .await
            {
                Ok(page) => page,
                Err(RegistryError::Api { status: 405, .. }) if page_number == 0 => {
                    tracing::info!("{operation}: 405; the subject's tag schema is read instead");
                    return Ok(Listing::NotForSubject);
                }
                Err(RegistryError::Api { status, .. })
                    if page_number == 0 && matches!(status, 400 | 404) =>
                {
                    return Ok(Listing::NoApi);
                }
                Err(e) if page_number == 0 && super::transport::is_refused_redirect(&e) => {
                    tracing::info!(
                        "{operation}: {e}; taking the registry to have no referrers API"
                    );
                    return Ok(Listing::NoApi);
                }
                Err(e) => return Err(e),
            };
            let page: ReferrerList = match parse(&body, &operation) {
                Ok(page) => page,
                // GHCR and Artifact Registry redirect the API to an HTML page (a sign-in form)
                // that answers 200: no API, whatever the status says.
                Err(e) if page_number == 0 => {
                    tracing::info!("{e}; taking the registry to have no referrers API");
                    return Ok(Listing::NoApi);
                }
                Err(e) => return Err(e),
            };
            found.extend(page.manifests);
            next = link;
        }
        Ok(Listing::Listed(found))
    }

    /// One page of a listing: its body and the registry-relative target of the next page.
    async fn read_page(
        &self,
        repo: &Reference,
        target: String,
        operation: &str,
        accept: Option<&'static str>,
    ) -> Result<(bytes::Bytes, Option<String>), RegistryError> {
        let host = self.host(repo.registry())?;
        let mut req = Request::new(
            Method::GET,
            target,
            vec![Scope::pull(repo.repository())],
            operation.to_owned(),
        );
        if let Some(accept) = accept {
            req.headers.insert(ACCEPT, HeaderValue::from_static(accept));
        }
        let response = self.requester.send(&host, req).await?;
        let link = header(&response, "link").and_then(|l| next_link(&l));
        let body = read_limited(response, MAX_LIST_BYTES)
            .await
            .map_err(|message| RegistryError::Protocol {
                operation: operation.to_owned(),
                message,
            })?;
        Ok((body, link))
    }
}

fn parse<'a, T: Deserialize<'a>>(body: &'a [u8], operation: &str) -> Result<T, RegistryError> {
    serde_json::from_slice(body).map_err(|e| RegistryError::Protocol {
        operation: operation.to_owned(),
        message: format!("the registry's answer is not the listing it should be: {e}"),
    })
}

/// The target of a `Link` header's `rel="next"`, when it is a path on the registry itself.
fn next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        let next = params
            .split(';')
            .any(|p| matches!(p.trim(), "rel=\"next\"" | "rel=next"));
        (next && target.starts_with("/v2/")).then(|| target.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::next_link;

    #[test]
    fn the_next_page_is_followed_on_the_registry_only() {
        assert_eq!(
            next_link(r#"</v2/demo/tags/list?last=b&n=2>; rel="next""#).as_deref(),
            Some("/v2/demo/tags/list?last=b&n=2")
        );
        assert_eq!(
            next_link(r#"<https://elsewhere.example/v2/x>; rel="next""#),
            None
        );
        assert_eq!(next_link(r#"</v2/demo/tags/list?n=2>; rel="prev""#), None);
        assert_eq!(next_link("garbage"), None);
    }
}

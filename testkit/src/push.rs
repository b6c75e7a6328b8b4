//! Putting fixtures into a [`TestRegistry`] and reading back what is there, through the raw
//! registry HTTP API with reqwest, independent of the code under test.
//!
//! Auth: Basic credentials, or — when the registry answers 401 with a `Bearer` challenge — a
//! token fetched from the challenge's realm with those credentials (anonymously without),
//! cached per repository and replaced when a later challenge asks for more
//! ([`crate::bearer`]); or a fixed token ([`Pusher::with_token`]). HTTPS registries are trusted
//! through their CA ([`Pusher::with_ca`]).
//!
//! Blobs go up monolithically (`POST /v2/<repo>/blobs/uploads/` then `PUT <Location>&digest=`),
//! skipped when `HEAD` finds them; manifests with `PUT /v2/<repo>/manifests/<ref>`. Every write
//! checks the registry's answer (status and `Docker-Content-Digest`).

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use futures::future::try_join_all;
use reqwest::{Client, RequestBuilder, Response, StatusCode, Url, header};

use crate::bearer::{fetch_token, parse_bearer_challenge, repository_of};
use crate::fixtures::{Blob, BuiltImage, BuiltIndex, sha256_digest};
use crate::registry::TestRegistry;

/// A manifest as the registry returned it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchedManifest {
    /// The exact body.
    pub bytes: Vec<u8>,
    /// The `Content-Type` header.
    pub media_type: String,
    /// The `Docker-Content-Digest` header, if any.
    pub digest: Option<String>,
}

impl FetchedManifest {
    /// The body parsed as JSON.
    pub fn json(&self) -> anyhow::Result<serde_json::Value> {
        serde_json::from_slice(&self.bytes).context("manifest is not JSON")
    }
}

/// A small registry client for fixtures and assertions, talking to one [`TestRegistry`].
#[derive(Clone, Debug)]
pub struct Pusher {
    client: Client,
    base: Url,
    credentials: Option<(String, String)>,
    /// A token sent as is, with no challenge handling.
    fixed_token: Option<String>,
    /// Tokens from the realm by repository (`""`: requests about no repository).
    tokens: Arc<Mutex<HashMap<String, String>>>,
    /// Set once a Bearer challenge came: Basic credentials no longer go to the registry.
    token_mode: Arc<AtomicBool>,
}

/// Which certificates the client trusts for HTTPS.
enum Trust<'a> {
    /// The system's roots.
    System,
    /// Only this CA (PEM).
    Ca(&'a Path),
    /// Any certificate.
    Insecure,
}

/// A reqwest client as the Pusher uses it.
fn build_client(trust: Trust<'_>) -> anyhow::Result<Client> {
    let builder = crate::http_client().timeout(Duration::from_secs(30));
    let builder = match trust {
        Trust::System => builder,
        Trust::Ca(path) => {
            let pem = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
            let cert = reqwest::Certificate::from_pem(&pem).context("CA certificate")?;
            builder.tls_certs_only([cert])
        }
        Trust::Insecure => builder.tls_danger_accept_invalid_certs(true),
    };
    builder.build().context("reqwest client")
}

impl Pusher {
    /// A client for `registry` with its credentials when it has some (Basic, or for the token
    /// server in token mode), trusting its CA when it serves HTTPS (any certificate when its CA
    /// is unknown).
    pub fn new(registry: &TestRegistry) -> Self {
        let pusher = Self::for_url(&registry.url(), registry.credentials()).expect("registry URL");
        match (registry.is_tls(), registry.ca_cert_path()) {
            (_, Some(ca)) => pusher.with_ca(ca).expect("registry CA certificate"),
            (true, None) => pusher.insecure(),
            (false, None) => pusher,
        }
    }

    /// A client for any registry root URL (`http://127.0.0.1:5000`).
    pub fn for_url(url: &str, credentials: Option<(String, String)>) -> anyhow::Result<Self> {
        Ok(Pusher {
            client: build_client(Trust::System)?,
            base: Url::parse(url).with_context(|| format!("bad registry URL {url}"))?,
            credentials,
            fixed_token: None,
            tokens: Arc::default(),
            token_mode: Arc::default(),
        })
    }

    /// The same client trusting only this CA certificate (PEM) for HTTPS.
    pub fn with_ca(mut self, ca_cert_path: impl AsRef<Path>) -> anyhow::Result<Self> {
        self.client = build_client(Trust::Ca(ca_cert_path.as_ref()))?;
        Ok(self)
    }

    /// The same client accepting any certificate.
    pub fn insecure(mut self) -> Self {
        self.client = build_client(Trust::Insecure).expect("reqwest client");
        self
    }

    /// The same client with other credentials (`None`: anonymous), and no tokens yet.
    pub fn with_credentials(mut self, credentials: Option<(&str, &str)>) -> Self {
        self.credentials = credentials.map(|(u, p)| (u.to_owned(), p.to_owned()));
        self.tokens = Arc::default();
        self
    }

    /// The same client sending `Authorization: Bearer TOKEN` with every request and never
    /// asking for another token.
    pub fn with_token(mut self, token: &str) -> Self {
        self.fixed_token = Some(token.to_owned());
        self
    }

    /// The reqwest client (for requests of a test's own).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The tokens fetched so far (all repositories).
    pub fn tokens(&self) -> Vec<String> {
        self.tokens
            .lock()
            .expect("tokens")
            .values()
            .cloned()
            .collect()
    }

    /// A request to `url` (absolute, or relative to the registry's root), with credentials:
    /// the fixed token, a token fetched before for the same repository, or Basic auth.
    pub fn request(&self, method: reqwest::Method, url: &str) -> anyhow::Result<RequestBuilder> {
        let url = self
            .base
            .join(url)
            .with_context(|| format!("bad URL {url}"))?;
        let repo = repository_of(url.path()).unwrap_or_default().to_owned();
        let builder = self.client.request(method, url);
        if let Some(token) = &self.fixed_token {
            return Ok(builder.bearer_auth(token));
        }
        if let Some(token) = self.tokens.lock().expect("tokens").get(&repo) {
            return Ok(builder.bearer_auth(token));
        }
        Ok(match &self.credentials {
            Some((user, password)) if !self.token_mode.load(Ordering::Relaxed) => {
                builder.basic_auth(user, Some(password))
            }
            _ => builder,
        })
    }

    /// Sends a request made with [`Self::request`]. When the answer is 401 with a Bearer
    /// challenge (and no fixed token is set), fetches a token for the challenge's scopes, keeps
    /// it for the repository and sends the request again once with it.
    pub async fn send(&self, builder: RequestBuilder) -> anyhow::Result<Response> {
        let request = builder.build()?;
        let retry = request.try_clone();
        let resp = self.client.execute(request).await?;
        if resp.status() != StatusCode::UNAUTHORIZED || self.fixed_token.is_some() {
            return Ok(resp);
        }
        let challenge = resp
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_bearer_challenge);
        let (Some(challenge), Some(mut retry)) = (challenge, retry) else {
            return Ok(resp);
        };
        self.token_mode.store(true, Ordering::Relaxed);
        let credentials = self
            .credentials
            .as_ref()
            .map(|(u, p)| (u.as_str(), p.as_str()));
        let token = fetch_token(&self.client, &challenge, credentials)
            .await
            .with_context(|| format!("token for {:?}", challenge.scopes))?;
        let repo = repository_of(retry.url().path()).unwrap_or_default();
        self.tokens
            .lock()
            .expect("tokens")
            .insert(repo.to_owned(), token.clone());
        retry.headers_mut().insert(
            header::AUTHORIZATION,
            format!("Bearer {token}").parse().context("token header")?,
        );
        Ok(self.client.execute(retry).await?)
    }

    /// Whether `HEAD /v2/<repo>/blobs/<digest>` finds the blob.
    pub async fn blob_exists(&self, repo: &str, digest: &str) -> anyhow::Result<bool> {
        let request = self.request(reqwest::Method::HEAD, &format!("/v2/{repo}/blobs/{digest}"))?;
        let resp = self.send(request).await?;
        match resp.status() {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            other => bail!("HEAD blob {repo}@{digest}: {other}"),
        }
    }

    /// The bytes of a blob (checked against its digest).
    pub async fn get_blob(&self, repo: &str, digest: &str) -> anyhow::Result<Vec<u8>> {
        let request = self.request(reqwest::Method::GET, &format!("/v2/{repo}/blobs/{digest}"))?;
        let resp = self.send(request).await?;
        let bytes = expect_status(resp, &[StatusCode::OK], "GET blob")
            .await?
            .bytes()
            .await?
            .to_vec();
        ensure!(
            sha256_digest(&bytes) == digest,
            "blob {digest} has other content"
        );
        Ok(bytes)
    }

    /// Uploads a blob to `repo` unless `HEAD` says it is there already.
    pub async fn push_blob(&self, repo: &str, blob: &Blob) -> anyhow::Result<()> {
        if self.blob_exists(repo, &blob.digest).await? {
            return Ok(());
        }
        let request = self.request(reqwest::Method::POST, &format!("/v2/{repo}/blobs/uploads/"))?;
        let resp = self.send(request).await?;
        let resp = expect_status(resp, &[StatusCode::ACCEPTED], "POST blob upload").await?;
        let location = resp
            .headers()
            .get(header::LOCATION)
            .context("upload answer without Location")?
            .to_str()?
            .to_owned();
        // `join` keeps absolute Locations and resolves relative ones; `query_pairs_mut` appends
        // to a query that is already there (distribution's `?_state=`).
        let mut url = self.base.join(&location)?;
        url.query_pairs_mut().append_pair("digest", &blob.digest);
        let request = self
            .request(reqwest::Method::PUT, url.as_str())?
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .body(blob.data.clone());
        let resp = self.send(request).await?;
        let resp = expect_status(resp, &[StatusCode::CREATED], "PUT blob").await?;
        let got = content_digest(&resp);
        ensure!(
            got.as_deref() == Some(blob.digest.as_str()),
            "PUT blob {}: Docker-Content-Digest {got:?}",
            blob.digest
        );
        Ok(())
    }

    /// `PUT /v2/<repo>/manifests/<reference>` with these bytes and `Content-Type`; checks and
    /// returns the `Docker-Content-Digest`.
    pub async fn push_manifest(
        &self,
        repo: &str,
        reference: &str,
        bytes: &[u8],
        media_type: &str,
    ) -> anyhow::Result<String> {
        let request = self
            .request(
                reqwest::Method::PUT,
                &format!("/v2/{repo}/manifests/{reference}"),
            )?
            .header(header::CONTENT_TYPE, media_type)
            .body(bytes.to_vec());
        let resp = self.send(request).await?;
        let resp = expect_status(resp, &[StatusCode::CREATED], "PUT manifest")
            .await
            .with_context(|| format!("{repo}:{reference}"))?;
        let expected = sha256_digest(bytes);
        let got = content_digest(&resp);
        ensure!(
            got.as_deref() == Some(expected.as_str()),
            "PUT manifest {repo}:{reference}: Docker-Content-Digest {got:?}, expected {expected}"
        );
        Ok(expected)
    }

    /// Pushes the image's blobs (concurrently) and then its manifest under `tag_or_digest`.
    /// Returns the manifest digest.
    pub async fn push_image(
        &self,
        repo: &str,
        tag_or_digest: &str,
        image: &BuiltImage,
    ) -> anyhow::Result<String> {
        try_join_all(image.blobs().map(|blob| self.push_blob(repo, blob))).await?;
        self.push_manifest(repo, tag_or_digest, &image.manifest, &image.media_type)
            .await
    }

    /// Pushes every child (images and attestations) by digest into `repo`, then the index under
    /// `tag`. Returns the index digest.
    pub async fn push_index(
        &self,
        repo: &str,
        tag: &str,
        index: &BuiltIndex,
    ) -> anyhow::Result<String> {
        try_join_all(
            index
                .entries
                .iter()
                .map(|e| self.push_image(repo, &e.image.manifest_digest, &e.image)),
        )
        .await?;
        self.push_manifest(repo, tag, &index.manifest, &index.media_type)
            .await
    }

    /// `GET /v2/<repo>/manifests/<reference>` with this `Accept` header (use
    /// [`crate::media_types::ACCEPT_ALL`] to get what is stored, unconverted).
    pub async fn get_manifest(
        &self,
        repo: &str,
        reference: &str,
        accept: &str,
    ) -> anyhow::Result<FetchedManifest> {
        let request = self
            .request(
                reqwest::Method::GET,
                &format!("/v2/{repo}/manifests/{reference}"),
            )?
            .header(header::ACCEPT, accept);
        let resp = self.send(request).await?;
        let resp = expect_status(resp, &[StatusCode::OK], "GET manifest")
            .await
            .with_context(|| format!("{repo}:{reference}"))?;
        let media_type = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let digest = content_digest(&resp);
        let bytes = resp.bytes().await?.to_vec();
        Ok(FetchedManifest {
            bytes,
            media_type,
            digest,
        })
    }

    /// Whether `HEAD /v2/<repo>/manifests/<reference>` finds the manifest.
    pub async fn manifest_exists(&self, repo: &str, reference: &str) -> anyhow::Result<bool> {
        let request = self
            .request(
                reqwest::Method::HEAD,
                &format!("/v2/{repo}/manifests/{reference}"),
            )?
            .header(header::ACCEPT, crate::media_types::ACCEPT_ALL);
        let resp = self.send(request).await?;
        match resp.status() {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            other => bail!("HEAD manifest {repo}:{reference}: {other}"),
        }
    }

    /// Deletes a manifest by digest (the registry has `storage.delete.enabled`), which also
    /// removes every tag pointing at it.
    pub async fn delete_manifest(&self, repo: &str, digest: &str) -> anyhow::Result<()> {
        let request = self.request(
            reqwest::Method::DELETE,
            &format!("/v2/{repo}/manifests/{digest}"),
        )?;
        let resp = self.send(request).await?;
        expect_status(resp, &[StatusCode::ACCEPTED], "DELETE manifest").await?;
        Ok(())
    }

    /// The repository's tags, sorted; empty when the repository does not exist
    /// (`404 NAME_UNKNOWN`).
    pub async fn get_tags(&self, repo: &str) -> anyhow::Result<Vec<String>> {
        let request = self.request(reqwest::Method::GET, &format!("/v2/{repo}/tags/list"))?;
        let resp = self.send(request).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(Vec::new());
        }
        let body: serde_json::Value = expect_status(resp, &[StatusCode::OK], "GET tags")
            .await?
            .json()
            .await?;
        let mut tags: Vec<String> = body["tags"]
            .as_array()
            .map(|tags| {
                tags.iter()
                    .filter_map(|t| t.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        tags.sort();
        Ok(tags)
    }
}

/// The `Docker-Content-Digest` header.
fn content_digest(resp: &Response) -> Option<String> {
    resp.headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Passes `resp` through when its status is one of `ok`, else fails with status and body.
async fn expect_status(resp: Response, ok: &[StatusCode], what: &str) -> anyhow::Result<Response> {
    if ok.contains(&resp.status()) {
        return Ok(resp);
    }
    let status = resp.status();
    let url = resp.url().clone();
    let body = resp.text().await.unwrap_or_default();
    bail!("{what} {url}: {status}: {body}")
}

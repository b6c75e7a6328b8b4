//! The registry operations manifold needs, one request each where the protocol allows:
//! manifests (GET, HEAD, PUT), blobs (GET, HEAD, mount, upload sessions); the streamed copy of a
//! blob is `upload`'s.
//!
//! Owns what each operation asks and how its answer is checked (digests, `Location`s); every
//! request goes through the one request loop (`request`).

use bytes::Bytes;
use reqwest::Method;
use reqwest::header::{ACCEPT, HeaderValue, RANGE};

use super::auth::Scope;
use super::client::RegistryClient;
use super::error::RegistryError;
use super::host::Host;
use super::media::{DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED, MANIFEST_ACCEPT, Manifest};
use super::request::Request;
use super::transport::{Body, read_limited};
use crate::model::{Digest, DigestError};
use crate::model::{MAX_LIST_BYTES, Reference};

/// Largest config blob read whole (configs are small; this guards against a wrong digest).
const MAX_CONFIG_BYTES: usize = 8 * 1024 * 1024;

/// What a cross-repository mount did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mount {
    /// `201`: the blob is now linked in the target repository.
    Mounted,
    /// `202`: the registry refused to mount and opened an upload session at this location instead.
    Refused(String),
}

impl RegistryClient {
    /// `GET` a manifest by tag or digest with the full Accept header; the digest is checked against
    /// `Docker-Content-Digest` and against a digest reference.
    pub async fn get_manifest(&self, reference: &Reference) -> Result<Manifest, RegistryError> {
        self.read_manifest(reference, Scope::pull(reference.repository()))
            .await
    }

    /// `GET` what a push target holds now, asking for the push scope (the token the push then
    /// uses: no token request of its own).
    pub async fn get_target(&self, reference: &Reference) -> Result<Manifest, RegistryError> {
        self.read_manifest(reference, Scope::push(reference.repository()))
            .await
    }

    /// `GET` a manifest's stored bytes alone, whatever they are (schema 1 included, which the
    /// Accept header then names last): one request, nothing parsed. A schema-2 or OCI digest is
    /// checked as [`get_manifest`](Self::get_manifest) checks it.
    pub async fn get_manifest_bytes(
        &self,
        reference: &Reference,
    ) -> Result<(Bytes, Option<String>), RegistryError> {
        let accept =
            format!("{MANIFEST_ACCEPT}, {DOCKER_SCHEMA1_SIGNED};q=0.5, {DOCKER_SCHEMA1};q=0.5");
        let fetched = self
            .fetch_manifest(reference, Scope::pull(reference.repository()), &accept)
            .await?;
        let schema1 = fetched
            .content_type
            .as_deref()
            .is_some_and(|t| t.contains("manifest.v1+"));
        if !schema1 {
            fetched.check(reference, &Digest::of(&fetched.bytes))?;
        }
        Ok((fetched.bytes, fetched.content_type))
    }

    async fn read_manifest(
        &self,
        reference: &Reference,
        scope: Scope,
    ) -> Result<Manifest, RegistryError> {
        let fetched = self
            .fetch_manifest(reference, scope, MANIFEST_ACCEPT)
            .await?;
        let manifest = Manifest::parse(fetched.bytes.clone(), fetched.content_type.as_deref())
            .map_err(|e| RegistryError::Protocol {
                operation: fetched.operation.clone(),
                message: e.to_string(),
            })?;
        fetched.check(reference, &manifest.digest)?;
        Ok(manifest)
    }

    /// One `GET` of a manifest with this Accept header: its bytes, bounded, and what the answer
    /// said of them.
    async fn fetch_manifest(
        &self,
        reference: &Reference,
        scope: Scope,
        accept: &str,
    ) -> Result<Fetched, RegistryError> {
        let host = self.host(reference.registry())?;
        let operation = format!("GET manifest {reference}");
        let mut req = Request::new(
            Method::GET,
            format!(
                "/v2/{}/manifests/{}",
                reference.repository(),
                reference.manifest_ref()
            ),
            vec![scope],
            operation.clone(),
        );
        let accept =
            HeaderValue::from_str(accept).map_err(|e| RegistryError::Config(e.to_string()))?;
        req.headers.insert(ACCEPT, accept);
        let response = self.requester.send(&host, req).await?;
        let content_type = header(&response, "content-type");
        let header_digest = header(&response, "docker-content-digest");
        let bytes = read_limited(response, MAX_LIST_BYTES)
            .await
            .map_err(|message| RegistryError::Protocol {
                operation: operation.clone(),
                message,
            })?;
        Ok(Fetched {
            bytes,
            content_type,
            header_digest,
            operation,
        })
    }

    /// `HEAD` a manifest by tag or digest: the digest it has now, or `None` when there is none.
    /// A registry that names no digest in its answer is asked with a `GET`.
    pub async fn head_manifest(
        &self,
        reference: &Reference,
    ) -> Result<Option<Digest>, RegistryError> {
        let host = self.host(reference.registry())?;
        let operation = format!("HEAD manifest {reference}");
        let mut req = Request::new(
            Method::HEAD,
            format!(
                "/v2/{}/manifests/{}",
                reference.repository(),
                reference.manifest_ref()
            ),
            vec![Scope::pull(reference.repository())],
            operation.clone(),
        );
        req.headers
            .insert(ACCEPT, HeaderValue::from_static(MANIFEST_ACCEPT));
        let response = match self.requester.send(&host, req).await {
            Ok(response) => response,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        match header(&response, "docker-content-digest").map(|d| d.parse::<Digest>()) {
            Some(Ok(digest)) => Ok(Some(digest)),
            Some(Err(e)) => Err(RegistryError::Protocol {
                operation,
                message: format!("Docker-Content-Digest: {e}"),
            }),
            None => Ok(Some(self.get_manifest(reference).await?.digest)),
        }
    }

    /// `GET` a small blob (a config) whole, checking its digest.
    pub async fn get_blob(
        &self,
        repo: &Reference,
        digest: &Digest,
    ) -> Result<Bytes, RegistryError> {
        let (host, response, operation) = self.blob_response(repo, digest, None).await?;
        drop(host);
        let bytes = read_limited(response, MAX_CONFIG_BYTES)
            .await
            .map_err(|message| RegistryError::Protocol {
                operation: operation.clone(),
                message,
            })?;
        if let Err(DigestError::Mismatch { actual, .. }) = digest.verify(&bytes) {
            return Err(RegistryError::DigestMismatch {
                operation,
                expected: digest.to_string(),
                actual: actual.to_string(),
            });
        }
        self.small_blobs.keep(digest, &bytes);
        Ok(bytes)
    }

    /// `GET` a blob, streamed: the answer with its body unread (from byte `range` on, as
    /// `bytes=N-`, if given; the registry may answer the whole blob instead).
    pub(super) async fn blob_response(
        &self,
        repo: &Reference,
        digest: &Digest,
        range: Option<String>,
    ) -> Result<(std::sync::Arc<Host>, reqwest::Response, String), RegistryError> {
        let host = self.host(repo.registry())?;
        let operation = format!("GET blob {digest} from {}", repo.name());
        let mut req = Request::new(
            Method::GET,
            format!("/v2/{}/blobs/{digest}", repo.repository()),
            vec![Scope::pull(repo.repository())],
            operation.clone(),
        );
        req.streaming = true;
        if let Some(range) = range.and_then(|r| HeaderValue::from_str(&r).ok()) {
            req.headers.insert(RANGE, range);
        }
        let response = self.requester.send(&host, req).await?;
        Ok((host, response, operation))
    }

    /// Whether a blob exists in a repository (`HEAD`).
    pub async fn blob_exists(
        &self,
        repo: &Reference,
        digest: &Digest,
    ) -> Result<bool, RegistryError> {
        let host = self.host(repo.registry())?;
        let req = Request::new(
            Method::HEAD,
            format!("/v2/{}/blobs/{digest}", repo.repository()),
            vec![Scope::pull(repo.repository())],
            format!("HEAD blob {digest} in {}", repo.name()),
        );
        match self.requester.send(&host, req).await {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Links a blob of `from` into `target` on the same registry without copying it.
    pub async fn mount_blob(
        &self,
        target: &Reference,
        digest: &Digest,
        from: &Reference,
    ) -> Result<Mount, RegistryError> {
        let host = self.host(target.registry())?;
        let req = Request::new(
            Method::POST,
            format!(
                "/v2/{}/blobs/uploads/?mount={digest}&from={}",
                target.repository(),
                from.repository()
            ),
            vec![
                Scope::push(target.repository()),
                Scope::pull(from.repository()),
            ],
            format!(
                "mount blob {digest} from {} into {}",
                from.name(),
                target.name()
            ),
        );
        let response = match self.requester.send(&host, req).await {
            Ok(response) => response,
            // Harbor answers a mount from a project that does not exist (or that the credentials
            // may not read) with 401 instead of opening an upload: upload it instead.
            Err(e) if matches!(e.status(), Some(401 | 403)) => {
                tracing::info!(
                    "mount of {digest} from {} refused ({e}); uploading it",
                    from.name()
                );
                // Not kept: it is the source project's refusal, not the registry's.
                return Ok(Mount::Refused(self.start_upload(target).await?));
            }
            Err(e) => return Err(e),
        };
        // A 202 is the registry's way with every mount (Trow, ECR without blob mounting): kept.
        let mounted = response.status().as_u16() == 201;
        self.kept().mounted(target.registry(), mounted);
        match response.status().as_u16() {
            201 => Ok(Mount::Mounted),
            _ => {
                let operation = format!("mount blob {digest} into {}", target.name());
                Ok(Mount::Refused(
                    self.upload_location(&host, &response, operation)?,
                ))
            }
        }
    }

    /// The `Location` of an upload the registry opened; with an allow-list, it must be on the
    /// registry's own origin (blobs are never PUT to a host the registry names).
    pub(super) fn upload_location(
        &self,
        host: &Host,
        response: &reqwest::Response,
        operation: String,
    ) -> Result<String, RegistryError> {
        let Some(location) = header(response, "location") else {
            return Err(RegistryError::Protocol {
                operation,
                message: "the registry opened an upload without a Location".to_owned(),
            });
        };
        let base = host.base_url();
        let url = super::transport::resolve_url(&base, &location);
        if self.config.confined() && !super::transport::same_authority(&url, &base) {
            return Err(RegistryError::Protocol {
                operation,
                message: format!(
                    "the registry named an upload location on another host ({}); this service \
                     uploads only to the registry itself",
                    url::Url::parse(&url).map_or(url.clone(), |u| u.origin().ascii_serialization())
                ),
            });
        }
        Ok(location)
    }

    /// Opens an upload session; returns its `Location`.
    pub async fn start_upload(&self, target: &Reference) -> Result<String, RegistryError> {
        let host = self.host(target.registry())?;
        let operation = format!("start a blob upload to {}", target.name());
        let req = Request::new(
            Method::POST,
            format!("/v2/{}/blobs/uploads/", target.repository()),
            vec![Scope::push(target.repository())],
            operation.clone(),
        );
        let response = self.requester.send(&host, req).await?;
        self.upload_location(&host, &response, operation)
    }

    /// Cancels an upload session (best effort: failures are only logged).
    pub async fn cancel_upload(&self, target: &Reference, location: &str) {
        let Ok(host) = self.host(target.registry()) else {
            return;
        };
        let req = Request::new(
            Method::DELETE,
            location.to_owned(),
            vec![Scope::push(target.repository())],
            format!("cancel an upload to {}", target.name()),
        );
        if let Err(e) = self.requester.send(&host, req).await {
            tracing::debug!("could not cancel an upload session: {e}");
        }
    }

    /// `PUT` a manifest under a tag or digest; returns the digest the registry reports, checked
    /// against the digest of the bytes sent.
    pub async fn put_manifest(
        &self,
        target: &Reference,
        bytes: Bytes,
        media_type: &str,
    ) -> Result<Digest, RegistryError> {
        let host = self.host(target.registry())?;
        let expected = Digest::of(&bytes);
        let operation = format!("PUT manifest {target}");
        let mut req = Request::new(
            Method::PUT,
            format!(
                "/v2/{}/manifests/{}",
                target.repository(),
                target.manifest_ref()
            ),
            vec![Scope::push(target.repository())],
            operation.clone(),
        )
        .committing();
        req.body = Body::Bytes {
            data: bytes,
            content_type: media_type.to_owned(),
        };
        let response = self.requester.send(&host, req).await?;
        match header(&response, "docker-content-digest") {
            Some(actual) if expected != actual => Err(RegistryError::DigestMismatch {
                operation,
                expected: expected.to_string(),
                actual,
            }),
            _ => Ok(expected),
        }
    }
}

/// A manifest as one `GET` answered it.
struct Fetched {
    bytes: Bytes,
    content_type: Option<String>,
    header_digest: Option<String>,
    operation: String,
}

impl Fetched {
    /// The digest of the bytes must be the reference's (a digest reference) or else the one the
    /// registry named (`Docker-Content-Digest`), when it is sha256.
    fn check(&self, reference: &Reference, actual: &Digest) -> Result<(), RegistryError> {
        let expected = reference
            .digest()
            .map(str::to_owned)
            .or(self.header_digest.clone());
        match expected {
            Some(expected) if expected.starts_with("sha256:") && *actual != *expected.as_str() => {
                Err(RegistryError::DigestMismatch {
                    operation: self.operation.clone(),
                    expected,
                    actual: actual.to_string(),
                })
            }
            _ => Ok(()),
        }
    }
}

/// A header of `response` as text, if it has it.
pub(super) fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

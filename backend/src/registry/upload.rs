//! A blob streamed from a source repository (any registry) into a target: sent in chunks
//! (`PATCH` with `Content-Range`, then a `PUT ?digest=` that closes the upload), never held whole
//! in memory (a blob of 1 MiB or less is: read, checked and sent in the one `PUT`; one the client
//! read already, a config, is not read from the source again), checked on the way (the bytes the source sends are counted and hashed), and resumed
//! after the last chunk the target holds when a transfer is interrupted — where the target says
//! it holds it (`GET` on the upload's `Location`: `204` and a `Range`); otherwise started again.
//!
//! Owns the upload's state across attempts and which side a failure is blamed on: a short or
//! corrupt source is the source's, not the target's upload. Requests go through the one request
//! loop; attempts are the client's [`RetryPolicy`](crate::retry::RetryPolicy)'s.

use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::{Stream, StreamExt as _, TryStreamExt as _};
use reqwest::Method;
use reqwest::header::{CONTENT_RANGE, HeaderValue};
use sha2::{Digest as _, Sha256};

use super::auth::Scope;
use super::budget::MAX_THROTTLED;
use super::client::RegistryClient;
use super::error::{RegistryError, warn_retrying};
use super::media::Descriptor;
use super::ops::header;
use super::request::Request;
use super::small_blobs::SMALL_BLOB;
use super::timing::{Progress, idle_stream};
use super::transport::Body;
use crate::model::Reference;
use crate::retry::Verdict;

/// A failed blob copy, and whose fault it is.
#[derive(Debug)]
pub struct CopyError {
    /// True when the source failed (it could not be read, ended short, or sent other bytes).
    pub source_side: bool,
    /// What went wrong.
    pub error: RegistryError,
}

impl CopyError {
    fn target(error: RegistryError) -> Self {
        Self {
            source_side: false,
            error,
        }
    }

    fn source(error: RegistryError) -> Self {
        Self {
            source_side: true,
            error,
        }
    }
}

/// Where an upload stands: its session, the bytes the target holds, and their hash.
#[derive(Clone)]
struct Upload {
    location: String,
    offset: u64,
    hasher: Sha256,
}

impl Upload {
    fn new(location: String) -> Self {
        Self {
            location,
            offset: 0,
            hasher: Sha256::new(),
        }
    }
}

/// The source's bytes, shared by the chunks that take them in turn.
struct Source {
    stream: Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>,
    leftover: Option<Bytes>,
    /// Why it failed, if it did: the chunk's request then fails, and the source is blamed.
    failed: Option<String>,
}

type SharedSource = Arc<tokio::sync::Mutex<Source>>;

/// What one blob copy works on.
struct Copy<'a> {
    client: &'a RegistryClient,
    from: &'a Reference,
    target: &'a Reference,
    blob: &'a Descriptor,
}

impl RegistryClient {
    /// Streams a blob from `from` (any registry) into `target`, through `session` if one is open.
    /// A copy that fails on the way (connection, 429, 5xx, a stall) is resumed after the last
    /// chunk the target holds, or started again in a new session, under the retry policy.
    pub async fn copy_blob(
        &self,
        from: &Reference,
        target: &Reference,
        blob: &Descriptor,
        session: Option<String>,
    ) -> Result<(), CopyError> {
        let copy = Copy {
            client: self,
            from,
            target,
            blob,
        };
        let policy = &self.config.retry;
        let state = Mutex::new(session.map(Upload::new));
        let failures = AtomicU32::new(0);
        // A copy the target keeps refusing for its rate is resumed, uncounted, until this.
        let deadline = tokio::time::Instant::now() + MAX_THROTTLED;
        let result = policy
            .run(
                |attempt| {
                    let (copy, state) = (&copy, &state);
                    async move { copy.attempt(state, attempt).await }
                },
                |e: &CopyError| {
                    if !e.error.is_retryable() {
                        return Verdict::Stop;
                    }
                    // The target broke HTTP/2 on a chunk: started again over HTTP/1.1, uncounted.
                    if super::protocol::fell_back(&e.error) {
                        return Verdict::Again;
                    }
                    if e.error.is_rate_limited() && tokio::time::Instant::now() < deadline {
                        return Verdict::Again;
                    }
                    let attempt = failures.fetch_add(1, Ordering::Relaxed) + 1;
                    if policy.may_retry(attempt) {
                        warn_retrying(&e.error, attempt, policy.max_attempts);
                    }
                    Verdict::Retry(None)
                },
            )
            .await;
        let Err((e, attempts)) = result else {
            return Ok(());
        };
        let abandoned = state.lock().expect("lock").take();
        if let Some(upload) = abandoned {
            self.cancel_upload(target, &upload.location).await;
        }
        Err(CopyError {
            source_side: e.source_side,
            error: e.error.after_attempts(attempts),
        })
    }
}

impl Copy<'_> {
    /// One attempt: the first uses the session given (if any); a later one resumes the upload in
    /// `state` if the target holds what it says, else starts again in a new session. Then the
    /// rest goes chunk by chunk and the upload is closed. `state` keeps the last chunk the target
    /// took, for the next attempt.
    async fn attempt(&self, state: &Mutex<Option<Upload>>, attempt: u32) -> Result<(), CopyError> {
        let held = state.lock().expect("lock").take();
        let mut upload = match held {
            Some(given) if attempt == 1 => given,
            Some(upload) if upload.offset > 0 => match self.status(&upload).await {
                Some(resumed) => resumed,
                None => self.restart(Some(upload)).await?,
            },
            interrupted => self.restart(interrupted).await?,
        };
        if upload.offset == 0 && self.blob.size <= SMALL_BLOB {
            let bytes = match self.client.small_blobs.get(&self.blob.digest) {
                Some(read) if read.len() as u64 == self.blob.size => read,
                _ => self.read_whole(&self.open_source(0).await?).await?,
            };
            return self.put_whole(&upload, bytes).await.inspect_err(|_| {
                *state.lock().expect("lock") = Some(upload.clone());
            });
        }
        let source = self.open_source(upload.offset).await?;
        let chunk = self.client.config.upload_chunk.max(1);
        while upload.offset < self.blob.size {
            let len = chunk.min(self.blob.size - upload.offset);
            let sent = self.patch(&upload, &source, len).await;
            match sent {
                Ok(next) => upload = next,
                // What the target made of the chunk is unknown (its answer was malformed):
                // the session is given up, and the next attempt opens another.
                Err(e) if super::protocol::fell_back(&e.error) => {
                    self.client
                        .cancel_upload(self.target, &upload.location)
                        .await;
                    return Err(e);
                }
                Err(e) => {
                    *state.lock().expect("lock") = Some(upload);
                    return Err(e);
                }
            }
            *state.lock().expect("lock") = Some(upload.clone());
        }
        self.check_source(&source, &upload).await?;
        self.close(&upload).await.inspect_err(|_| {
            *state.lock().expect("lock") = Some(upload.clone());
        })
    }

    /// A new session, the old one (if any) cancelled.
    async fn restart(&self, old: Option<Upload>) -> Result<Upload, CopyError> {
        if let Some(old) = old {
            self.client.cancel_upload(self.target, &old.location).await;
        }
        let location = self.client.start_upload(self.target).await;
        location.map(Upload::new).map_err(CopyError::target)
    }

    /// The upload as the target holds it, if it holds exactly what was sent (`204`, a `Range`
    /// ending where the last chunk did); `None` means start again.
    async fn status(&self, upload: &Upload) -> Option<Upload> {
        let host = self.client.host(self.target.registry()).ok()?;
        let req = Request::new(
            Method::GET,
            upload.location.clone(),
            vec![Scope::push(self.target.repository())],
            format!(
                "ask how much of {} {} holds",
                self.blob.digest,
                self.target.name()
            ),
        );
        let response = self.client.requester.send(&host, req).await.ok()?;
        let range = header(&response, "range")?;
        let end: u64 = range.rsplit('-').next()?.trim().parse().ok()?;
        if response.status().as_u16() != 204 || end + 1 != upload.offset {
            tracing::info!(
                "{} holds {range} of {}, not the {} bytes sent: starting again",
                self.target.name(),
                self.blob.digest,
                upload.offset
            );
            return None;
        }
        let location = header(&response, "location").unwrap_or_else(|| upload.location.clone());
        tracing::info!(
            "resuming the upload of {} at byte {}",
            self.blob.digest,
            upload.offset
        );
        Some(Upload {
            location,
            ..upload.clone()
        })
    }

    /// The source's bytes from `offset` on (a `Range` request; a source that ignores it has the
    /// bytes before `offset` skipped).
    async fn open_source(&self, offset: u64) -> Result<SharedSource, CopyError> {
        let range = (offset > 0).then(|| format!("bytes={offset}-"));
        let (_, response, _) = self
            .client
            .blob_response(self.from, &self.blob.digest, range)
            .await
            .map_err(CopyError::source)?;
        let skip = match response.status().as_u16() {
            206 => 0,
            _ => offset,
        };
        let idle = self.client.config.timeouts.idle;
        let stream = idle_stream(
            response.bytes_stream().map_err(std::io::Error::other),
            idle,
            Progress::default(),
            move || {
                std::io::Error::other(format!(
                    "the source stopped sending: nothing came for {} s",
                    idle.as_secs_f64()
                ))
            },
        );
        let stream = skip_bytes(stream, skip);
        Ok(Arc::new(tokio::sync::Mutex::new(Source {
            stream: Box::pin(stream),
            leftover: None,
            failed: None,
        })))
    }

    /// `PATCH`es the next `len` bytes of `source`; the upload after it.
    async fn patch(
        &self,
        upload: &Upload,
        source: &SharedSource,
        len: u64,
    ) -> Result<Upload, CopyError> {
        let host = self
            .client
            .host(self.target.registry())
            .map_err(CopyError::target)?;
        let hasher = Arc::new(Mutex::new(upload.hasher.clone()));
        let progress = Progress::default();
        let body = chunk_stream(source.clone(), len, hasher.clone(), progress.clone());
        let end = upload.offset + len - 1;
        let mut req = Request::new(
            Method::PATCH,
            upload.location.clone(),
            vec![Scope::push(self.target.repository())],
            format!(
                "upload bytes {}-{end} of blob {} to {}",
                upload.offset,
                self.blob.digest,
                self.target.name()
            ),
        );
        let range = HeaderValue::from_str(&format!("{}-{end}", upload.offset)).expect("ascii");
        req.headers.insert(CONTENT_RANGE, range);
        req.body = Body::stream(reqwest::Body::wrap_stream(body), Some(len));
        req.streaming = true;
        req.progress = Some(progress);
        req.commits = true;
        let sent = self.client.requester.send(&host, req).await;
        if let Some(failed) = source.lock().await.failed.clone() {
            return Err(self.source_failed(failed));
        }
        let response = sent.map_err(CopyError::target)?;
        let operation = format!("upload blob {} to {}", self.blob.digest, self.target.name());
        let location = self
            .client
            .upload_location(&host, &response, operation)
            .map_err(CopyError::target)?;
        let hasher = hasher.lock().expect("lock").clone();
        Ok(Upload {
            location,
            offset: end + 1,
            hasher,
        })
    }

    /// The error of a source that failed while a chunk was sent.
    fn source_failed(&self, why: String) -> CopyError {
        CopyError::source(RegistryError::Transport {
            operation: format!("GET blob {} from {}", self.blob.digest, self.from.name()),
            message: why,
            timeout: false,
            permanent: false,
        })
    }

    /// The source sent exactly the blob: nothing more than its size, and bytes of its digest.
    async fn check_source(&self, source: &SharedSource, upload: &Upload) -> Result<(), CopyError> {
        let mut source = source.lock().await;
        let extra = match source.leftover.take() {
            Some(rest) => Some(rest.len()),
            None => source
                .stream
                .next()
                .await
                .and_then(|b| b.ok())
                .map(|b| b.len()),
        };
        let operation = format!("GET blob {} from {}", self.blob.digest, self.from.name());
        if let Some(extra) = extra.filter(|n| *n > 0) {
            return Err(CopyError::source(RegistryError::Protocol {
                operation,
                message: format!(
                    "the source sent more than the {} bytes its manifest gives (at least {extra} more)",
                    self.blob.size
                ),
            }));
        }
        let actual = format!("sha256:{}", hex::encode(upload.hasher.clone().finalize()));
        if self.blob.digest.algorithm() == "sha256" && self.blob.digest != *actual.as_str() {
            return Err(CopyError::source(RegistryError::DigestMismatch {
                operation,
                expected: self.blob.digest.to_string(),
                actual,
            }));
        }
        Ok(())
    }

    /// The whole (small) blob from the source, checked: its size and digest.
    async fn read_whole(&self, source: &SharedSource) -> Result<Bytes, CopyError> {
        let hasher = Arc::new(Mutex::new(Sha256::new()));
        let stream = chunk_stream(
            source.clone(),
            self.blob.size,
            hasher.clone(),
            Progress::default(),
        );
        let parts: Vec<Bytes> = match stream.try_collect().await {
            Ok(parts) => parts,
            Err(e) => {
                let why = source.lock().await.failed.clone();
                return Err(self.source_failed(why.unwrap_or_else(|| e.to_string())));
            }
        };
        let read = Upload {
            location: String::new(),
            offset: self.blob.size,
            hasher: hasher.lock().expect("lock").clone(),
        };
        self.check_source(source, &read).await?;
        Ok(parts.concat().into())
    }

    /// `PUT ?digest=` with the whole blob: one request where a chunk and a close would be two.
    async fn put_whole(&self, upload: &Upload, bytes: Bytes) -> Result<(), CopyError> {
        let body = Body::Bytes {
            data: bytes,
            content_type: "application/octet-stream".to_owned(),
        };
        self.commit(upload, body, "upload").await
    }

    /// `PUT ?digest=` with no body: the target checks the digest and links the blob.
    async fn close(&self, upload: &Upload) -> Result<(), CopyError> {
        self.commit(upload, Body::Empty, "commit").await
    }

    /// `PUT ?digest=` with `body` (what is left of the blob, if anything): the upload closed.
    async fn commit(&self, upload: &Upload, body: Body, verb: &str) -> Result<(), CopyError> {
        let host = self
            .client
            .host(self.target.registry())
            .map_err(CopyError::target)?;
        let mut req = Request::new(
            Method::PUT,
            commit_target(&upload.location, self.blob.digest.as_ref()),
            vec![Scope::push(self.target.repository())],
            format!("{verb} blob {} to {}", self.blob.digest, self.target.name()),
        )
        .committing();
        req.body = body;
        self.client
            .requester
            .send(&host, req)
            .await
            .map_err(CopyError::target)?;
        Ok(())
    }
}

/// An upload's `Location` with `digest=` added: where it is closed.
fn commit_target(location: &str, digest: &str) -> String {
    let separator = if location.contains('?') { '&' } else { '?' };
    format!("{location}{separator}digest={digest}")
}

/// `stream` without its first `skip` bytes.
fn skip_bytes(
    stream: impl Stream<Item = std::io::Result<Bytes>> + Send + 'static,
    skip: u64,
) -> impl Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    let mut left = skip;
    stream.filter_map(move |item| {
        let out = match item {
            Ok(bytes) if left >= bytes.len() as u64 => {
                left -= bytes.len() as u64;
                None
            }
            Ok(bytes) => {
                let start = usize::try_from(left).unwrap_or(usize::MAX);
                left = 0;
                Some(Ok(bytes.slice(start..)))
            }
            Err(e) => Some(Err(e)),
        };
        std::future::ready(out)
    })
}

/// The next `len` bytes of `source` as a request body, hashed into `hasher` as they go; a source
/// that fails or ends short is recorded in it and ends the body in an error.
fn chunk_stream(
    source: SharedSource,
    len: u64,
    hasher: Arc<Mutex<Sha256>>,
    progress: Progress,
) -> impl Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    futures::stream::unfold(len, move |left| {
        let (source, hasher, progress) = (source.clone(), hasher.clone(), progress.clone());
        async move {
            if left == 0 {
                return None;
            }
            let mut src = source.lock().await;
            let next = match src.leftover.take() {
                Some(bytes) => Ok(bytes),
                None => match src.stream.next().await {
                    Some(Ok(bytes)) => Ok(bytes),
                    Some(Err(e)) => Err(e.to_string()),
                    None => Err(format!(
                        "the source ended {left} bytes short of the blob's size"
                    )),
                },
            };
            let mut bytes = match next {
                Ok(bytes) => bytes,
                Err(why) => {
                    src.failed = Some(why.clone());
                    return Some((Err(std::io::Error::other(why)), 0));
                }
            };
            let take = usize::try_from(left).unwrap_or(usize::MAX).min(bytes.len());
            if take < bytes.len() {
                src.leftover = Some(bytes.split_off(take));
            }
            hasher.lock().expect("lock").update(&bytes);
            let left = left - take as u64;
            if left == 0 {
                progress.sent_all();
            } else {
                progress.touch();
            }
            Some((Ok(bytes), left))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source_of(parts: &[&'static [u8]]) -> SharedSource {
        let items: Vec<std::io::Result<Bytes>> =
            parts.iter().map(|p| Ok(Bytes::from_static(p))).collect();
        Arc::new(tokio::sync::Mutex::new(Source {
            stream: Box::pin(futures::stream::iter(items)),
            leftover: None,
            failed: None,
        }))
    }

    async fn take(source: &SharedSource, len: u64, hasher: &Arc<Mutex<Sha256>>) -> Vec<u8> {
        let stream = chunk_stream(source.clone(), len, hasher.clone(), Progress::default());
        let parts: Vec<_> = stream.collect().await;
        parts
            .into_iter()
            .flat_map(|p| p.map(|b| b.to_vec()).unwrap_or_default())
            .collect()
    }

    #[tokio::test]
    async fn chunks_split_the_source_at_their_length_and_hash_every_byte_once() {
        let source = source_of(&[b"abcde", b"fgh", b"ij"]);
        let hasher = Arc::new(Mutex::new(Sha256::new()));
        assert_eq!(take(&source, 4, &hasher).await, b"abcd");
        assert_eq!(take(&source, 4, &hasher).await, b"efgh");
        assert_eq!(take(&source, 2, &hasher).await, b"ij");
        let digest = hex::encode(hasher.lock().unwrap().clone().finalize());
        assert_eq!(digest, hex::encode(Sha256::digest(b"abcdefghij")));
        assert!(source.lock().await.failed.is_none());
    }

    #[tokio::test]
    async fn a_source_that_ends_short_is_recorded_as_the_source_failing() {
        let source = source_of(&[b"abc"]);
        let hasher = Arc::new(Mutex::new(Sha256::new()));
        let stream = chunk_stream(source.clone(), 5, hasher, Progress::default());
        let parts: Vec<_> = stream.collect().await;
        assert!(parts.last().unwrap().is_err());
        let failed = source.lock().await.failed.clone().unwrap();
        assert!(failed.contains("2 bytes short"), "{failed}");
    }

    #[tokio::test]
    async fn skipping_drops_exactly_the_bytes_before_the_offset() {
        let items: Vec<std::io::Result<Bytes>> = vec![
            Ok(Bytes::from_static(b"abc")),
            Ok(Bytes::from_static(b"defg")),
        ];
        let rest: Vec<_> = skip_bytes(futures::stream::iter(items), 5).collect().await;
        let rest: Vec<u8> = rest.into_iter().flat_map(|b| b.unwrap().to_vec()).collect();
        assert_eq!(rest, b"fg");
    }
}

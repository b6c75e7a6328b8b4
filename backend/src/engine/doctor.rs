//! `manifold doctor`: what a registry does, probed — how it authenticates, its scheme and HTTP
//! version, its rate-limit headers and answer times; with a repository, whether its referrers API
//! answers; with `--write`, in a scratch repository it names, whether a blob uploads, whether a
//! cross-repository mount works, whether an OCI index and a Docker list with annotations are
//! accepted — and what it could not clean up afterwards.
//!
//! Owns the probes and the [`Diagnosis`]; the requests are the registry client's (`ping`,
//! `put_blob`, `delete`, the operations a push uses). Its text is the CLI's.

use std::time::Instant;

use bytes::Bytes;
use serde::Serialize;

use crate::model::{Digest, Reference};
use crate::registry::media::{
    DOCKER_CONFIG, DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST,
};
use crate::registry::{Mount, Ping, RegistryClient, RegistryError};

/// The digest of `{}`, the OCI empty descriptor's: what the referrers probe asks about.
const EMPTY_JSON: &str = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

/// What was asked of the registry.
#[derive(Debug, Clone)]
pub struct DoctorOptions {
    /// The registry (`host[:port]`).
    pub registry: String,
    /// A repository to probe (the referrers API), and with `write`, the scratch repository.
    pub repository: Option<String>,
    /// Upload, mount and push in the scratch repository (and delete what it can).
    pub write: bool,
}

/// What the registry does.
#[derive(Debug, Clone, Serialize)]
pub struct Diagnosis {
    /// The registry probed.
    pub registry: String,
    /// Its API base's answer: scheme, HTTP version, auth, rate-limit headers, time.
    pub ping: Ping,
    /// Whether its referrers API answers (`None`: no repository to ask in).
    pub referrers_api: Option<Probe>,
    /// The write probes, with `--write`.
    pub writes: Option<Writes>,
    /// Registry requests made, token requests included.
    pub requests: u64,
}

/// What one probe found.
#[derive(Debug, Clone, Serialize)]
pub struct Probe {
    /// Whether it works as manifold would use it.
    pub works: bool,
    /// What was seen, in a few words.
    pub detail: String,
    /// How long it took, in milliseconds.
    pub took_ms: f64,
}

/// The write probes, in the scratch repository.
#[derive(Debug, Clone, Serialize)]
pub struct Writes {
    /// The repository written to (`registry/repo`).
    pub scratch: String,
    /// A blob uploaded in one `PUT`.
    pub blob_upload: Probe,
    /// A cross-repository mount of that blob into `<scratch>-mount`.
    pub mount: Option<Probe>,
    /// An OCI index with annotations.
    pub oci_index: Option<Probe>,
    /// A Docker manifest list with annotations.
    pub docker_list_with_annotations: Option<Probe>,
    /// What is left behind, when the registry would not delete it.
    pub left_behind: Vec<String>,
}

/// Probes `options.registry`.
pub async fn doctor(
    client: &RegistryClient,
    options: &DoctorOptions,
) -> Result<Diagnosis, RegistryError> {
    let ping = client.ping(&options.registry).await?;
    let repo = match &options.repository {
        Some(repository) => Some(reference(&options.registry, repository, "doctor")?),
        None => None,
    };
    let referrers_api = match &repo {
        Some(repo) => Some(referrers(client, repo).await),
        None => None,
    };
    let writes = if options.write {
        let name = options.repository.as_deref().unwrap_or("manifold-doctor");
        let scratch = reference(&options.registry, name, "doctor")?;
        Some(writes(client, &scratch).await?)
    } else {
        None
    };
    Ok(Diagnosis {
        registry: options.registry.clone(),
        ping,
        referrers_api,
        writes,
        requests: client.requests(),
    })
}

fn reference(registry: &str, repository: &str, tag: &str) -> Result<Reference, RegistryError> {
    parse(&format!("{registry}/{repository}:{tag}"))
}

fn at_digest(repo: &Reference, digest: &Digest) -> Result<Reference, RegistryError> {
    parse(&format!(
        "{}/{}@{digest}",
        repo.registry(),
        repo.repository()
    ))
}

fn parse(text: &str) -> Result<Reference, RegistryError> {
    Reference::parse(text).map_err(|e| RegistryError::Config(format!("{text}: {e}")))
}

/// Whether the referrers API answers for the empty descriptor's digest.
async fn referrers(client: &RegistryClient, repo: &Reference) -> Probe {
    let started = Instant::now();
    let digest = Digest::parse(EMPTY_JSON).expect("a valid digest");
    let (works, detail) = match client.referrers(repo, &digest).await {
        Ok(Some(found)) => (
            true,
            format!(
                "answers ({} referrers of the empty descriptor)",
                found.len()
            ),
        ),
        Ok(None) => (false, "none (referrers go in the tag schema)".to_owned()),
        Err(e) => (false, format!("failed: {}", e.reason())),
    };
    Probe {
        works,
        detail,
        took_ms: since(started),
    }
}

/// The write probes; what could not be removed is listed.
async fn writes(client: &RegistryClient, scratch: &Reference) -> Result<Writes, RegistryError> {
    let mut made: Vec<(Reference, &'static str, Digest)> = Vec::new();
    let started = Instant::now();
    let config = config_bytes();
    let blob = match client.put_blob(scratch, config.clone()).await {
        Ok(digest) => digest,
        Err(e) => {
            return Ok(Writes {
                scratch: scratch.name(),
                blob_upload: failed(started, &e),
                mount: None,
                oci_index: None,
                docker_list_with_annotations: None,
                left_behind: Vec::new(),
            });
        }
    };
    made.push((scratch.clone(), "blobs", blob.clone()));
    let blob_upload = worked(started, format!("{} bytes in one PUT", config.len()));
    let mount = mount(client, scratch, &blob, &mut made).await?;
    let (oci_index, docker_list) = lists(client, scratch, &blob, config.len(), &mut made).await;
    let left_behind = clean_up(client, made).await;
    Ok(Writes {
        scratch: scratch.name(),
        blob_upload,
        mount: Some(mount),
        oci_index: Some(oci_index),
        docker_list_with_annotations: Some(docker_list),
        left_behind,
    })
}

/// A config unique to this run, so that a mount is a real test and nothing is found already.
fn config_bytes() -> Bytes {
    let nonce: u64 = rand::random();
    Bytes::from(format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{"Labels":{{"manifold.doctor":"{nonce:016x}"}}}},"rootfs":{{"type":"layers","diff_ids":[]}}}}"#
    ))
}

/// Mounts the blob into `<scratch>-mount`.
async fn mount(
    client: &RegistryClient,
    scratch: &Reference,
    blob: &Digest,
    made: &mut Vec<(Reference, &'static str, Digest)>,
) -> Result<Probe, RegistryError> {
    let other = reference(
        scratch.registry(),
        &format!("{}-mount", scratch.repository()),
        "doctor",
    )?;
    let started = Instant::now();
    Ok(match client.mount_blob(&other, blob, scratch).await {
        Ok(Mount::Mounted) => {
            made.push((other.clone(), "blobs", blob.clone()));
            worked(started, format!("mounted into {}", other.name()))
        }
        Ok(Mount::Refused(location)) => {
            client.cancel_upload(&other, &location).await;
            Probe {
                works: false,
                detail: "refused: blobs from another repository are streamed".to_owned(),
                took_ms: since(started),
            }
        }
        Err(e) => failed(started, &e),
    })
}

/// Pushes an image of the config (no layers) in each format, then an OCI index and a Docker
/// list with annotations over them.
async fn lists(
    client: &RegistryClient,
    scratch: &Reference,
    config: &Digest,
    config_size: usize,
    made: &mut Vec<(Reference, &'static str, Digest)>,
) -> (Probe, Probe) {
    let annotations =
        serde_json::json!({"org.opencontainers.image.description": "manifold doctor"});
    let mut results = Vec::new();
    for (image_type, list_type) in [(OCI_MANIFEST, OCI_INDEX), (DOCKER_MANIFEST, DOCKER_LIST)] {
        let started = Instant::now();
        let config_type = if image_type == OCI_MANIFEST {
            crate::registry::media::OCI_CONFIG
        } else {
            DOCKER_CONFIG
        };
        let image = serde_json::json!({
            "schemaVersion": 2, "mediaType": image_type,
            "config": {"mediaType": config_type, "digest": config.to_string(), "size": config_size},
            "layers": []
        });
        let image = Bytes::from(image.to_string());
        let image_digest = Digest::of(&image);
        let probe = async {
            let by_digest = at_digest(scratch, &image_digest)?;
            client
                .put_manifest(&by_digest, image.clone(), image_type)
                .await?;
            made.push((scratch.clone(), "manifests", image_digest.clone()));
            let list = serde_json::json!({
                "schemaVersion": 2, "mediaType": list_type,
                "manifests": [{"mediaType": image_type, "digest": image_digest.to_string(),
                    "size": image.len(), "platform": {"architecture": "amd64", "os": "linux"}}],
                "annotations": annotations,
            });
            let list = Bytes::from(list.to_string());
            let tagged = reference(scratch.registry(), scratch.repository(), "manifold-doctor")?;
            let digest = client.put_manifest(&tagged, list, list_type).await?;
            made.push((scratch.clone(), "manifests", digest));
            Ok::<_, RegistryError>(())
        };
        results.push(match probe.await {
            Ok(()) => worked(started, "accepted".to_owned()),
            Err(e) => failed(started, &e),
        });
    }
    let docker = results.pop().expect("two probes");
    let oci = results.pop().expect("two probes");
    (oci, docker)
}

/// Deletes what the probes made, newest first; names what the registry kept.
async fn clean_up(
    client: &RegistryClient,
    made: Vec<(Reference, &'static str, Digest)>,
) -> Vec<String> {
    let mut left = Vec::new();
    for (repo, what, digest) in made.into_iter().rev() {
        if !matches!(client.delete(&repo, what, &digest).await, Ok(true)) {
            left.push(format!("{}@{digest} ({what})", repo.name()));
        }
    }
    left
}

fn worked(started: Instant, detail: String) -> Probe {
    Probe {
        works: true,
        detail,
        took_ms: since(started),
    }
}

fn failed(started: Instant, e: &RegistryError) -> Probe {
    Probe {
        works: false,
        detail: format!("refused: {}", e.reason()),
        took_ms: since(started),
    }
}

fn since(started: Instant) -> f64 {
    (started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0
}

//! What supply-chain tools attach to images, built deterministically in code: a cosign-layout
//! signature (an OCI manifest whose one layer is a simple-signing payload, pushed at the tag
//! `sha256-<hex>.sig`) and an SBOM artifact (OCI 1.1: `artifactType`, the empty config, an SPDX
//! layer and a `subject`), registered through the referrers tag schema (an index at the tag
//! `sha256-<hex>`) the way clients do on registries without the referrers API.

use base64::Engine as _;
use futures::future::try_join_all;
use serde_json::{Value, json};

use crate::fixtures::{Blob, sha256_digest};
use crate::media_types::{ACCEPT_ALL, OCI_CONFIG, OCI_INDEX, OCI_MANIFEST};
use crate::push::Pusher;

/// The layer type of a cosign signature.
pub const COSIGN_SIMPLESIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The annotation cosign puts the signature in.
pub const COSIGN_SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The artifact type of an SPDX SBOM.
pub const SPDX: &str = "application/spdx+json";
/// The OCI empty descriptor's media type.
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";

/// A manifest that refers to an image, with its blobs.
#[derive(Clone, Debug)]
pub struct Artifact {
    /// The manifest's exact bytes.
    pub manifest: Vec<u8>,
    /// `sha256:` of the bytes.
    pub digest: String,
    /// Its artifact type, when it declares one.
    pub artifact_type: Option<String>,
    /// Its config and layers.
    pub blobs: Vec<Blob>,
}

impl Artifact {
    fn of(doc: Value, artifact_type: Option<&str>, blobs: Vec<Blob>) -> Self {
        let manifest = serde_json::to_vec(&doc).expect("json");
        Artifact {
            digest: sha256_digest(&manifest),
            manifest,
            artifact_type: artifact_type.map(str::to_owned),
            blobs,
        }
    }

    /// Its descriptor as a referrers listing carries it (`artifactType` included).
    pub fn descriptor(&self) -> Value {
        let mut d = json!({
            "mediaType": OCI_MANIFEST,
            "digest": self.digest,
            "size": self.manifest.len(),
        });
        if let Some(t) = &self.artifact_type {
            d["artifactType"] = t.clone().into();
        }
        d
    }
}

/// The tag the referrers tag schema uses for `digest` (`sha256-<hex>`), with cosign's suffix
/// when one is given (`sha256-<hex>.sig`).
pub fn digest_tag(digest: &str, suffix: Option<&str>) -> String {
    let tag = digest.replacen(':', "-", 1);
    match suffix {
        Some(s) => format!("{tag}.{s}"),
        None => tag,
    }
}

/// A cosign signature of `image_digest` (as `docker_reference`), laid out as cosign writes it;
/// `seed` makes a different signature of the same image.
pub fn cosign_signature(image_digest: &str, docker_reference: &str, seed: u64) -> Artifact {
    let payload = json!({
        "critical": {
            "identity": {"docker-reference": docker_reference},
            "image": {"docker-manifest-digest": image_digest},
            "type": "cosign container image signature"
        },
        "optional": {"seed": seed}
    });
    let layer = Blob::new(COSIGN_SIMPLESIGNING, serde_json::to_vec(&payload).unwrap());
    let config = Blob::new(
        OCI_CONFIG,
        serde_json::to_vec(&json!({
            "architecture": "", "os": "", "config": {},
            "created": "0001-01-01T00:00:00Z",
            "rootfs": {"type": "layers", "diff_ids": [layer.digest]}
        }))
        .unwrap(),
    );
    let signature = base64::engine::general_purpose::STANDARD
        .encode(sha256_digest(format!("{seed}:{image_digest}").as_bytes()));
    let mut layer_descriptor = layer.descriptor();
    layer_descriptor["annotations"] = json!({ COSIGN_SIGNATURE_ANNOTATION: signature });
    let doc = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.descriptor(),
        "layers": [layer_descriptor],
    });
    Artifact::of(doc, None, vec![config, layer])
}

/// An SPDX SBOM of the manifest `subject` (a descriptor), as an OCI 1.1 artifact.
pub fn sbom(subject: &Value, seed: u64) -> Artifact {
    let document = json!({
        "spdxVersion": "SPDX-2.3",
        "name": format!("fixture-{seed}"),
        "describes": subject["digest"],
    });
    let layer = Blob::new(SPDX, serde_json::to_vec(&document).unwrap());
    let empty = Blob::new(OCI_EMPTY, b"{}".to_vec());
    let doc = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": SPDX,
        "config": empty.descriptor(),
        "layers": [layer.descriptor()],
        "subject": {"mediaType": subject["mediaType"], "digest": subject["digest"], "size": subject["size"]},
    });
    Artifact::of(doc, Some(SPDX), vec![empty, layer])
}

impl Pusher {
    /// Pushes an artifact's blobs, then its manifest under `reference` (a tag or its digest).
    pub async fn push_artifact(
        &self,
        repo: &str,
        reference: &str,
        artifact: &Artifact,
    ) -> anyhow::Result<String> {
        try_join_all(artifact.blobs.iter().map(|b| self.push_blob(repo, b))).await?;
        self.push_manifest(repo, reference, &artifact.manifest, OCI_MANIFEST)
            .await
    }

    /// The entries of the tag-schema index of `subject` in `repo` (none when there is none).
    pub async fn tag_schema(&self, repo: &str, subject: &str) -> anyhow::Result<Vec<Value>> {
        let tag = digest_tag(subject, None);
        if !self.manifest_exists(repo, &tag).await? {
            return Ok(Vec::new());
        }
        let index = self.get_manifest(repo, &tag, ACCEPT_ALL).await?.json()?;
        Ok(index["manifests"].as_array().cloned().unwrap_or_default())
    }

    /// Pushes an artifact that names `subject` by digest and adds it to the subject's tag-schema
    /// index (what the index lists already stays).
    pub async fn attach(
        &self,
        repo: &str,
        subject: &str,
        artifact: &Artifact,
    ) -> anyhow::Result<()> {
        self.push_artifact(repo, &artifact.digest, artifact).await?;
        let mut entries = self.tag_schema(repo, subject).await?;
        entries.push(artifact.descriptor());
        let index = serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries,
        }))?;
        self.push_manifest(repo, &digest_tag(subject, None), &index, OCI_INDEX)
            .await?;
        Ok(())
    }
}

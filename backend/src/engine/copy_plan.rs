//! Copy a list or an image to another repository or registry, byte for byte: the
//! digest at the destination is the source's. Every child and blob is made present there
//! (mounted, or streamed from another registry), then the source's exact bytes are PUT under the
//! destination's tag and extra tags. Incremental like a push: what the destination's current list
//! holds already is not copied again, and a destination that holds this very manifest gets only
//! its extra tags.

use std::time::Instant;

use super::current::Current;
use super::error::EngineError;
use super::plan::{ListDocument, Plan};
use super::resolve::Resolved;
use crate::registry::{ManifestBody, RegistryClient};
use crate::spec::CopySpec;

/// The plan of a copy of its source to its destination (a tag) and extra tags.
#[tracing::instrument(name = "plan", skip_all, fields(target = %copy.image))]
pub(crate) async fn copy_plan(
    client: &RegistryClient,
    copy: &CopySpec,
) -> Result<Plan, EngineError> {
    let CopySpec {
        source,
        image: destination,
        tags,
        ..
    } = copy;
    if destination.digest().is_some() {
        return Err(EngineError::Invalid(format!(
            "{destination} names a digest; copy to a tag (the digest stays the source's)"
        )));
    }
    let started = Instant::now();
    let requests_before = client.requests();
    let (manifest, current) = futures::try_join!(
        async {
            client
                .get_manifest(source)
                .await
                .map_err(|e| EngineError::registry(source, e))
        },
        Current::read(client, destination),
    )?;
    let resolved = match &manifest.body {
        ManifestBody::Index(index) => index
            .manifests
            .iter()
            .map(|d| Resolved {
                source: source.with_digest(&d.digest),
                descriptor: d.clone(),
                manifest: None,
                attestation: d.is_attestation(),
            })
            .collect(),
        ManifestBody::Image(_) => vec![Resolved {
            source: source.with_digest(&manifest.digest),
            descriptor: manifest.descriptor(),
            manifest: Some(manifest.clone()),
            attestation: false,
        }],
    };
    Ok(Plan {
        target: destination.clone(),
        tags: tags.to_vec(),
        document: ListDocument {
            bytes: manifest.bytes.clone(),
            digest: manifest.digest.clone(),
            media_type: manifest.media_type.clone(),
        },
        skipped: Vec::new(),
        pins: super::resolve::pin(source, &manifest.digest)
            .into_iter()
            .collect(),
        resolved,
        current,
        started,
        requests_before,
        origin: Some(source.with_digest(&manifest.digest)),
        inherited: std::collections::BTreeMap::new(),
    })
}

//! Distribution's notifications (Docker's registry and its descendants, GitLab's registry among
//! them): an envelope of events with `target.repository`, `target.tag`, `target.digest` and
//! `request.host`. Parses only; what is acted on is the pipeline's choice.

use serde::Deserialize;

use super::{RegistryEvent, too_many, unreadable};
use crate::service::ServiceError;

#[derive(Deserialize)]
struct Envelope {
    events: Vec<DistributionEvent>,
}

#[derive(Deserialize)]
struct DistributionEvent {
    #[serde(default)]
    id: String,
    #[serde(default)]
    action: String,
    target: Target,
    #[serde(default)]
    request: Request,
}

#[derive(Deserialize)]
struct Target {
    #[serde(default)]
    repository: String,
    #[serde(default)]
    tag: Option<String>,
    #[serde(default)]
    digest: Option<String>,
    #[serde(default, rename = "mediaType")]
    media_type: String,
}

#[derive(Deserialize, Default)]
struct Request {
    #[serde(default)]
    host: String,
}

/// Distribution's envelope as events: manifests only (a blob's push says nothing of a tag).
pub(super) fn parse(body: &[u8]) -> Result<Vec<RegistryEvent>, ServiceError> {
    let envelope: Envelope = serde_json::from_slice(body).map_err(|e| {
        unreadable(
            "events",
            format!("not distribution's envelope of events: {e}"),
        )
    })?;
    too_many(envelope.events.len())?;
    Ok(envelope
        .events
        .into_iter()
        .filter(|e| !e.target.repository.is_empty() && !e.request.host.is_empty())
        .map(|e| RegistryEvent {
            action: if is_manifest(&e.target.media_type) || e.target.tag.is_some() {
                e.action
            } else {
                format!("{}-blob", e.action)
            },
            id: e.id,
            registry: e.request.host,
            repository: e.target.repository,
            tag: e.target.tag,
            digest: e.target.digest,
        })
        .collect())
}

/// Whether a media type is a manifest's (an image's or a list's), not a blob's.
fn is_manifest(media_type: &str) -> bool {
    use crate::registry::media::{DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST};
    [DOCKER_MANIFEST, DOCKER_LIST, OCI_MANIFEST, OCI_INDEX].contains(&media_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distribution_s_envelope_reads_as_events_and_a_blob_push_is_not_a_manifest_push() {
        let body = br#"{"events":[
            {"id":"e1","action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json",
             "digest":"sha256:aa","repository":"demo-amd64","tag":"v0.2"},"request":{"host":"127.0.0.1:5000"}},
            {"id":"e2","action":"push","target":{"mediaType":"application/octet-stream",
             "digest":"sha256:bb","repository":"demo-amd64"},"request":{"host":"127.0.0.1:5000"}}
        ]}"#;

        let events = parse(body).unwrap();

        assert_eq!(events[0].action, "push");
        assert_eq!(events[0].tag.as_deref(), Some("v0.2"));
        assert_eq!(events[0].registry, "127.0.0.1:5000");
        assert_eq!(events[1].action, "push-blob");
        let err = parse(b"{\"events\": 3}").unwrap_err();
        assert!(err.to_string().contains("envelope"), "{err}");
    }
}

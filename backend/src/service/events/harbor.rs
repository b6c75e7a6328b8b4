//! Harbor's webhooks (`PUSH_ARTIFACT`, `DELETE_ARTIFACT`): `event_data.resources[]` with `digest`,
//! `tag` and `resource_url` (`host/namespace/name:tag`), `event_data.repository.repo_full_name`.
//! The registry's host is taken from `resource_url`. Parses only.

use serde::Deserialize;

use super::{RegistryEvent, too_many, unreadable};
use crate::service::ServiceError;

#[derive(Deserialize)]
struct Webhook {
    #[serde(rename = "type")]
    kind: String,
    event_data: EventData,
}

#[derive(Deserialize)]
struct EventData {
    #[serde(default)]
    resources: Vec<Resource>,
    repository: Repository,
}

#[derive(Deserialize)]
struct Resource {
    #[serde(default)]
    digest: Option<String>,
    #[serde(default)]
    tag: Option<String>,
    #[serde(default)]
    resource_url: String,
}

#[derive(Deserialize)]
struct Repository {
    repo_full_name: String,
}

/// A Harbor webhook as one event per artifact.
pub(super) fn parse(body: &[u8]) -> Result<Vec<RegistryEvent>, ServiceError> {
    let hook: Webhook = serde_json::from_slice(body)
        .map_err(|e| unreadable("event_data", format!("not Harbor's webhook payload: {e}")))?;
    too_many(hook.event_data.resources.len())?;
    let action = match hook.kind.as_str() {
        "PUSH_ARTIFACT" => "push".to_owned(),
        "DELETE_ARTIFACT" => "delete".to_owned(),
        other => other.to_ascii_lowercase(),
    };
    let repository = hook.event_data.repository.repo_full_name;
    Ok(hook
        .event_data
        .resources
        .into_iter()
        .filter_map(|r| {
            let (host, _) = r.resource_url.split_once('/')?;
            Some(RegistryEvent {
                id: String::new(),
                action: action.clone(),
                registry: host.to_owned(),
                repository: repository.clone(),
                // A push by digest names the digest as its "tag".
                tag: r.tag.filter(|t| !t.is_empty() && !t.starts_with("sha256:")),
                digest: r.digest,
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn harbor_s_push_reads_as_one_event_per_artifact_with_the_host_of_its_url() {
        let body = br#"{"type":"PUSH_ARTIFACT","occur_at":1586922308,"operator":"admin",
          "event_data":{"resources":[{"digest":"sha256:8a9e","tag":"latest",
            "resource_url":"hj.harbor.io/library/busybox:latest"}],
          "repository":{"date_created":1586922308,"name":"busybox","namespace":"library",
            "repo_full_name":"library/busybox","repo_type":"private"}}}"#;

        let events = parse(body).unwrap();

        assert_eq!(events.len(), 1);
        assert_eq!(events[0].action, "push");
        assert_eq!(events[0].registry, "hj.harbor.io");
        assert_eq!(events[0].repository, "library/busybox");
        assert_eq!(events[0].tag.as_deref(), Some("latest"));
        assert_eq!(events[0].digest.as_deref(), Some("sha256:8a9e"));
        let by_digest = br#"{"type":"DELETE_ARTIFACT","event_data":{"resources":[{"digest":"sha256:8a9e",
          "tag":"sha256:8a9e","resource_url":"h.io/p/x@sha256:8a9e"}],"repository":{"repo_full_name":"p/x"}}}"#;
        let deleted = parse(by_digest).unwrap();
        assert_eq!(
            (deleted[0].action.as_str(), deleted[0].tag.as_deref()),
            ("delete", None)
        );
        let err = parse(br#"{"type":"PUSH_ARTIFACT"}"#).unwrap_err();
        assert!(err.to_string().contains("event_data"), "{err}");
    }
}

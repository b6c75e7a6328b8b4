//! Harbor's webhooks, in either payload format a webhook policy may choose
//! (https://goharbor.io/docs/main/working-with-projects/project-configuration/configure-webhooks/):
//! *Default* — `type` (`PUSH_ARTIFACT`, `DELETE_ARTIFACT`, …) and `event_data` — or *CloudEvents*
//! — `type` (`harbor.artifact.pushed`, `harbor.artifact.deleted`, …), `id`, and the same
//! content under `data`. Either holds `resources[]` with `digest`, `tag` and `resource_url`
//! (`host/namespace/name:tag`, or `…@digest` for a push by digest, whose `tag` is then the
//! digest) and `repository.repo_full_name` (`namespace/name`). The registry's host is taken from
//! `resource_url`. Another event (a pull, a scan, a quota warning, a replication, a retention
//! run: some carry no repository) is one event of its own kind, which the pipeline ignores.
//! Parses only.

use serde::Deserialize;

use super::{RegistryEvent, too_many, unreadable};
use crate::service::ServiceError;

#[derive(Deserialize)]
struct Webhook {
    #[serde(rename = "type")]
    kind: String,
    /// CloudEvents' id of the delivery (the Default format has none).
    #[serde(default)]
    id: Option<String>,
    #[serde(alias = "data")]
    event_data: Option<EventData>,
}

#[derive(Deserialize)]
struct EventData {
    #[serde(default)]
    resources: Vec<Resource>,
    repository: Option<Repository>,
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

/// A Harbor webhook as one event per artifact (another kind of event: one, ignored).
pub(super) fn parse(body: &[u8]) -> Result<Vec<RegistryEvent>, ServiceError> {
    let hook: Webhook = serde_json::from_slice(body)
        .map_err(|e| unreadable("event_data", format!("not Harbor's webhook payload: {e}")))?;
    let action = match hook.kind.as_str() {
        "PUSH_ARTIFACT" | "harbor.artifact.pushed" => "push",
        "DELETE_ARTIFACT" | "harbor.artifact.deleted" => "delete",
        other => {
            return Ok(vec![RegistryEvent {
                id: hook.id.unwrap_or_default(),
                action: other.to_ascii_lowercase(),
                registry: String::new(),
                repository: String::new(),
                tag: None,
                digest: None,
            }]);
        }
    };
    let missing = || {
        unreadable(
            "event_data",
            "Harbor's artifact event has no event_data.repository (nor data.repository)",
        )
    };
    let data = hook.event_data.ok_or_else(missing)?;
    too_many(data.resources.len())?;
    let repository = data.repository.ok_or_else(missing)?.repo_full_name;
    let id = hook.id.unwrap_or_default();
    Ok(data
        .resources
        .into_iter()
        .enumerate()
        .filter_map(|(n, r)| {
            let (host, _) = r.resource_url.split_once('/')?;
            Some(RegistryEvent {
                id: match (id.is_empty(), n) {
                    (true, _) => String::new(),
                    (false, 0) => id.clone(),
                    (false, n) => format!("{id}#{n}"),
                },
                action: action.to_owned(),
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

    #[test]
    fn harbor_s_cloudevents_format_reads_the_same_with_its_id() {
        // The documentation's CloudEvents example of a push by digest.
        let body = br#"{"specversion":"1.0","id":"66e18103-09c1-41f6-982f-37df223f3eeb",
          "requestid":"51c0b694-0168-4f3c-b0db-282565455d7b","source":"/projects/2/webhook/policies/15",
          "type":"harbor.artifact.pushed","datacontenttype":"application/json","time":"2023-04-03T06:04:46Z",
          "data":{"resources":[{"digest":"sha256:954b","tag":"sha256:954b",
            "resource_url":"localhost/harbor/alpine@sha256:954b"}],
          "repository":{"date_created":1680501893,"name":"alpine","namespace":"harbor",
            "repo_full_name":"harbor/alpine","repo_type":"private"}},"operator":"harbor-jobservice"}"#;

        let events = parse(body).unwrap();

        assert_eq!(events.len(), 1);
        let e = &events[0];
        assert_eq!(
            (e.action.as_str(), e.registry.as_str()),
            ("push", "localhost")
        );
        assert_eq!(e.repository, "harbor/alpine");
        assert_eq!(
            (e.tag.as_deref(), e.digest.as_deref()),
            (None, Some("sha256:954b"))
        );
        assert_eq!(e.id, "66e18103-09c1-41f6-982f-37df223f3eeb");
    }

    #[test]
    fn harbor_s_other_events_are_one_event_of_their_kind_even_without_a_repository() {
        let replication = br#"{"type":"REPLICATION","occur_at":1680501904,"operator":"MANUAL",
          "event_data":{"replication":{"harbor_hostname":"localhost","job_status":"Success"}}}"#;

        let events = parse(replication).unwrap();

        assert_eq!(events.len(), 1);
        assert_eq!(events[0].action, "replication");
        let scan = br#"{"type":"harbor.scan.completed","id":"64bce2fe","data":{"resources":[
          {"digest":"sha256:954b","resource_url":"localhost/harbor/alpine@sha256:954b"}],
          "repository":{"name":"alpine","namespace":"harbor","repo_full_name":"harbor/alpine"}}}"#;
        assert_eq!(parse(scan).unwrap()[0].action, "harbor.scan.completed");
    }
}

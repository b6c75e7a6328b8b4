//! Docker Hub's webhooks: `push_data.tag` (and `pushed_at`), `repository.repo_name`. The registry
//! is `docker.io`; an official image's bare name is `library/<name>`. Parses only.

use serde::Deserialize;

use super::{RegistryEvent, unreadable};
use crate::model::reference::DOCKER_HUB;
use crate::service::ServiceError;

#[derive(Deserialize)]
struct Webhook {
    push_data: PushData,
    repository: Repository,
}

#[derive(Deserialize)]
struct PushData {
    #[serde(default)]
    tag: String,
    #[serde(default)]
    pushed_at: Option<serde_json::Number>,
}

#[derive(Deserialize)]
struct Repository {
    repo_name: String,
}

/// A Docker Hub webhook as one push.
pub(super) fn parse(body: &[u8]) -> Result<Vec<RegistryEvent>, ServiceError> {
    let hook: Webhook = serde_json::from_slice(body).map_err(|e| {
        unreadable(
            "push_data",
            format!("not Docker Hub's webhook payload: {e}"),
        )
    })?;
    let name = hook.repository.repo_name;
    let repository = if name.contains('/') {
        name
    } else {
        format!("library/{name}")
    };
    let tag = Some(hook.push_data.tag).filter(|t| !t.is_empty());
    Ok(vec![RegistryEvent {
        // Docker Hub names no digest: the time of the push tells one push of a tag from the next.
        id: match hook.push_data.pushed_at {
            Some(at) => format!(
                "dockerhub:{repository}:{}@{at}",
                tag.as_deref().unwrap_or("")
            ),
            None => String::new(),
        },
        action: "push".to_owned(),
        registry: DOCKER_HUB.to_owned(),
        repository,
        tag,
        digest: None,
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_docker_hub_push_reads_as_a_push_to_docker_io_named_by_its_time() {
        let body = br#"{"callback_url":"https://registry.hub.docker.com/u/svendowideit/testhook/hook/2141/",
          "push_data":{"pushed_at":1417566161,"pusher":"trustedbuilder","tag":"latest"},
          "repository":{"name":"testhook","namespace":"svendowideit","repo_name":"svendowideit/testhook"}}"#;

        let events = parse(body).unwrap();

        assert_eq!(events[0].registry, "docker.io");
        assert_eq!(events[0].repository, "svendowideit/testhook");
        assert_eq!(events[0].tag.as_deref(), Some("latest"));
        assert!(events[0].id.ends_with("@1417566161"), "{}", events[0].id);
        let official = br#"{"push_data":{"tag":"1"},"repository":{"repo_name":"busybox"}}"#;
        assert_eq!(parse(official).unwrap()[0].repository, "library/busybox");
        let err = parse(b"{}").unwrap_err();
        assert!(err.to_string().contains("push_data"), "{err}");
    }
}

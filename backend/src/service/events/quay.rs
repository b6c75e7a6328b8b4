//! Quay's repository notifications (`repo_push`): `docker_url` (`host/namespace/name`),
//! `repository` (`namespace/name`), `updated_tags`: one push per tag. Parses only.

use serde::Deserialize;

use super::{RegistryEvent, too_many, unreadable};
use crate::service::ServiceError;

#[derive(Deserialize)]
struct Notification {
    repository: String,
    docker_url: String,
    #[serde(default)]
    updated_tags: Vec<String>,
}

/// A Quay `repo_push` notification as one push per updated tag.
pub(super) fn parse(body: &[u8]) -> Result<Vec<RegistryEvent>, ServiceError> {
    let note: Notification = serde_json::from_slice(body).map_err(|e| {
        unreadable(
            "docker_url",
            format!("not Quay's repo_push notification: {e}"),
        )
    })?;
    too_many(note.updated_tags.len())?;
    let Some((host, _)) = note.docker_url.split_once('/') else {
        return Err(unreadable("docker_url", "names no host/namespace/name"));
    };
    Ok(note
        .updated_tags
        .iter()
        .map(|tag| RegistryEvent {
            id: String::new(),
            action: "push".to_owned(),
            registry: host.to_owned(),
            repository: note.repository.clone(),
            tag: Some(tag.clone()),
            digest: None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quay_push_reads_as_one_push_per_updated_tag() {
        let body = br#"{"repository":"mynamespace/repository","namespace":"mynamespace",
          "name":"repository","docker_url":"quay.io/mynamespace/repository",
          "homepage":"https://quay.io/repository/mynamespace/repository",
          "updated_tags":["latest","v1"]}"#;

        let events = parse(body).unwrap();

        assert_eq!(events.len(), 2);
        assert_eq!(events[1].registry, "quay.io");
        assert_eq!(events[1].repository, "mynamespace/repository");
        assert_eq!(events[1].tag.as_deref(), Some("v1"));
        let err = parse(br#"{"repository":"a/b","docker_url":"nohost"}"#).unwrap_err();
        assert!(err.to_string().contains("host"), "{err}");
    }
}

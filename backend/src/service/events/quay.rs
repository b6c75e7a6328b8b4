//! Quay's repository notifications (`repo_push`), as https://docs.quay.io/guides/notifications.html
//! shows them: `name`, `repository` (`namespace/name`), `namespace`, `docker_url`
//! (`host/namespace/name`), `homepage`, and `updated_tags` — a list of tags, or (in the page's
//! earlier version, and Quay's older payloads) an object from each tag to an image id: one push
//! per tag either way. Parses only.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{RegistryEvent, too_many, unreadable};
use crate::service::ServiceError;

#[derive(Deserialize)]
struct Notification {
    repository: String,
    docker_url: String,
    #[serde(default)]
    updated_tags: UpdatedTags,
}

/// The tags a push updated: named, or each named with the image it now holds.
#[derive(Deserialize)]
#[serde(untagged)]
enum UpdatedTags {
    Names(Vec<String>),
    Images(BTreeMap<String, serde_json::Value>),
}

impl Default for UpdatedTags {
    fn default() -> Self {
        Self::Names(Vec::new())
    }
}

impl UpdatedTags {
    fn into_names(self) -> Vec<String> {
        match self {
            Self::Names(names) => names,
            Self::Images(images) => images.into_keys().collect(),
        }
    }
}

/// A Quay `repo_push` notification as one push per updated tag.
pub(super) fn parse(body: &[u8]) -> Result<Vec<RegistryEvent>, ServiceError> {
    let note: Notification = serde_json::from_slice(body).map_err(|e| {
        unreadable(
            "docker_url",
            format!("not Quay's repo_push notification: {e}"),
        )
    })?;
    let tags = note.updated_tags.into_names();
    too_many(tags.len())?;
    let Some((host, _)) = note.docker_url.split_once('/') else {
        return Err(unreadable("docker_url", "names no host/namespace/name"));
    };
    Ok(tags
        .into_iter()
        .map(|tag| RegistryEvent {
            id: String::new(),
            action: "push".to_owned(),
            registry: host.to_owned(),
            repository: note.repository.clone(),
            tag: Some(tag),
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

    #[test]
    fn quay_s_earlier_updated_tags_object_reads_as_the_same_pushes() {
        let body = br#"{"repository":"mynamespace/repository","namespace":"mynamespace",
          "name":"repository","docker_url":"quay.io/mynamespace/repository",
          "homepage":"https://quay.io/repository/mynamespace/repository",
          "updated_tags":{"latest":"b750fe79269d2ec9a3c593ef05b4332b1d1a02a62b4accb2c21d589ff2f5f2dc"}}"#;

        let events = parse(body).unwrap();

        assert_eq!(events.len(), 1);
        assert_eq!(events[0].tag.as_deref(), Some("latest"));
        assert_eq!(events[0].repository, "mynamespace/repository");
    }
}

//! GitHub's `registry_package` and `package` webhooks for GHCR (one per manifest version):
//! `action` (`published`, `updated`), `registry_package.namespace` and `.name`,
//! `package_version.container_metadata.tag.{name,digest}` and `package_version.version` (the
//! digest). The registry is `ghcr.io`. Parses only; the signature is checked before.

use serde::Deserialize;

use super::{RegistryEvent, unreadable};
use crate::service::ServiceError;

/// GHCR's host.
pub(super) const GHCR: &str = "ghcr.io";

#[derive(Deserialize)]
struct Webhook {
    action: String,
    #[serde(alias = "package")]
    registry_package: Package,
}

#[derive(Deserialize)]
struct Package {
    name: String,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    owner: Option<Owner>,
    #[serde(default)]
    package_type: String,
    #[serde(default)]
    package_version: Option<Version>,
}

#[derive(Deserialize)]
struct Owner {
    login: String,
}

#[derive(Deserialize)]
struct Version {
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    container_metadata: Option<Metadata>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    tag: Option<Tag>,
}

#[derive(Deserialize)]
struct Tag {
    #[serde(default)]
    name: String,
    #[serde(default)]
    digest: Option<String>,
}

/// A GitHub package webhook as one event (none for a package that is not a container's).
pub(super) fn parse(
    body: &[u8],
    delivery: Option<&str>,
) -> Result<Vec<RegistryEvent>, ServiceError> {
    let hook: Webhook = serde_json::from_slice(body).map_err(|e| {
        unreadable(
            "registry_package",
            format!("not GitHub's package webhook: {e}"),
        )
    })?;
    let package = hook.registry_package;
    if !package.package_type.eq_ignore_ascii_case("container") {
        return Ok(Vec::new());
    }
    let Some(namespace) = package.namespace.or(package.owner.map(|o| o.login)) else {
        return Err(unreadable("registry_package.namespace", "names no owner"));
    };
    let version = package.package_version;
    let tag = version
        .as_ref()
        .and_then(|v| v.container_metadata.as_ref()?.tag.as_ref());
    let digest = tag
        .and_then(|t| t.digest.clone())
        .or_else(|| version.as_ref()?.version.clone());
    Ok(vec![RegistryEvent {
        id: delivery.unwrap_or_default().to_owned(),
        action: match hook.action.as_str() {
            "published" | "updated" => "push".to_owned(),
            other => other.to_owned(),
        },
        registry: GHCR.to_owned(),
        repository: format!("{namespace}/{}", package.name).to_ascii_lowercase(),
        tag: tag.map(|t| t.name.clone()).filter(|t| !t.is_empty()),
        digest,
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ghcr_publish_reads_as_a_push_of_its_tag_and_another_package_as_nothing() {
        let body = br#"{"action":"published","registry_package":{"id":1,"name":"Hello",
          "namespace":"Octo-Org","package_type":"CONTAINER","package_version":{"id":2,
          "version":"sha256:51e5","container_metadata":{"tag":{"name":"v1","digest":"sha256:51e5"}}}}}"#;

        let events = parse(body, Some("d-1")).unwrap();

        assert_eq!(events[0].id, "d-1");
        assert_eq!(events[0].registry, "ghcr.io");
        assert_eq!(events[0].repository, "octo-org/hello");
        assert_eq!(events[0].action, "push");
        assert_eq!(events[0].tag.as_deref(), Some("v1"));
        assert_eq!(events[0].digest.as_deref(), Some("sha256:51e5"));
        let npm = br#"{"action":"published","package":{"name":"x","namespace":"o","package_type":"npm"}}"#;
        assert!(parse(npm, None).unwrap().is_empty());
    }
}

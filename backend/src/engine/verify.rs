//! A list checked the way its consumers use it: every platform it names is resolved with
//! containerd's matcher (`model::platform::matcher`, Windows builds included) against the list as
//! written, and must pick its own entry — not another, not nothing. A platform written in a way no
//! consumer compares (`x86_64`, `Linux`) is reported too. Then each child is checked as a pull
//! checks it (`verify_pull`).

use serde::Serialize;

use super::error::EngineError;
use super::verify_pull::{EntryCheck, check_entries};
use crate::model::Reference;
use crate::model::platform::matcher::{is_canonical, pick as matcher_pick};
use crate::model::{Digest, Platform};
use crate::registry::{Descriptor, ManifestBody, RegistryClient};

/// How one platform of a list resolves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlatformCheck {
    /// The platform as the list writes it.
    pub platform: String,
    /// Its entry's position in the list (0-based).
    pub entry: usize,
    /// Its entry's digest.
    pub digest: Digest,
    /// What a consumer on that platform pulls, if anything.
    pub resolves_to: Option<Digest>,
    /// What is wrong, if anything.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// A list, checked.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    /// The reference checked.
    pub name: String,
    /// The list's digest.
    pub digest: Digest,
    /// One check per platform the list names.
    pub platforms: Vec<PlatformCheck>,
    /// One check per entry: what a pull of it meets.
    pub entries: Vec<EntryCheck>,
    /// Whether each image's config and layers were asked for too.
    pub deep: bool,
}

impl Verification {
    /// Whether every platform resolves to its own entry and every entry pulls.
    pub fn ok(&self) -> bool {
        self.platforms.iter().all(|c| c.problem.is_none())
            && self.entries.iter().all(|e| e.problems.is_empty())
    }
}

/// Checks every platform entry of a list's descriptors (attestations are not pulled by platform).
pub fn check(descriptors: &[Descriptor]) -> Vec<PlatformCheck> {
    let platforms: Vec<Option<&Platform>> = descriptors
        .iter()
        .map(|d| d.platform.as_ref().filter(|_| !d.is_attestation()))
        .collect();
    platforms
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.map(|p| (i, p)))
        .map(|(i, platform)| {
            let picked = matcher_pick(&platform.clone().normalized(), &platforms);
            let problem = if !is_canonical(platform) {
                Some(format!(
                    "written {platform}, which consumers do not match: write {}",
                    platform.clone().normalized()
                ))
            } else {
                match picked {
                    None => Some(format!("a consumer on {platform} resolves to nothing")),
                    Some(j) if j != i => Some(format!(
                        "a consumer on {platform} pulls entry {j} ({}) instead",
                        descriptors[j].digest
                    )),
                    Some(_) => None,
                }
            };
            PlatformCheck {
                platform: platform.to_string(),
                entry: i,
                digest: descriptors[i].digest.clone(),
                resolves_to: picked.map(|j| descriptors[j].digest.clone()),
                problem,
            }
        })
        .collect()
}

/// Reads the list at `reference` (one request); `use_` says, for an image, what needs a list.
async fn read_list(
    client: &RegistryClient,
    reference: &Reference,
    use_: &str,
) -> Result<(Digest, Vec<Descriptor>), EngineError> {
    let manifest = client
        .get_manifest(reference)
        .await
        .map_err(|e| EngineError::registry(reference, e))?;
    match manifest.body {
        ManifestBody::Index(index) => Ok((manifest.digest, index.manifests)),
        ManifestBody::Image(_) => Err(EngineError::Invalid(format!(
            "{reference} is a single image, not a list: {use_}"
        ))),
    }
}

/// The child of the list at `reference` that a consumer on `platform` pulls (one request).
pub async fn pick(
    client: &RegistryClient,
    reference: &Reference,
    platform: &Platform,
) -> Result<Digest, EngineError> {
    let (_, manifests) = read_list(client, reference, "--platform picks a list's child").await?;
    let platforms: Vec<Option<&Platform>> = manifests
        .iter()
        .map(|d| d.platform.as_ref().filter(|_| !d.is_attestation()))
        .collect();
    matcher_pick(platform, &platforms)
        .map(|i| manifests[i].digest.clone())
        .ok_or_else(|| {
            EngineError::Invalid(format!(
                "{reference} has no child a {platform} machine runs"
            ))
        })
}

/// Reads a list and checks it: how each platform resolves, and what a pull of each child meets
/// (two requests per image child, one per other child; `deep`, one more per config and layer).
pub async fn verify(
    client: &RegistryClient,
    reference: &Reference,
    deep: bool,
) -> Result<Verification, EngineError> {
    let (digest, manifests) = read_list(client, reference, "there is nothing to resolve").await?;
    let list = reference.with_digest(&digest);
    Ok(Verification {
        name: reference.to_string(),
        platforms: check(&manifests),
        entries: check_entries(client, &list, &manifests, deep).await?,
        digest,
        deep,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u8, platform: Platform) -> Descriptor {
        Descriptor {
            media_type: crate::registry::media::OCI_MANIFEST.into(),
            digest: Digest::of(&[n]),
            size: 1,
            urls: vec![],
            platform: Some(platform),
            annotations: Default::default(),
            artifact_type: None,
        }
    }

    fn p(s: &str) -> Platform {
        Platform::parse(s).unwrap()
    }

    #[test]
    fn a_list_where_every_platform_picks_its_own_entry_passes() {
        let list = [
            entry(1, p("linux/amd64")),
            entry(2, p("linux/arm64/v8")),
            entry(3, p("linux/amd64/v3")),
        ];
        let checks = check(&list);
        assert_eq!(checks.len(), 3);
        assert!(checks.iter().all(|c| c.problem.is_none()), "{checks:#?}");
        assert_eq!(checks[2].resolves_to, Some(Digest::of(&[3])));
    }

    #[test]
    fn a_platform_shadowed_by_an_earlier_entry_or_written_oddly_is_named() {
        let odd = Platform {
            os: "Linux".into(),
            architecture: "x86_64".into(),
            ..Platform::default()
        };
        let list = [
            entry(1, p("linux/arm/v7")),
            entry(2, p("linux/arm/v7")),
            entry(3, odd),
        ];
        let checks = check(&list);
        assert!(checks[0].problem.is_none());
        let shadowed = checks[1].problem.as_deref().unwrap();
        assert!(shadowed.contains("pulls entry 0"), "{shadowed}");
        let written = checks[2].problem.as_deref().unwrap();
        assert!(written.contains("write linux/amd64"), "{written}");
    }
}

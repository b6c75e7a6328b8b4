//! manifest-tool's from-args form: platforms, a source template and a target, expanded to a spec.
//!
//! `--platforms linux/amd64,linux/arm/v7 --template reg/demo-OS-ARCHVARIANT:v1 --target reg/demo:v1`
//! gives one source per platform: in the template, `OS`, `ARCH` and `VARIANT` are replaced (in that
//! order) by the platform's parts as written, `VARIANT` by nothing when the platform has none.

use std::collections::BTreeMap;

use super::de::{duplicate_of, estimate_list_bytes, too_large};
use super::targets::repeated_repository;
use super::{ListSpec, PlatformSpec, SourceEntry, SpecError};
use crate::model::Platform;
use crate::model::reference::check_tag;
use crate::model::{MAX_LIST_BYTES, Reference};

const PLACEHOLDERS: [&str; 3] = ["OS", "ARCH", "VARIANT"];

/// The from-args form of a spec, as the command line gives it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FromArgs {
    /// Comma-separated `os/arch[/variant]` list.
    pub platforms: String,
    /// The source image, with `OS`, `ARCH` and `VARIANT` placeholders.
    pub template: String,
    /// Where the list is pushed (a tag).
    pub target: String,
    /// Further targets the same list is published to (`--target` given again).
    pub more_targets: Vec<String>,
    /// Extra tags (each may itself be comma-separated).
    pub tags: Vec<String>,
}

impl FromArgs {
    /// Expands to a validated spec; errors name the flag at fault.
    pub fn to_spec(&self) -> Result<ListSpec, SpecError> {
        let mut more_targets = vec![target(&self.target)?];
        for text in &self.more_targets {
            let next = target(text)?;
            if let Some(repeated) = repeated_repository(&more_targets, &next, "--target") {
                return Err(SpecError::in_field("--target", repeated));
            }
            more_targets.push(next);
        }
        let image = more_targets.remove(0);
        let mut tags: Vec<String> = Vec::new();
        for tag in self.tags.iter().flat_map(|t| t.split(',')).map(str::trim) {
            if tag.is_empty() {
                continue;
            }
            check_tag(tag).map_err(|e| SpecError::in_field("--tags", e))?;
            if Some(tag) != image.tag() && !tags.iter().any(|t| t == tag) {
                tags.push(tag.to_owned());
            }
        }
        crate::model::reference::check_tag_count(tags.len())
            .map_err(|e| SpecError::in_field("--tags", e))?;
        let template = self.template.trim();
        if template.is_empty() {
            return Err(SpecError::in_field("--template", "the template is empty"));
        }
        let platforms: Vec<&str> = self
            .platforms
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        if platforms.is_empty() {
            return Err(SpecError::in_field(
                "--platforms",
                "no platform given; expected os/arch[/variant],… e.g. linux/amd64,linux/arm64",
            ));
        }
        if platforms.len() > 1 && !PLACEHOLDERS.iter().any(|p| template.contains(p)) {
            return Err(SpecError::in_field(
                "--template",
                format!(
                    "the template \"{template}\" has none of OS, ARCH, VARIANT, so every platform \
                     would get the same image"
                ),
            ));
        }
        let mut manifests: Vec<SourceEntry> = Vec::new();
        for text in platforms {
            let platform =
                Platform::parse(text).map_err(|e| SpecError::in_field("--platforms", e))?;
            let source = expand(template, text);
            let image = Reference::parse(&source).map_err(|e| {
                SpecError::in_field("--template", format!("for platform {text}: {e}"))
            })?;
            let spec = PlatformSpec::from(platform).normalized();
            if let Some(duplicate) = duplicate_of(&manifests, &spec) {
                let message = format!("platform \"{text}\" is given twice: {duplicate}");
                return Err(SpecError::in_field("--platforms", message));
            }
            manifests.push(SourceEntry {
                image,
                platform: Some(spec),
                annotations: BTreeMap::new(),
            });
        }
        let spec = ListSpec {
            image,
            more_targets,
            tags,
            annotations: BTreeMap::new(),
            manifests,
        };
        let bytes = estimate_list_bytes(&spec);
        if bytes > MAX_LIST_BYTES {
            return Err(SpecError::in_field(
                "--platforms",
                too_large(bytes, spec.manifests.len()),
            ));
        }
        Ok(spec)
    }
}

/// A `--target`: a reference that names a tag.
fn target(text: &str) -> Result<Reference, SpecError> {
    let image = Reference::parse(text.trim())
        .map_err(|e| SpecError::in_field("--target", e.to_string()))?;
    if image.digest().is_some() {
        return Err(SpecError::in_field(
            "--target",
            format!(
                "the target \"{}\" names a digest; a list is pushed to a tag, so write name:tag",
                text.trim()
            ),
        ));
    }
    Ok(image)
}

/// manifest-tool's rule: replace `OS`, then `ARCH`, then `VARIANT` with the parts as written.
fn expand(template: &str, platform: &str) -> String {
    let mut parts = platform.split('/');
    let os = parts.next().unwrap_or_default();
    let os = os.split_once('(').map_or(os, |(os, _)| os);
    let arch = parts.next().unwrap_or_default();
    let variant = parts.next().unwrap_or_default();
    template
        .replace("OS", os)
        .replace("ARCH", arch)
        .replace("VARIANT", variant)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(platforms: &str, template: &str) -> FromArgs {
        FromArgs {
            platforms: platforms.to_owned(),
            template: template.to_owned(),
            target: "reg.example:5000/demo:v0.2".to_owned(),
            more_targets: vec![],
            tags: vec![],
        }
    }

    #[test]
    fn each_platform_expands_the_template_into_one_source() {
        let a = args(
            "linux/amd64, linux/s390x,linux/arm/v7",
            "reg.example:5000/demo-OS-ARCHVARIANT:v0.2",
        );

        let spec = a.to_spec().unwrap();

        let images: Vec<String> = spec.manifests.iter().map(|m| m.image.to_string()).collect();
        assert_eq!(
            images,
            [
                "reg.example:5000/demo-linux-amd64:v0.2",
                "reg.example:5000/demo-linux-s390x:v0.2",
                "reg.example:5000/demo-linux-armv7:v0.2",
            ]
        );
        assert_eq!(spec.image.to_string(), "reg.example:5000/demo:v0.2");
    }

    #[test]
    fn a_repeated_target_is_one_more_destination_in_a_repository_of_its_own() {
        let mut a = args("linux/amd64", "r.io/d:ARCH");
        a.more_targets = vec!["ghcr.io/o/demo:v0.2".to_owned()];

        let spec = a.to_spec().unwrap();

        let targets: Vec<String> = spec.targets().iter().map(|t| t.to_string()).collect();
        assert_eq!(
            targets,
            ["reg.example:5000/demo:v0.2", "ghcr.io/o/demo:v0.2"]
        );
        a.more_targets
            .push("reg.example:5000/demo:latest".to_owned());
        let err = a.to_spec().unwrap_err();
        assert_eq!(err.field.as_deref(), Some("--target"));
        assert!(err.message.contains("repository of --target[0]"), "{err}");
    }

    #[test]
    fn entries_carry_the_parsed_normalised_platform() {
        let spec = args("linux/x86_64,linux/arm", "r.io/d:ARCH")
            .to_spec()
            .unwrap();

        let platforms: Vec<String> = spec
            .manifests
            .iter()
            .map(|m| m.platform.as_ref().unwrap().complete().unwrap().to_string())
            .collect();

        assert_eq!(platforms, ["linux/amd64", "linux/arm/v7"]);
        // The template takes the parts as written, not normalised.
        assert_eq!(spec.manifests[0].image.tag(), Some("x86_64"));
    }

    #[test]
    fn a_platform_without_variant_replaces_variant_by_nothing() {
        let spec = args("linux/arm64", "r.io/d:ARCH-VARIANT")
            .to_spec()
            .unwrap();

        assert_eq!(spec.manifests[0].image.tag(), Some("arm64-"));
    }

    #[test]
    fn tags_are_checked_split_on_commas_and_deduplicated() {
        let mut a = args("linux/amd64", "r.io/d:ARCH");
        a.tags = vec![
            "v0, latest".to_owned(),
            "latest".to_owned(),
            "v0.2".to_owned(),
        ];

        let spec = a.to_spec().unwrap();

        assert_eq!(spec.tags, ["v0", "latest"]);
        a.tags = vec!["-bad".to_owned()];
        let err = a.to_spec().unwrap_err();
        assert_eq!(err.field.as_deref(), Some("--tags"));
        assert!(err.message.contains("-bad"), "{err}");
    }

    #[test]
    fn a_platform_given_twice_under_two_spellings_is_rejected() {
        let err = args("linux/amd64,linux/arm64,linux/x86_64", "r.io/d:ARCH")
            .to_spec()
            .unwrap_err();

        assert_eq!(err.field.as_deref(), Some("--platforms"));
        assert!(
            err.message.contains("manifests[0] and manifests[2]"),
            "{err}"
        );
        assert!(err.message.contains("linux/amd64"), "{err}");
    }

    #[test]
    fn a_malformed_platform_names_the_platforms_flag() {
        for bad in ["linux", "linux/amd64/v3/x", "/amd64", "linux/arm64/v7"] {
            let err = args(bad, "r.io/d:ARCH").to_spec().unwrap_err();

            assert_eq!(err.field.as_deref(), Some("--platforms"), "{bad}");
        }
        let err = args(" , ", "r.io/d:ARCH").to_spec().unwrap_err();
        assert!(err.message.contains("no platform"), "{err}");
    }

    #[test]
    fn a_template_giving_an_invalid_reference_names_the_template_and_platform() {
        let err = args("Linux/amd64", "r.io/d-OS:v1").to_spec().unwrap_err();

        assert_eq!(err.field.as_deref(), Some("--template"));
        assert!(err.message.contains("Linux/amd64"), "{err}");
        assert!(err.message.contains("invalid reference"), "{err}");
    }

    #[test]
    fn a_template_without_placeholders_for_several_platforms_is_rejected() {
        let err = args("linux/amd64,linux/arm64", "r.io/d:v1")
            .to_spec()
            .unwrap_err();

        assert_eq!(err.field.as_deref(), Some("--template"));
        assert!(args("linux/amd64", "r.io/d:v1").to_spec().is_ok());
    }

    #[test]
    fn a_digest_or_invalid_target_names_the_target_flag() {
        let mut a = args("linux/amd64", "r.io/d:ARCH");
        a.target = format!("r.io/d@sha256:{}", "a".repeat(64));

        let err = a.to_spec().unwrap_err();

        assert_eq!(err.field.as_deref(), Some("--target"));
        assert!(err.message.contains("tag"), "{err}");
        a.target = "R.io/D".to_owned();
        assert_eq!(a.to_spec().unwrap_err().field.as_deref(), Some("--target"));
    }

    #[test]
    fn os_version_in_parentheses_is_kept_out_of_the_template() {
        let spec = args("windows(10.0.17763)/amd64", "r.io/d:OS-ARCH")
            .to_spec()
            .unwrap();

        let entry = &spec.manifests[0];
        assert_eq!(entry.image.tag(), Some("windows-amd64"));
        let platform = entry.platform.as_ref().unwrap();
        assert_eq!(platform.os_version.as_deref(), Some("10.0.17763"));
    }
}

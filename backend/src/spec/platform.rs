//! Platforms as a spec gives them: any field may be left out and is then read from the image
//! config. Completing such a partial platform from a config, and its normalisation, are here; the
//! complete [`Platform`] and its rules are in `model::platform`.

use serde::{Deserialize, Serialize};

use crate::model::Platform;
use crate::model::platform::non_empty;
use crate::model::platform::normalize::{check_variant, normalize_arch, normalize_os};

/// A platform as a spec gives it: any field may be left out and is then read from the image config.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformSpec {
    /// CPU architecture.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::normalize::de_word"
    )]
    pub architecture: Option<String>,
    /// Operating system.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::normalize::de_word"
    )]
    pub os: Option<String>,
    /// Operating system version (`os.version`, also spelt `osversion`).
    #[serde(
        rename = "os.version",
        alias = "osversion",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::normalize::de_text"
    )]
    pub os_version: Option<String>,
    /// Operating system features (`os.features`, also spelt `osfeatures`).
    #[serde(
        rename = "os.features",
        alias = "osfeatures",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_features: Option<Vec<String>>,
    /// CPU variant.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::normalize::de_text"
    )]
    pub variant: Option<String>,
    /// CPU features.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<Vec<String>>,
}

impl PlatformSpec {
    /// The complete platform, normalised, when both architecture and os are given.
    pub fn complete(&self) -> Option<Platform> {
        let architecture = self.architecture.clone().filter(|a| !a.is_empty())?;
        let os = self.os.clone().filter(|o| !o.is_empty())?;
        Some(
            Platform {
                architecture,
                os,
                os_version: self.os_version.clone(),
                os_features: self.os_features.clone().unwrap_or_default(),
                variant: self.variant.clone(),
                features: self.features.clone().unwrap_or_default(),
            }
            .normalized(),
        )
    }

    /// The spec's fields, with the missing ones taken from the image config; normalised.
    ///
    /// A variant (or OS version and features) from the config is only taken when the spec does not
    /// name a different architecture (or OS).
    pub fn fill_from(&self, config: &Platform) -> Platform {
        let spec = self.clone().normalized();
        let config = config.clone();
        let (config_arch, _) = normalize_arch(&config.architecture, None);
        let config_os = normalize_os(&config.os);
        let same_arch = spec.architecture.as_ref().is_none_or(|a| *a == config_arch);
        let same_os = spec.os.as_ref().is_none_or(|o| *o == config_os);
        Platform {
            variant: spec
                .variant
                .or(if same_arch { config.variant } else { None }),
            architecture: spec.architecture.unwrap_or(config.architecture),
            os_version: spec
                .os_version
                .or(if same_os { config.os_version } else { None }),
            os_features: spec.os_features.unwrap_or(if same_os {
                config.os_features
            } else {
                Vec::new()
            }),
            os: spec.os.unwrap_or(config.os),
            features: spec.features.unwrap_or(config.features),
        }
        .normalized()
    }

    /// The given fields normalised (no default variant is added: a missing one comes from the config).
    pub fn normalized(self) -> PlatformSpec {
        let (architecture, variant) = match &self.architecture {
            Some(arch) => {
                let (arch, variant) = normalize_arch(arch, self.variant.as_deref());
                (Some(arch), variant)
            }
            None => (
                None,
                non_empty(self.variant.map(|v| v.trim().to_ascii_lowercase())),
            ),
        };
        PlatformSpec {
            architecture,
            os: self.os.map(|o| normalize_os(&o)),
            os_version: non_empty(self.os_version),
            os_features: self.os_features.filter(|f| !f.is_empty()),
            variant,
            features: self.features.filter(|f| !f.is_empty()),
        }
    }

    /// Whether no field is given at all.
    pub fn is_empty(&self) -> bool {
        self == &PlatformSpec::default()
    }

    /// Checks a normalised spec: a variant given with an architecture must be one it knows.
    pub(crate) fn check(&self) -> Result<(), String> {
        match (&self.architecture, &self.variant) {
            (Some(arch), Some(variant)) => check_variant(arch, variant),
            _ => Ok(()),
        }
    }
}

impl From<Platform> for PlatformSpec {
    fn from(p: Platform) -> Self {
        PlatformSpec {
            architecture: Some(p.architecture),
            os: Some(p.os),
            os_version: p.os_version,
            os_features: Some(p.os_features).filter(|f| !f.is_empty()),
            variant: p.variant,
            features: Some(p.features).filter(|f| !f.is_empty()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Platform {
        Platform::parse(s).unwrap()
    }

    #[test]
    fn platform_spec_accepts_both_spellings_of_os_version_and_features() {
        let dotted: PlatformSpec =
            serde_json::from_str(r#"{"os.version": "10.0", "os.features": ["a"]}"#).unwrap();
        let plain: PlatformSpec =
            serde_json::from_str(r#"{"osversion": "10.0", "osfeatures": ["a"]}"#).unwrap();

        assert_eq!(dotted, plain);
        assert_eq!(dotted.os_version.as_deref(), Some("10.0"));
        assert_eq!(
            serde_json::to_string(&dotted).unwrap(),
            r#"{"os.version":"10.0","os.features":["a"]}"#
        );
    }

    #[test]
    fn platform_spec_refuses_unknown_keys_and_empty_architecture() {
        assert!(serde_json::from_str::<PlatformSpec>(r#"{"arch": "amd64"}"#).is_err());
        let err = serde_json::from_str::<PlatformSpec>(r#"{"architecture": ""}"#).unwrap_err();
        assert!(err.to_string().contains("empty"), "{err}");
        let spec: PlatformSpec = serde_json::from_str(r#"{"variant": "", "os": null}"#).unwrap();
        assert!(spec.is_empty());
    }

    #[test]
    fn complete_needs_architecture_and_os() {
        let spec = PlatformSpec {
            architecture: Some("armhf".into()),
            ..PlatformSpec::default()
        };
        assert_eq!(spec.complete(), None);

        let spec = PlatformSpec {
            os: Some("linux".into()),
            ..spec
        };

        assert_eq!(spec.complete(), Some(p("linux/arm/v7")));
    }

    #[test]
    fn fill_from_takes_missing_fields_from_the_config() {
        let config = p("windows(10.0.17763)/amd64");
        let spec = PlatformSpec {
            variant: Some("v3".into()),
            ..PlatformSpec::default()
        };

        let filled = spec.fill_from(&config);

        assert_eq!(
            filled.to_string(),
            "windows/amd64/v3 (os.version 10.0.17763)"
        );
    }

    #[test]
    fn fill_from_lets_the_spec_win_and_drops_the_variant_of_another_architecture() {
        let config = p("linux/arm/v6");
        let spec = PlatformSpec {
            architecture: Some("aarch64".into()),
            ..PlatformSpec::default()
        };

        let filled = spec.fill_from(&config);

        assert_eq!(filled.to_string(), "linux/arm64");
        let same_arch = PlatformSpec {
            architecture: Some("arm".into()),
            ..PlatformSpec::default()
        };
        assert_eq!(same_arch.fill_from(&config).to_string(), "linux/arm/v6");
    }

    #[test]
    fn fill_from_does_not_take_the_os_version_of_another_os() {
        let config = p("windows(10.0.17763)/amd64");
        let spec = PlatformSpec {
            os: Some("linux".into()),
            ..PlatformSpec::default()
        };

        assert_eq!(spec.fill_from(&config).os_version, None);
    }

    #[test]
    fn spec_normalisation_adds_no_default_variant() {
        let spec = PlatformSpec {
            architecture: Some("arm".into()),
            os: Some("Linux".into()),
            variant: Some("7".into()),
            ..PlatformSpec::default()
        };

        let normal = spec.normalized();

        assert_eq!(normal.variant.as_deref(), Some("v7"));
        assert_eq!(normal.os.as_deref(), Some("linux"));
        let bare = PlatformSpec {
            architecture: Some("arm".into()),
            ..PlatformSpec::default()
        };
        assert_eq!(bare.normalized().variant, None);
    }
}

//! Platforms: the `os/arch[/variant]` of an image, as a list holds it and as a spec gives it.
//!
//! Owns containerd-style normalisation (`x86_64`→`amd64`, `aarch64`→`arm64`, `armhf`→`arm/v7`, …),
//! the check of variants for the architectures that have known ones, the `os/arch[/variant]` text
//! form, and how a partial platform from a spec is completed from an image config. Pure code.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::normalize::{check_variant, check_word, default_variant, normalize_arch, normalize_os};

/// A complete platform, as written in a list's descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Platform {
    /// CPU architecture (`amd64`, `arm64`, …).
    pub architecture: String,
    /// Operating system (`linux`, `windows`, …).
    pub os: String,
    /// Operating system version (Windows builds, e.g. `10.0.17763.1234`).
    #[serde(rename = "os.version", skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    /// Required operating system features (e.g. `win32k`).
    #[serde(rename = "os.features", skip_serializing_if = "Vec::is_empty")]
    pub os_features: Vec<String>,
    /// CPU variant (`v7`, `v8`, `v3`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Required CPU features.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
}

impl Platform {
    /// Parses `os/arch[/variant]` (also `os(os.version)/arch…`), normalised and checked.
    pub fn parse(s: &str) -> Result<Platform, String> {
        let text = s.trim();
        if text.is_empty() {
            return Err(
                "the platform is empty; expected os/arch[/variant], e.g. linux/amd64".into(),
            );
        }
        let parts: Vec<&str> = text.split('/').collect();
        if !(2..=3).contains(&parts.len()) {
            return Err(format!(
                "platform \"{text}\" is not of the form os/arch[/variant] (e.g. linux/amd64, linux/arm/v7)"
            ));
        }
        let (os, os_version) = split_os_version(parts[0])
            .ok_or_else(|| format!("platform \"{text}\" has an unclosed '(' in its os"))?;
        for (what, value) in [("os", os), ("architecture", parts[1])] {
            if value.is_empty() {
                return Err(format!("platform \"{text}\" has an empty {what}"));
            }
        }
        let variant = match parts.get(2) {
            Some(&"") => {
                return Err(format!("platform \"{text}\" has an empty variant"));
            }
            v => v.map(|v| v.to_string()),
        };
        let platform = Platform {
            architecture: parts[1].to_owned(),
            os: os.to_owned(),
            os_version: os_version.map(str::to_owned),
            variant,
            ..Platform::default()
        }
        .normalized();
        platform
            .check()
            .map_err(|e| format!("platform \"{text}\": {e}"))?;
        Ok(platform)
    }

    /// containerd-style normalisation; arm without a variant becomes `arm/v7`.
    pub fn normalized(self) -> Platform {
        let (architecture, mut variant) =
            normalize_arch(&self.architecture, self.variant.as_deref());
        if architecture == "arm" && variant.is_none() {
            variant = Some("v7".to_owned());
        }
        Platform {
            architecture,
            os: normalize_os(&self.os),
            os_version: non_empty(self.os_version),
            os_features: self.os_features,
            variant,
            features: self.features,
        }
    }

    /// Equality after normalisation, with default variants (arm64 `v8`, arm `v7`, amd64 `v1`)
    /// equal to none; features compare as sets.
    pub fn same_as(&self, other: &Platform) -> bool {
        self.clone().comparable() == other.clone().comparable()
    }

    fn comparable(self) -> Platform {
        let mut p = self.normalized();
        if let Some(v) = &p.variant
            && default_variant(&p.architecture) == Some(v.as_str())
        {
            p.variant = None;
        }
        for list in [&mut p.os_features, &mut p.features] {
            list.sort();
            list.dedup();
        }
        p
    }

    /// Checks a normalised platform: os and architecture present and well formed, the variant
    /// one the architecture knows.
    pub(crate) fn check(&self) -> Result<(), String> {
        check_word("os", &self.os)?;
        check_word("architecture", &self.architecture)?;
        match &self.variant {
            Some(v) => check_variant(&self.architecture, v),
            None => Ok(()),
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        if let Some(version) = &self.os_version {
            write!(f, " (os.version {version})")?;
        }
        Ok(())
    }
}

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

fn split_os_version(os: &str) -> Option<(&str, Option<&str>)> {
    match os.split_once('(') {
        None => Some((os, None)),
        Some((os, rest)) => {
            let version = rest.strip_suffix(')')?;
            Some((os, Some(version).filter(|v| !v.is_empty())))
        }
    }
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Platform {
        Platform::parse(s).unwrap()
    }

    #[test]
    fn parse_reads_os_arch_and_variant_normalised() {
        let platform = p("Linux/aarch64/8");

        assert_eq!(platform.os, "linux");
        assert_eq!(platform.architecture, "arm64");
        assert_eq!(platform.variant.as_deref(), Some("v8"));
        assert_eq!(p("linux/arm").variant.as_deref(), Some("v7"));
        assert_eq!(p("windows/amd64").to_string(), "windows/amd64");
    }

    #[test]
    fn parse_reads_an_os_version_in_parentheses() {
        let platform = p("windows(10.0.17763)/amd64");

        assert_eq!(platform.os_version.as_deref(), Some("10.0.17763"));
        assert_eq!(
            platform.to_string(),
            "windows/amd64 (os.version 10.0.17763)"
        );
    }

    #[test]
    fn parse_says_what_is_wrong() {
        for (input, fault) in [
            ("", "empty"),
            ("linux", "os/arch[/variant]"),
            ("linux/arm/v7/x", "os/arch[/variant]"),
            ("/amd64", "empty os"),
            ("linux/", "empty architecture"),
            ("linux/arm/", "empty variant"),
            ("linux/arm64/v7", "variant \"v7\" does not exist for arm64"),
            ("li nux/amd64", "may only hold"),
            ("windows(10.0/amd64", "unclosed"),
        ] {
            let err = Platform::parse(input).unwrap_err();
            assert!(err.contains(fault), "{input:?}: {err}");
        }
    }

    #[test]
    fn display_is_os_arch_variant() {
        assert_eq!(p("linux/arm64/v8").to_string(), "linux/arm64/v8");
        assert_eq!(p("linux/s390x").to_string(), "linux/s390x");
    }

    #[test]
    fn same_as_treats_default_variants_as_none() {
        assert!(p("linux/arm64").same_as(&p("linux/arm64/v8")));
        assert!(p("linux/arm").same_as(&p("linux/arm/v7")));
        assert!(p("linux/x86_64").same_as(&p("linux/amd64/v1")));
        assert!(!p("linux/arm64").same_as(&p("linux/arm64/v9")));
        assert!(!p("linux/arm").same_as(&p("linux/arm/v6")));
        assert!(!p("linux/amd64").same_as(&p("linux/amd64/v3")));
        assert!(!p("linux/amd64").same_as(&p("windows/amd64")));
    }

    #[test]
    fn same_as_compares_os_version_and_features() {
        let a = p("windows(10.0.17763)/amd64");
        let b = p("windows(10.0.20348)/amd64");
        assert!(!a.same_as(&b));
        let mut c = a.clone();
        c.os_features = vec!["win32k".into()];
        assert!(!a.same_as(&c));
        let mut d = a.clone();
        d.os_features = vec!["win32k".into(), "win32k".into()];
        assert!(c.same_as(&d));
    }

    #[test]
    fn normalized_turns_empty_variant_and_os_version_into_none() {
        let platform = Platform {
            architecture: "X86_64".into(),
            os: "MacOS".into(),
            os_version: Some(" ".into()),
            variant: Some(String::new()),
            ..Platform::default()
        }
        .normalized();

        assert_eq!(platform.to_string(), "darwin/amd64");
        assert_eq!((platform.variant, platform.os_version), (None, None));
    }

    #[test]
    fn platform_serializes_with_oci_names_in_order_skipping_empty_fields() {
        let mut platform = p("windows(10.0.17763)/amd64");
        platform.os_features = vec!["win32k".into()];

        let json = serde_json::to_string(&platform).unwrap();

        assert_eq!(
            json,
            r#"{"architecture":"amd64","os":"windows","os.version":"10.0.17763","os.features":["win32k"]}"#
        );
        let back: Platform = serde_json::from_str(&json).unwrap();
        assert_eq!(back, platform);
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

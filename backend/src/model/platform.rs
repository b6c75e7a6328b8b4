//! Platforms: the `os/arch[/variant]` of an image, as a list holds it.
//!
//! Owns containerd-style normalisation (`x86_64`→`amd64`, `aarch64`→`arm64`, `armhf`→`arm/v7`, …,
//! in [`normalize`]), the check of variants for the architectures that have known ones, and the
//! `os/arch[/variant]` text form. Pure code.

pub mod matcher;
pub mod normalize;
pub mod windows;

use std::fmt;

use serde::{Deserialize, Serialize};

use normalize::{check_variant, check_word, default_variant, normalize_arch, normalize_os};

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

    /// The platform as manifold writes it in a list it makes: an arm64 platform without a
    /// variant gets `v8`, as Docker's official images write it, so that clients that compare
    /// variants strictly (crane's `--platform linux/arm64/v8`) find it; containerd and skopeo
    /// take both the same.
    pub fn written(mut self) -> Platform {
        if self.architecture == "arm64" && self.variant.is_none() {
            self.variant = Some("v8".to_owned());
        }
        self
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

    /// Whether an image of platform `image` (from its config) cannot be this platform: another
    /// os or architecture, or another variant where the image names one (a config without a
    /// variant says nothing against one).
    pub fn contradicts(&self, image: &Platform) -> bool {
        let (os, image_os) = (normalize_os(&self.os), normalize_os(&image.os));
        let (arch, variant) = normalize_arch(&self.architecture, self.variant.as_deref());
        let (image_arch, image_variant) =
            normalize_arch(&image.architecture, image.variant.as_deref());
        if os != image_os || arch != image_arch {
            return true;
        }
        let plain = |v: Option<String>| v.filter(|v| default_variant(&arch) != Some(v.as_str()));
        image_variant.is_some() && plain(variant) != plain(image_variant)
    }

    /// Checks a normalised platform: os and architecture present and well formed, the variant
    /// one the architecture knows.
    pub fn check(&self) -> Result<(), String> {
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

fn split_os_version(os: &str) -> Option<(&str, Option<&str>)> {
    match os.split_once('(') {
        None => Some((os, None)),
        Some((os, rest)) => {
            let version = rest.strip_suffix(')')?;
            Some((os, Some(version).filter(|v| !v.is_empty())))
        }
    }
}

pub(crate) fn non_empty(s: Option<String>) -> Option<String> {
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
    fn an_arm64_platform_is_written_with_v8_and_others_as_they_are() {
        assert_eq!(p("linux/arm64").written().to_string(), "linux/arm64/v8");
        assert_eq!(p("linux/arm64/v9").written().to_string(), "linux/arm64/v9");
        assert_eq!(p("linux/amd64").written().to_string(), "linux/amd64");
        assert_eq!(p("linux/arm").written().to_string(), "linux/arm/v7");
    }

    #[test]
    fn display_is_os_arch_variant() {
        assert_eq!(p("linux/arm64/v8").to_string(), "linux/arm64/v8");
        assert_eq!(p("linux/s390x").to_string(), "linux/s390x");
    }

    #[test]
    fn a_platform_contradicts_an_image_of_another_os_architecture_or_named_variant() {
        let image = |s: &str| p(s);
        assert!(p("linux/amd64").contradicts(&image("linux/s390x")));
        assert!(p("windows/amd64").contradicts(&image("linux/amd64")));
        assert!(p("linux/arm/v6").contradicts(&image("linux/arm/v7")));
        assert!(!p("linux/arm64/v8").contradicts(&image("linux/arm64")));
        assert!(!p("linux/amd64/v3").contradicts(&Platform {
            os: "Linux".into(),
            architecture: "x86_64".into(),
            ..Platform::default()
        }));
        assert!(!p("linux/arm64").contradicts(&image("linux/arm64/v8")));
        assert!(p("linux/amd64/v3").contradicts(&image("linux/amd64/v2")));
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
}

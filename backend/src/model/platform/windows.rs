//! Which Windows images a Windows host runs, and which it prefers: containerd's rule for
//! `os.version` (`major.minor.build[.revision]`) and the order Windows engines pick in.
//!
//! A host runs an image of the same major and minor version, and: before Windows Server 2022
//! (build 20348) only of its own build; from it on, of any build from 20348 up to its own (the
//! stable ABI). A host or an image without a readable version matches any. Among the images a
//! host runs, the closest build (the highest one not above the host's) is preferred, then the
//! highest revision; equals keep list order.

use std::cmp::Reverse;

/// Windows Server 2022: the first build whose hosts also run older builds' images (down to it).
const LTSC2022: u32 = 20348;

/// A Windows version as containerd reads `os.version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowsVersion {
    major: u32,
    minor: u32,
    build: u32,
    revision: u32,
}

impl WindowsVersion {
    /// Reads `major.minor.build[.revision…]`; `None` with fewer than three numbers.
    pub fn parse(text: &str) -> Option<WindowsVersion> {
        let mut parts = text.trim().split('.');
        let mut number = |max: u32| {
            parts
                .next()
                .and_then(|p| p.parse::<u32>().ok())
                .filter(|n| *n <= max)
        };
        let (major, minor, build) = (number(255)?, number(255)?, number(65_535)?);
        let revision = number(u32::MAX).unwrap_or(0);
        Some(WindowsVersion {
            major,
            minor,
            build,
            revision,
        })
    }

    /// Whether a host of this version runs an image written with `image` as its `os.version`.
    pub fn runs(&self, image: Option<&str>) -> bool {
        let Some(image) = image.filter(|v| !v.trim().is_empty()) else {
            return true;
        };
        let Some(image) = WindowsVersion::parse(image) else {
            return false;
        };
        if (self.major, self.minor) != (image.major, image.minor) {
            return false;
        }
        if self.build < LTSC2022 {
            return image.build == self.build;
        }
        (LTSC2022..=self.build).contains(&image.build)
    }

    /// How much this host prefers an image it runs: higher is better (closest build, then the
    /// highest revision; an image without a version last).
    pub fn preference(image: Option<&str>) -> impl Ord {
        let version = image.and_then(WindowsVersion::parse);
        (
            version.is_some(),
            version.map(|v| (v.build, v.revision)).unwrap_or_default(),
        )
    }
}

/// Of the entries a Windows host runs (index and `os.version`), the one it pulls: the most
/// preferred, the first among equals.
pub fn best<'a>(candidates: impl Iterator<Item = (usize, Option<&'a str>)>) -> Option<usize> {
    candidates
        .map(|(i, version)| (WindowsVersion::preference(version), Reverse(i)))
        .max()
        .map(|(_, Reverse(i))| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(v: &str) -> WindowsVersion {
        WindowsVersion::parse(v).unwrap()
    }

    #[test]
    fn a_version_needs_major_minor_and_build() {
        assert_eq!(WindowsVersion::parse("10.0"), None);
        assert_eq!(WindowsVersion::parse("10.0.x"), None);
        assert_eq!(WindowsVersion::parse("10.0.70000"), None);
        let v = host("10.0.20348.2461");
        assert_eq!((v.build, v.revision), (20348, 2461));
        assert_eq!(host("10.0.17763").revision, 0);
    }

    #[test]
    fn hosts_before_2022_run_their_own_build_only() {
        let ltsc2019 = host("10.0.17763.5820");
        assert!(ltsc2019.runs(Some("10.0.17763.1")));
        assert!(!ltsc2019.runs(Some("10.0.14393.1")));
        assert!(!ltsc2019.runs(Some("10.0.20348.1")));
        assert!(!ltsc2019.runs(Some("6.3.17763.1")));
    }

    #[test]
    fn hosts_from_2022_on_run_builds_from_2022_up_to_their_own() {
        let ltsc2025 = host("10.0.26100.1742");
        assert!(ltsc2025.runs(Some("10.0.20348.2461")));
        assert!(ltsc2025.runs(Some("10.0.26100.1")));
        assert!(!ltsc2025.runs(Some("10.0.17763.5820")));
        assert!(!host("10.0.20348.2461").runs(Some("10.0.26100.1")));
    }

    #[test]
    fn an_image_without_a_version_runs_anywhere_and_a_garbled_one_nowhere() {
        let ltsc2022 = host("10.0.20348");
        assert!(ltsc2022.runs(None) && ltsc2022.runs(Some(" ")));
        assert!(!ltsc2022.runs(Some("latest")));
    }

    #[test]
    fn the_closest_build_then_the_highest_revision_is_preferred_first_among_equals() {
        let versions = [
            Some("10.0.20348.1"),
            Some("10.0.26100.5"),
            None,
            Some("10.0.26100.9"),
            Some("10.0.26100.9"),
        ];
        let all = versions.iter().copied().enumerate();
        assert_eq!(best(all), Some(3));
        assert_eq!(best([(0, None), (1, None)].into_iter()), Some(0));
        assert_eq!(best(std::iter::empty()), None);
    }
}

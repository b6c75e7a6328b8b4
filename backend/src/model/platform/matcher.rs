//! How a consumer picks a list's child for its platform, the way containerd's platform matcher
//! does: a machine runs its own platform and, best first, the older variants of it (amd64 `v3`
//! runs `v2`, `v1`, then `386`; arm64 `v8.2` runs `v8.1`, `v8`, then arm `v8` … `v5`; arm `v7`
//! runs `v6`, `v5`); the first entry of the best platform wins. A Windows machine that names its
//! `os.version` runs only the builds [`windows`](super::windows) allows, and prefers the closest.
//! Entries are compared as written: a list that says `x86_64` or `Linux` matches nobody who asks
//! for `linux/amd64`.

use super::Platform;
use super::normalize::{default_variant, normalize_arch, normalize_os};
use super::windows::{self, WindowsVersion};

/// An architecture and a variant (`None` for the architecture's default), as compared.
type Arch = (String, Option<String>);

/// The variant as compared: the architecture's default variant is the same as none.
fn plain(arch: &str, variant: Option<String>) -> Option<String> {
    variant.filter(|v| default_variant(arch) != Some(v.as_str()))
}

/// The platforms a machine of `wanted` runs, best first (containerd's `platforms.Only`).
pub fn runs(wanted: &Platform) -> Vec<Arch> {
    let (arch, variant) = normalize_arch(&wanted.architecture, wanted.variant.as_deref());
    let variant = plain(&arch, variant);
    let numbered = |v: &Option<String>, default: u32| {
        v.as_deref()
            .and_then(|v| v.strip_prefix('v'))
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(default)
    };
    let down = |arch: &str, from: u32, to: u32, default: u32| -> Vec<Arch> {
        (to..=from)
            .rev()
            .map(|n| {
                (
                    arch.to_owned(),
                    plain(arch, Some(format!("v{n}"))).filter(|_| n != default),
                )
            })
            .collect()
    };
    match arch.as_str() {
        "amd64" => {
            let mut vector = down("amd64", numbered(&variant, 1), 1, 1);
            vector.push(("386".to_owned(), None));
            vector
        }
        "arm" => down("arm", numbered(&variant, 7), 5, 7),
        "arm64" => {
            let mut vector = arm64_versions(variant.as_deref().unwrap_or("v8"));
            vector.extend(down("arm", 8, 5, 7));
            vector
        }
        _ => vec![(arch, variant)],
    }
}

/// The arm64 variants an arm64 machine of `variant` runs, best first (containerd's table:
/// `v8.x` runs `v8.x` … `v8`; `v9.x` runs `v9.x` … `v9`, then `v8.(x+5)` … `v8`). An unknown
/// variant runs only itself.
fn arm64_versions(variant: &str) -> Vec<Arch> {
    let parsed = variant.strip_prefix('v').and_then(|v| {
        let (major, minor) = v.split_once('.').unwrap_or((v, "0"));
        Some((major.parse::<u32>().ok()?, minor.parse::<u32>().ok()?))
    });
    let arm64 = |major: u32, minor: u32| -> Arch {
        let name = if minor == 0 {
            format!("v{major}")
        } else {
            format!("v{major}.{minor}")
        };
        ("arm64".to_owned(), plain("arm64", Some(name)))
    };
    let lines: Vec<(u32, u32)> = match parsed {
        Some((8, minor)) if minor <= 9 => vec![(8, minor)],
        Some((9, minor)) if minor <= 7 => vec![(9, minor), (8, (minor + 5).min(9))],
        _ => return vec![("arm64".to_owned(), plain("arm64", Some(variant.to_owned())))],
    };
    lines
        .into_iter()
        .flat_map(|(major, top)| (0..=top).rev().map(move |minor| arm64(major, minor)))
        .collect()
}

/// What an entry's platform is as compared: os and architecture as written, its variant with the
/// default dropped.
fn as_written(p: &Platform) -> (String, Arch) {
    let arch = p.architecture.clone();
    let variant = plain(&arch, p.variant.clone());
    (p.os.clone(), (arch, variant))
}

/// The index of the entry a consumer on `wanted` pulls, if any: the best platform it runs that an
/// entry has, and among entries of that platform the first — for a Windows consumer that names
/// its `os.version`, among the entries of a build it runs, the one it prefers. `None` entries
/// (attestations) are never picked.
pub fn pick(wanted: &Platform, entries: &[Option<&Platform>]) -> Option<usize> {
    let os = normalize_os(&wanted.os);
    let host = wanted
        .os_version
        .as_deref()
        .filter(|_| os == "windows")
        .and_then(WindowsVersion::parse);
    runs(wanted).into_iter().find_map(|candidate| {
        let mut matching = entries.iter().enumerate().filter_map(|(i, entry)| {
            let p = (*entry)?;
            let runs_build = host.is_none_or(|h| h.runs(p.os_version.as_deref()));
            (as_written(p) == (os.clone(), candidate.clone()) && runs_build)
                .then_some((i, p.os_version.as_deref()))
        });
        match host {
            None => matching.next().map(|(i, _)| i),
            Some(_) => windows::best(matching),
        }
    })
}

/// Whether a platform is written the way consumers compare it (lower case, the canonical
/// architecture name), so that the machines it names can pick it.
pub fn is_canonical(p: &Platform) -> bool {
    let (arch, variant) = normalize_arch(&p.architecture, p.variant.as_deref());
    let arm64_v8 = arch == "arm64" && p.variant.as_deref() == Some("v8");
    p.os == normalize_os(&p.os) && p.architecture == arch && (p.variant == variant || arm64_v8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Platform {
        Platform::parse(s).unwrap()
    }

    fn raw(os: &str, arch: &str, variant: Option<&str>) -> Platform {
        Platform {
            os: os.into(),
            architecture: arch.into(),
            variant: variant.map(str::to_owned),
            ..Platform::default()
        }
    }

    #[test]
    fn a_machine_runs_its_platform_and_older_variants_best_first() {
        let names = |w: &str| {
            runs(&p(w))
                .into_iter()
                .map(|(a, v)| format!("{a}{}", v.map(|v| format!("/{v}")).unwrap_or_default()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names("linux/amd64/v3"),
            ["amd64/v3", "amd64/v2", "amd64", "386"]
        );
        assert_eq!(names("linux/amd64"), ["amd64", "386"]);
        assert_eq!(names("linux/arm/v7"), ["arm", "arm/v6", "arm/v5"]);
        assert_eq!(
            names("linux/arm64"),
            ["arm64", "arm/v8", "arm", "arm/v6", "arm/v5"]
        );
        assert_eq!(
            names("linux/arm64/v8.2")[..3],
            ["arm64/v8.2", "arm64/v8.1", "arm64"]
        );
        assert_eq!(
            names("linux/arm64/v9.1")[..5],
            [
                "arm64/v9.1",
                "arm64/v9",
                "arm64/v8.6",
                "arm64/v8.5",
                "arm64/v8.4"
            ]
        );
        assert_eq!(names("linux/s390x"), ["s390x"]);
    }

    #[test]
    fn the_best_platform_wins_and_among_equals_the_first_entry() {
        let (v2, v1, arm64, arm, v2b) = (
            p("linux/amd64/v2"),
            p("linux/amd64"),
            p("linux/arm64/v8"),
            p("linux/arm/v7"),
            p("linux/amd64/v2"),
        );
        let entries = [
            Some(&v1),
            Some(&v2),
            None,
            Some(&arm64),
            Some(&arm),
            Some(&v2b),
        ];
        assert_eq!(pick(&p("linux/amd64/v3"), &entries), Some(1));
        assert_eq!(pick(&p("linux/amd64"), &entries), Some(0));
        assert_eq!(pick(&p("linux/arm64"), &entries), Some(3));
        assert_eq!(pick(&p("linux/arm/v6"), &entries), None);
        assert_eq!(pick(&p("windows/amd64"), &entries), None);
        assert_eq!(pick(&p("linux/arm64"), &[Some(&arm)]), Some(0));
    }

    #[test]
    fn entries_are_compared_as_written() {
        let odd = [raw("Linux", "x86_64", None), raw("linux", "aarch64", None)];
        let entries: Vec<_> = odd.iter().map(Some).collect();
        assert_eq!(pick(&p("linux/amd64"), &entries), None);
        assert_eq!(pick(&p("linux/arm64"), &entries), None);
        assert!(!is_canonical(&odd[0]) && !is_canonical(&odd[1]));
        assert!(is_canonical(&p("linux/arm64/v8")) && is_canonical(&p("linux/amd64")));
        assert!(!is_canonical(&raw("linux", "arm", Some("7"))));
    }

    #[test]
    fn a_windows_host_pulls_the_closest_build_it_runs() {
        let (ltsc2019, ltsc2022, plain) = (
            p("windows(10.0.17763.5820)/amd64"),
            p("windows(10.0.20348.2461)/amd64"),
            p("windows/amd64"),
        );
        let entries = [Some(&ltsc2019), Some(&ltsc2022)];
        assert_eq!(pick(&ltsc2019, &entries), Some(0));
        assert_eq!(pick(&ltsc2022, &entries), Some(1));
        assert_eq!(pick(&p("windows(10.0.20348.1)/amd64"), &entries), Some(1));
        assert_eq!(pick(&p("windows(10.0.26100)/amd64"), &entries), Some(1));
        assert_eq!(pick(&p("windows(10.0.14393)/amd64"), &entries), None);
        assert_eq!(pick(&plain, &entries), Some(0));
        let reversed = [Some(&ltsc2022), Some(&ltsc2019)];
        assert_eq!(pick(&ltsc2019, &reversed), Some(1));
        let ltsc2025 = p("windows(10.0.26100.1)/amd64");
        let newer = [Some(&ltsc2022), Some(&ltsc2025), Some(&plain)];
        assert_eq!(pick(&ltsc2025, &newer), Some(1));
        assert_eq!(pick(&ltsc2019, &newer), Some(2));
    }
}

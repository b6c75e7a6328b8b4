//! How a consumer picks a list's child for its platform, the way containerd's platform matcher
//! does: a machine runs its own platform and, best first, the older variants of it (amd64 `v3`
//! runs `v2` and `v1`; arm64 runs arm `v8` … `v5`; arm `v7` runs `v6`, `v5`); the first entry of
//! the best platform wins. Entries are compared as written: a list that says `x86_64` or `Linux`
//! matches nobody who asks for `linux/amd64`.

use super::Platform;
use super::normalize::{default_variant, normalize_arch, normalize_os};

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
        "amd64" => down("amd64", numbered(&variant, 1), 1, 1),
        "arm" => down("arm", numbered(&variant, 7), 5, 7),
        "arm64" => {
            let mut vector = vec![(arch.clone(), variant.clone())];
            if variant.is_some() {
                vector.push((arch.clone(), None));
            }
            vector.extend(down("arm", 8, 5, 7));
            vector
        }
        _ => vec![(arch, variant)],
    }
}

/// What an entry's platform is as compared: os and architecture as written, its variant with the
/// default dropped.
fn as_written(p: &Platform) -> (String, Arch) {
    let arch = p.architecture.clone();
    let variant = plain(&arch, p.variant.clone());
    (p.os.clone(), (arch, variant))
}

/// The index of the entry a consumer on `wanted` pulls, if any: the best platform it runs that an
/// entry has, and among entries of that platform the first. `None` entries (attestations) are
/// never picked.
pub fn pick(wanted: &Platform, entries: &[Option<&Platform>]) -> Option<usize> {
    let os = normalize_os(&wanted.os);
    runs(wanted).into_iter().find_map(|candidate| {
        entries.iter().position(|entry| {
            entry.is_some_and(|p| as_written(p) == (os.clone(), candidate.clone()))
        })
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
        assert_eq!(names("linux/amd64/v3"), ["amd64/v3", "amd64/v2", "amd64"]);
        assert_eq!(names("linux/amd64"), ["amd64"]);
        assert_eq!(names("linux/arm/v7"), ["arm", "arm/v6", "arm/v5"]);
        assert_eq!(
            names("linux/arm64"),
            ["arm64", "arm/v8", "arm", "arm/v6", "arm/v5"]
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
}

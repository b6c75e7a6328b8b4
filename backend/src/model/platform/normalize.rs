//! Platform normalisation rules, as containerd's `platforms.Normalize`, and the variants each
//! architecture knows.
//!
//! `x86_64`/`x86-64`→`amd64`; `aarch64`→`arm64` (`8`/`v8`/`v8.0`→`v8`, `9`/`9.0`/`v9.0`→`v9`);
//! `armhf`→`arm/v7`, `armel`→`arm/v6`, arm `5`…`8`→`v5`…`v8`; `i386`…`i686`/`x86`→`386`; `macos`→`darwin`;
//! everything lower-cased. Known variants: amd64 `v1`–`v4`, arm64 `v8`, `v8.x`, `v9`, `v9.x`, arm `v5`–`v8`,
//! riscv64 profiles `rvaNNu64`. Other architectures keep what they are given.

/// The OS lower-cased; `macos` is `darwin`.
pub fn normalize_os(os: &str) -> String {
    let os = os.trim().to_ascii_lowercase();
    if os == "macos" {
        "darwin".to_owned()
    } else {
        os
    }
}

/// containerd's `normalizeArch`, except that arm64 keeps an explicit `v8`.
pub fn normalize_arch(arch: &str, variant: Option<&str>) -> (String, Option<String>) {
    let arch = arch.trim().to_ascii_lowercase();
    let variant = variant
        .map(|v| v.trim().to_ascii_lowercase())
        .filter(|v| !v.is_empty());
    let (arch, variant) = match arch.as_str() {
        "x86_64" | "x86-64" | "amd64" => ("amd64".to_owned(), variant),
        "aarch64" | "arm64" => (
            "arm64".to_owned(),
            variant.map(|v| match v.as_str() {
                "8" | "v8" | "v8.0" => "v8".to_owned(),
                "9" | "9.0" | "v9.0" => "v9".to_owned(),
                _ => v,
            }),
        ),
        "armhf" => ("arm".to_owned(), Some("v7".to_owned())),
        "armel" => ("arm".to_owned(), Some("v6".to_owned())),
        "arm" => (
            "arm".to_owned(),
            variant.map(|v| match v.as_str() {
                "5" | "6" | "7" | "8" => format!("v{v}"),
                _ => v,
            }),
        ),
        "i386" | "i486" | "i586" | "i686" | "x86" => ("386".to_owned(), None),
        _ => (arch, variant),
    };
    (arch, variant)
}

/// The variant an architecture has when none is given, where it has one.
pub fn default_variant(arch: &str) -> Option<&'static str> {
    match arch {
        "arm64" => Some("v8"),
        "arm" => Some("v7"),
        "amd64" => Some("v1"),
        _ => None,
    }
}

/// What a plain word (os, architecture) may hold, for error messages.
pub const WORD_CHARS: &str = "may only hold letters, digits, '.', '_', '+' and '-'";

/// Whether a value is a plain word: letters, digits, `.`, `_`, `+`, `-`.
pub fn is_word(value: &str) -> bool {
    value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+'))
}

/// Checks that `value` (the `what`) is present and a plain word.
pub fn check_word(what: &str, value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err(format!("the {what} is empty"));
    }
    if !is_word(value) {
        return Err(format!("{what} \"{value}\" {WORD_CHARS}"));
    }
    Ok(())
}

/// Checks a variant against the ones `arch` knows; other architectures take any plain word.
pub fn check_variant(arch: &str, variant: &str) -> Result<(), String> {
    let digits = |s: &str| !s.is_empty() && s.len() <= 2 && s.bytes().all(|b| b.is_ascii_digit());
    let (ok, expected) = match arch {
        "amd64" => (
            matches!(variant, "v1" | "v2" | "v3" | "v4"),
            "v1, v2, v3 or v4",
        ),
        "arm64" => {
            let ok = matches!(variant, "v8" | "v9")
                || ["v8.", "v9."]
                    .iter()
                    .any(|p| variant.strip_prefix(p).is_some_and(digits));
            (ok, "v8, v8.x, v9 or v9.x")
        }
        "arm" => (
            matches!(variant, "v5" | "v6" | "v7" | "v8"),
            "v5, v6, v7 or v8",
        ),
        "riscv64" => {
            let ok = variant
                .strip_prefix("rva")
                .and_then(|r| r.strip_suffix("u64"))
                .is_some_and(|n| n.len() == 2 && digits(n));
            (ok, "a profile such as rva20u64, rva22u64 or rva23u64")
        }
        _ => return check_word("variant", variant),
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "variant \"{variant}\" does not exist for {arch} (expected {expected})"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arch(a: &str, v: Option<&str>) -> (String, Option<String>) {
        normalize_arch(a, v)
    }

    fn pair(a: &str, v: Option<&str>) -> (String, Option<String>) {
        (a.to_owned(), v.map(str::to_owned))
    }

    #[test]
    fn x86_64_spellings_become_amd64_and_keep_their_variant() {
        for given in ["x86_64", "X86_64", "x86-64", "amd64", " AMD64 "] {
            assert_eq!(arch(given, None), pair("amd64", None), "{given}");
        }
        assert_eq!(arch("x86_64", Some("V3")), pair("amd64", Some("v3")));
    }

    #[test]
    fn aarch64_becomes_arm64_with_v8_spellings_unified_and_kept() {
        assert_eq!(arch("aarch64", None), pair("arm64", None));
        for given in ["8", "v8", "v8.0", "V8"] {
            assert_eq!(
                arch("aarch64", Some(given)),
                pair("arm64", Some("v8")),
                "{given}"
            );
        }
        for given in ["9", "9.0", "v9.0"] {
            assert_eq!(
                arch("arm64", Some(given)),
                pair("arm64", Some("v9")),
                "{given}"
            );
        }
        assert_eq!(arch("arm64", Some("v8.2")), pair("arm64", Some("v8.2")));
    }

    #[test]
    fn armhf_is_arm_v7_and_armel_is_arm_v6() {
        assert_eq!(arch("armhf", None), pair("arm", Some("v7")));
        assert_eq!(arch("ARMEL", None), pair("arm", Some("v6")));
    }

    #[test]
    fn bare_arm_variant_numbers_get_a_v() {
        for n in ["5", "6", "7", "8"] {
            let want = format!("v{n}");
            assert_eq!(arch("arm", Some(n)), pair("arm", Some(&want)), "{n}");
        }
        // No default here: Platform::normalized adds arm's v7, a partial spec leaves it to the config.
        assert_eq!(arch("arm", None), pair("arm", None));
    }

    #[test]
    fn the_x86_32_bit_spellings_become_386_without_variant() {
        for given in ["i386", "i486", "i586", "i686", "x86"] {
            assert_eq!(arch(given, Some("sse")), pair("386", None), "{given}");
        }
    }

    #[test]
    fn unknown_architectures_are_kept_lower_cased_with_their_variant() {
        assert_eq!(arch("PPC64LE", None), pair("ppc64le", None));
        assert_eq!(arch("Loong64", Some("X")), pair("loong64", Some("x")));
        assert_eq!(arch("amd64", Some("")), pair("amd64", None));
    }

    #[test]
    fn os_is_lower_cased_and_macos_is_darwin() {
        assert_eq!(normalize_os(" Linux"), "linux");
        assert_eq!(normalize_os("MacOS"), "darwin");
        assert_eq!(normalize_os("windows"), "windows");
    }

    #[test]
    fn only_the_default_variants_of_arm64_arm_and_amd64_are_known() {
        assert_eq!(default_variant("arm64"), Some("v8"));
        assert_eq!(default_variant("arm"), Some("v7"));
        assert_eq!(default_variant("amd64"), Some("v1"));
        assert_eq!(default_variant("s390x"), None);
    }

    #[test]
    fn known_variants_are_accepted() {
        for (a, v) in [
            ("amd64", "v1"),
            ("amd64", "v2"),
            ("amd64", "v3"),
            ("amd64", "v4"),
            ("arm64", "v8"),
            ("arm64", "v8.5"),
            ("arm64", "v9"),
            ("arm64", "v9.2"),
            ("arm", "v5"),
            ("arm", "v8"),
            ("riscv64", "rva20u64"),
            ("riscv64", "rva22u64"),
            ("riscv64", "rva23u64"),
            ("mips64", "r6"),
        ] {
            assert_eq!(check_variant(a, v), Ok(()), "{a}/{v}");
        }
    }

    #[test]
    fn unknown_variants_of_known_architectures_are_refused_with_the_expected_ones() {
        for (a, v, expected) in [
            ("amd64", "v5", "v1, v2, v3 or v4"),
            ("arm64", "v7", "v8, v8.x"),
            ("arm64", "v8.x", "v8, v8.x"),
            ("arm", "v9", "v5, v6"),
            ("riscv64", "rv64gc", "rva20u64"),
        ] {
            let err = check_variant(a, v).unwrap_err();
            assert!(err.contains(&format!("variant \"{v}\"")), "{err}");
            assert!(err.contains(expected), "{err}");
        }
        assert!(check_variant("mips64", "r 6").is_err());
    }

    #[test]
    fn words_must_be_present_and_plain() {
        assert!(check_word("os", "linux").is_ok());
        assert_eq!(check_word("os", ""), Err("the os is empty".to_owned()));
        assert!(
            check_word("architecture", "amd64/v2")
                .unwrap_err()
                .contains("may only hold")
        );
    }
}

//! The architectures the container-engine tests build and run images for, in one table: each
//! one's image platform, its Debian architecture (whose `busybox-static` package gives the
//! binary), the ELF machine that binary must be built for, the qemu-user interpreter that runs it
//! on another host (its binfmt_misc entry is `qemu-<name>`) and what `uname -m` prints under it.

use crate::fixtures::Platform;

/// One architecture of the table.
#[derive(Debug, PartialEq, Eq)]
pub struct Arch {
    /// `architecture` of the image platform (`amd64`, `arm64`, `arm`, …).
    pub architecture: &'static str,
    /// `variant` of the image platform, where the list names one.
    pub variant: Option<&'static str>,
    /// Debian's name of the architecture (`armhf`, `ppc64el`, …).
    pub debian: &'static str,
    /// What `uname -m` prints in a container of this architecture.
    pub uname: &'static str,
    /// `e_machine` of its ELF executables.
    pub elf_machine: u16,
    /// qemu-user's name for it: the interpreter `qemu-<name>-static`, the binfmt entry
    /// `qemu-<name>`.
    pub qemu: &'static str,
}

/// The five platforms of the engine tests, the host's (amd64) first.
pub const ARCHES: [Arch; 5] = [
    Arch {
        architecture: "amd64",
        variant: None,
        debian: "amd64",
        uname: "x86_64",
        elf_machine: 62,
        qemu: "x86_64",
    },
    Arch {
        architecture: "arm64",
        variant: Some("v8"),
        debian: "arm64",
        uname: "aarch64",
        elf_machine: 183,
        qemu: "aarch64",
    },
    Arch {
        architecture: "arm",
        variant: Some("v7"),
        debian: "armhf",
        uname: "armv7l",
        elf_machine: 40,
        qemu: "arm",
    },
    Arch {
        architecture: "s390x",
        variant: None,
        debian: "s390x",
        uname: "s390x",
        elf_machine: 22,
        qemu: "s390x",
    },
    Arch {
        architecture: "ppc64le",
        variant: None,
        debian: "ppc64el",
        uname: "ppc64le",
        elf_machine: 21,
        qemu: "ppc64le",
    },
];

impl Arch {
    /// The entry whose image architecture is `architecture` (`amd64`, `s390x`, …).
    pub fn by_architecture(architecture: &str) -> Option<&'static Arch> {
        ARCHES.iter().find(|a| a.architecture == architecture)
    }

    /// The entry of the machine the tests run on, if the table has it.
    pub fn host() -> Option<&'static Arch> {
        ARCHES.iter().find(|a| a.qemu == std::env::consts::ARCH)
    }

    /// Whether this is the host's architecture (it runs without qemu).
    pub fn is_host(&self) -> bool {
        self.qemu == std::env::consts::ARCH
    }

    /// The image platform, `linux/<architecture>[/<variant>]`.
    pub fn platform(&self) -> Platform {
        Platform::new("linux", self.architecture, self.variant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_names_each_platform_once_and_knows_the_host() {
        let platforms: Vec<String> = ARCHES.iter().map(|a| a.platform().to_string()).collect();
        assert_eq!(
            platforms,
            [
                "linux/amd64",
                "linux/arm64/v8",
                "linux/arm/v7",
                "linux/s390x",
                "linux/ppc64le"
            ]
        );
        assert_eq!(Arch::by_architecture("arm").unwrap().debian, "armhf");
        if std::env::consts::ARCH == "x86_64" {
            assert_eq!(Arch::host(), Some(&ARCHES[0]));
        }
    }
}

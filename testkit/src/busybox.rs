//! Runnable images for the container-engine tests ([`crate::engines`]): static busybox images built
//! in code, deterministically ([`BusyboxFixture`] → [`BuiltImage`]). The one layer holds
//! `/bin/busybox` with `/bin/sh` and a few applets as symlinks to it; the config carries the
//! platform (`os`, `architecture`, `variant`) and an entrypoint (`busybox uname -m` unless told
//! otherwise).
//!
//! This module also owns where the binaries come from ([`busybox_binary`]): the host's from
//! Debian's `busybox-static` (`/bin/busybox`), every architecture's from the folder
//! `scripts/setup.sh` fills with Debian's `busybox-static` of that architecture
//! ([`BUSYBOX_DIR_ENV`], `<folder>/<debian-arch>/busybox`). Each binary is checked to be a static
//! ELF executable for its architecture before an image is made of it; nothing is downloaded here.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail, ensure};
use serde_json::{Map, Value, json};

use crate::arches::Arch;
use crate::fixtures::{Blob, SEED_LABEL};
use crate::fixtures::{
    BuiltImage, FIXED_CREATED, FIXED_MTIME, Format, gzip, manifest_json, sha256_digest,
};

/// Environment variable naming the folder of busybox binaries, one `<debian-arch>/busybox` each.
pub const BUSYBOX_DIR_ENV: &str = "MANIFOLD_TEST_BUSYBOX_DIR";
/// The folder `scripts/setup.sh` fills when [`BUSYBOX_DIR_ENV`] is not set.
pub const DEFAULT_BUSYBOX_DIR: &str = "/var/cache/manifold-test/busybox";

/// Config label naming the format the image was built in, so that the Docker and the OCI image of
/// one platform have configs (image ids) of their own.
pub const FORMAT_LABEL: &str = "org.manifold.testkit.format";

/// The applets linked to `/bin/busybox` in the layer.
const APPLETS: [&str; 4] = ["sh", "uname", "echo", "cat"];

/// The static busybox binary for `arch`, checked; an error saying what is missing and how to get
/// it otherwise.
pub fn busybox_binary(arch: &Arch) -> anyhow::Result<Vec<u8>> {
    let dir = std::env::var_os(BUSYBOX_DIR_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_BUSYBOX_DIR));
    let mut candidates = vec![dir.join(arch.debian).join("busybox")];
    if arch.is_host() {
        candidates.push(PathBuf::from("/bin/busybox"));
    }
    for path in &candidates {
        if let Ok(bytes) = std::fs::read(path) {
            check_static_elf(&bytes, arch).with_context(|| path.display().to_string())?;
            return Ok(bytes);
        }
    }
    let how = if arch.is_host() {
        "apt-get install busybox-static".to_owned()
    } else {
        format!(
            "scripts/setup.sh's ensure_foreign_busybox unpacks Debian's busybox-static:{} there",
            arch.debian
        )
    };
    bail!(
        "no busybox binary for {} (looked at {}; {how})",
        arch.platform(),
        candidates
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Fails unless `bytes` is an ELF executable for `arch`'s machine with no program interpreter
/// (a dynamically linked busybox would not start in an image that has no C library).
fn check_static_elf(bytes: &[u8], arch: &Arch) -> anyhow::Result<()> {
    let elf = ElfHeader::parse(bytes).context("not an ELF file")?;
    ensure!(
        elf.machine == arch.elf_machine,
        "an ELF executable for machine {}, not {}'s ({})",
        elf.machine,
        arch.debian,
        arch.elf_machine
    );
    ensure!(
        !elf.has_interpreter,
        "dynamically linked (Debian's busybox, not busybox-static)"
    );
    Ok(())
}

/// What the tests need of an ELF header: the machine, and whether a `PT_INTERP` segment asks for
/// a dynamic loader.
struct ElfHeader {
    machine: u16,
    has_interpreter: bool,
}

impl ElfHeader {
    /// Reads a 32- or 64-bit, little- or big-endian header; `None` when it is none.
    fn parse(bytes: &[u8]) -> Option<ElfHeader> {
        const PT_INTERP: u64 = 3;
        if bytes.get(..4)? != b"\x7fELF" {
            return None;
        }
        let wide = match bytes.get(4)? {
            1 => false,
            2 => true,
            _ => return None,
        };
        let little = *bytes.get(5)? == 1;
        let read = |at: u64, len: usize| -> Option<u64> {
            let at = usize::try_from(at).ok()?;
            let field = bytes.get(at..at.checked_add(len)?)?;
            let fold = |acc: u64, b: &u8| (acc << 8) | u64::from(*b);
            Some(if little {
                field.iter().rev().fold(0, fold)
            } else {
                field.iter().fold(0, fold)
            })
        };
        let machine = u16::try_from(read(18, 2)?).ok()?;
        let (phoff, phentsize, phnum) = if wide {
            (read(32, 8)?, read(54, 2)?, read(56, 2)?)
        } else {
            (read(28, 4)?, read(42, 2)?, read(44, 2)?)
        };
        let mut has_interpreter = false;
        for i in 0..phnum {
            has_interpreter |= read(phoff + i * phentsize, 4)? == PT_INTERP;
        }
        Some(ElfHeader {
            machine,
            has_interpreter,
        })
    }
}

/// Builder of one busybox image. Defaults: Docker schema 2, entrypoint `busybox uname -m`, seed 0.
#[derive(Clone, Debug)]
pub struct BusyboxFixture {
    arch: &'static Arch,
    format: Format,
    entrypoint: Vec<String>,
    seed: u64,
}

impl BusyboxFixture {
    /// An image for `arch`'s platform.
    pub fn new(arch: &'static Arch) -> Self {
        BusyboxFixture {
            arch,
            format: Format::Docker,
            entrypoint: ["/bin/busybox", "uname", "-m"].map(str::to_owned).to_vec(),
            seed: 0,
        }
    }

    /// Use this format's media types.
    pub fn format(mut self, format: Format) -> Self {
        self.format = format;
        self
    }

    /// Runs this instead of `busybox uname -m`.
    pub fn entrypoint(mut self, entrypoint: &[&str]) -> Self {
        self.entrypoint = entrypoint.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// Varies the config (a label), so two images of one platform differ.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Builds the image from the architecture's binary ([`busybox_binary`]).
    pub fn build(&self) -> anyhow::Result<BuiltImage> {
        Ok(self.build_from(&busybox_binary(self.arch)?))
    }

    /// Builds the image around these busybox bytes.
    pub fn build_from(&self, busybox: &[u8]) -> BuiltImage {
        let tar = rootfs_tar(busybox);
        let diff_id = sha256_digest(&tar);
        let layer = Blob::new(self.format.layer_media_type(), gzip(&tar));
        let config = Blob::new(
            self.format.config_media_type(),
            serde_json::to_vec(&self.config_json(&diff_id)).expect("config serialises"),
        );
        let manifest = manifest_json(self.format, &config, std::slice::from_ref(&layer), false);
        BuiltImage {
            format: self.format,
            platform: self.arch.platform(),
            media_type: self.format.manifest_media_type().to_owned(),
            manifest_digest: sha256_digest(&manifest),
            manifest,
            config,
            layers: vec![layer],
            diff_ids: vec![diff_id],
        }
    }

    /// The image config over the layer `diff_id`.
    fn config_json(&self, diff_id: &str) -> Value {
        let mut config = Map::new();
        config.insert("architecture".into(), json!(self.arch.architecture));
        config.insert("os".into(), json!("linux"));
        if let Some(variant) = self.arch.variant {
            config.insert("variant".into(), json!(variant));
        }
        config.insert("created".into(), json!(FIXED_CREATED));
        config.insert(
            "config".into(),
            json!({
                "Env": ["PATH=/bin"],
                "Entrypoint": self.entrypoint,
                "Labels": {
                    SEED_LABEL: self.seed.to_string(),
                    FORMAT_LABEL: format!("{:?}", self.format).to_lowercase(),
                },
            }),
        );
        config.insert(
            "rootfs".into(),
            json!({"type": "layers", "diff_ids": [diff_id]}),
        );
        config.insert(
            "history".into(),
            json!([{"created": FIXED_CREATED, "created_by": "manifold-testkit: busybox"}]),
        );
        Value::Object(config)
    }
}

/// The layer: `bin/`, `bin/busybox` and the applets as symlinks, owned by root, fixed mtime.
fn rootfs_tar(busybox: &[u8]) -> Vec<u8> {
    let header = |kind: tar::EntryType, mode: u32, size: u64| {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_size(size);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(FIXED_MTIME);
        header
    };
    let mut builder = tar::Builder::new(Vec::new());
    let mut dir = header(tar::EntryType::Directory, 0o755, 0);
    builder
        .append_data(&mut dir, "bin/", std::io::empty())
        .expect("in-memory tar");
    let mut file = header(tar::EntryType::Regular, 0o755, busybox.len() as u64);
    builder
        .append_data(&mut file, "bin/busybox", busybox)
        .expect("in-memory tar");
    for applet in APPLETS {
        let mut link = header(tar::EntryType::Symlink, 0o777, 0);
        builder
            .append_link(&mut link, Path::new("bin").join(applet), "busybox")
            .expect("in-memory tar");
    }
    builder.into_inner().expect("in-memory tar")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arches::ARCHES;

    /// A minimal 64-bit little-endian ELF header for `machine`, with one program header of
    /// `p_type`.
    fn elf64(machine: u16, p_type: u32) -> Vec<u8> {
        let mut bytes = vec![0u8; 64 + 56];
        bytes[..6].copy_from_slice(b"\x7fELF\x02\x01");
        bytes[18..20].copy_from_slice(&machine.to_le_bytes());
        bytes[32..40].copy_from_slice(&64u64.to_le_bytes());
        bytes[54..56].copy_from_slice(&56u16.to_le_bytes());
        bytes[56..58].copy_from_slice(&1u16.to_le_bytes());
        bytes[64..68].copy_from_slice(&p_type.to_le_bytes());
        bytes
    }

    #[test]
    fn a_static_binary_of_the_right_machine_passes_and_others_are_named() {
        let amd64 = &ARCHES[0];
        let s390x = Arch::by_architecture("s390x").unwrap();
        assert!(check_static_elf(&elf64(62, 1), amd64).is_ok());
        let dynamic = check_static_elf(&elf64(62, 3), amd64).unwrap_err();
        assert!(
            dynamic.to_string().contains("dynamically linked"),
            "{dynamic}"
        );
        let wrong = check_static_elf(&elf64(62, 1), s390x).unwrap_err();
        assert!(wrong.to_string().contains("machine 62"), "{wrong}");
        assert!(check_static_elf(b"#!/bin/sh\n", amd64).is_err());
    }

    #[test]
    fn the_same_binary_gives_the_same_image_and_each_platform_its_own() {
        let arm = Arch::by_architecture("arm").unwrap();
        let one = BusyboxFixture::new(arm).build_from(b"busybox");
        let again = BusyboxFixture::new(arm).build_from(b"busybox");
        let oci = BusyboxFixture::new(arm)
            .format(Format::Oci)
            .build_from(b"busybox");
        assert_eq!(one, again);
        assert_ne!(one.manifest_digest, oci.manifest_digest);
        assert_ne!(one.config.digest, oci.config.digest);
        let config = one.config_json();
        assert_eq!(config["variant"], "v7");
        assert_eq!(config["config"]["Labels"][FORMAT_LABEL], "docker");
        assert_eq!(
            config["config"]["Entrypoint"],
            json!(["/bin/busybox", "uname", "-m"])
        );
        let entries: Vec<String> = tar::Archive::new(&rootfs_tar(b"busybox")[..])
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(
            entries,
            [
                "bin/",
                "bin/busybox",
                "bin/sh",
                "bin/uname",
                "bin/echo",
                "bin/cat"
            ]
        );
    }
}

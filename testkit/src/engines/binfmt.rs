//! Foreign children, run by Debian's qemu-user-static through binfmt_misc ([`Qemu`]): the harness
//! mounts `/proc/sys/fs/binfmt_misc` where it is not mounted and registers each architecture's
//! interpreter where it is not registered — with `update-binfmts --enable qemu-<arch>`
//! (binfmt-support, Debian's way) or else by writing the line of qemu-user-static's
//! `/usr/lib/binfmt.d/qemu-<arch>.conf` into `register`. An entry must carry the `F` flag: the
//! kernel then opens the interpreter at registration, so it runs inside a container's root file
//! system, which has no qemu. Registrations stay (they are the machine's, as after
//! `update-binfmts`); nothing else is changed.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::process::output_blocking;
use crate::arches::{ARCHES, Arch};
use crate::registry_process::which;

/// Where binfmt_misc is mounted.
const BINFMT_MISC: &str = "/proc/sys/fs/binfmt_misc";
/// Where qemu-user-static puts the lines systemd-binfmt would register.
const BINFMT_D: &str = "/usr/lib/binfmt.d";

/// Which foreign architectures run here, and why the others do not.
#[derive(Debug)]
pub struct Qemu {
    arches: Vec<(&'static str, Result<(), String>)>,
}

impl Qemu {
    /// Mounts binfmt_misc and registers the table's foreign architectures where needed.
    pub(crate) fn register() -> Qemu {
        let mounted = mount_binfmt_misc();
        let arches = ARCHES
            .iter()
            .filter(|arch| !arch.is_host())
            .map(|arch| {
                let ready = mounted.clone().and_then(|()| register(arch));
                (arch.qemu, ready)
            })
            .collect();
        Qemu { arches }
    }

    /// Whether a container of `arch` runs here (the host's always does); why not otherwise.
    pub fn runs(&self, arch: &Arch) -> Result<(), String> {
        if arch.is_host() {
            return Ok(());
        }
        self.arches
            .iter()
            .find(|(qemu, _)| *qemu == arch.qemu)
            .map_or_else(
                || Err(format!("no qemu entry for {}", arch.qemu)),
                |(_, ready)| ready.clone(),
            )
    }

    /// One line per foreign architecture: registered, or why not.
    pub fn summary(&self) -> String {
        self.arches
            .iter()
            .map(|(qemu, ready)| match ready {
                Ok(()) => format!("qemu-{qemu}: registered"),
                Err(why) => format!("qemu-{qemu}: {why}"),
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Mounts binfmt_misc unless it is mounted.
fn mount_binfmt_misc() -> Result<(), String> {
    if Path::new(BINFMT_MISC).join("register").exists() {
        return Ok(());
    }
    output_blocking(Command::new("mount").args(["-t", "binfmt_misc", "binfmt_misc", BINFMT_MISC]))
        .map(drop)
        .map_err(|e| format!("binfmt_misc is not mounted and mounting it is not allowed: {e:#}"))
}

/// Registers `arch`'s interpreter unless it is, and checks the entry.
fn register(arch: &Arch) -> Result<(), String> {
    let entry = PathBuf::from(BINFMT_MISC).join(format!("qemu-{}", arch.qemu));
    if !entry.exists() && which("update-binfmts").is_some() {
        // A failure is told by the entry still missing, below.
        let _ = output_blocking(
            Command::new("update-binfmts").args(["--enable", &format!("qemu-{}", arch.qemu)]),
        );
    }
    if !entry.exists() {
        write_register_line(arch)?;
    }
    let state = std::fs::read_to_string(&entry)
        .map_err(|e| format!("{} unreadable after registering: {e}", entry.display()))?;
    check_entry(&state)
}

/// Writes qemu-user-static's `binfmt.d` line for `arch` into `register`.
fn write_register_line(arch: &Arch) -> Result<(), String> {
    let conf = PathBuf::from(BINFMT_D).join(format!("qemu-{}.conf", arch.qemu));
    let text = std::fs::read_to_string(&conf).map_err(|e| {
        format!(
            "not registered, and no {} ({e}; apt-get install qemu-user-static)",
            conf.display()
        )
    })?;
    let line = text
        .lines()
        .find(|l| l.starts_with(':'))
        .ok_or_else(|| format!("{} holds no registration line", conf.display()))?;
    let register = PathBuf::from(BINFMT_MISC).join("register");
    match std::fs::write(&register, line) {
        Ok(()) => Ok(()),
        // Registered meanwhile by another test process.
        Err(e) if e.raw_os_error() == Some(17) => Ok(()),
        Err(e) => Err(format!("writing {} refused: {e}", register.display())),
    }
}

/// An entry must be enabled and carry the `F` flag (its interpreter opened at registration).
fn check_entry(state: &str) -> Result<(), String> {
    if !state.lines().any(|l| l == "enabled") {
        return Err(format!("registered but disabled: {}", state.trim()));
    }
    let flags = state
        .lines()
        .find_map(|l| l.strip_prefix("flags: "))
        .unwrap_or("");
    if !flags.contains('F') {
        return Err(format!(
            "registered without the F flag (flags {flags:?}), so a container cannot reach the \
             interpreter"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_runs_containers_only_when_enabled_with_the_f_flag() {
        let entry = |state: &str, flags: &str| {
            format!(
                "{state}\ninterpreter /usr/libexec/qemu-binfmt/s390x-binfmt-P\nflags: {flags}\noffset 0\n"
            )
        };
        assert!(check_entry(&entry("enabled", "POCF")).is_ok());
        assert!(
            check_entry(&entry("enabled", "OC"))
                .unwrap_err()
                .contains("F flag")
        );
        assert!(
            check_entry(&entry("disabled", "POCF"))
                .unwrap_err()
                .contains("disabled")
        );
    }
}

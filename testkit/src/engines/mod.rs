//! Real container engines for tests, run as root without systemd: Debian's containerd (driven
//! with `ctr`), dockerd on that containerd, and podman, each with its config, data, state and
//! sockets in one folder of its own under `/tmp`, and qemu-user-static through binfmt_misc for
//! foreign children ([`Qemu`]). They are started once per test process ([`Engines::shared`]),
//! each on its own: what the machine lacks or forbids makes that engine unavailable with a
//! reason ([`Engines::engine`]), which the test logs as it skips. When the test process ends, a
//! reaper stops dockerd then containerd by PID and removes the folder (`process`).
//!
//! A pull for a platform gives what the engine took ([`Pulled`]: the config's digest, which is the
//! image id of docker and podman, and the manifest's where the engine tells it); a run starts
//! exactly that image and gives what it printed.

mod binfmt;
mod containerd;
mod docker;
mod podman;
mod process;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::Context;

pub use binfmt::Qemu;
pub use containerd::Containerd;
pub use docker::Docker;
pub use podman::Podman;

use crate::fixtures::Platform;
use crate::registry_process::which;
use process::Reaper;

/// How long one engine command (a pull, a run) may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// The engines of this test process.
#[derive(Debug)]
pub struct Engines {
    /// containerd, or why it does not run here.
    pub containerd: Result<Containerd, String>,
    /// dockerd on that containerd, or why it does not run here.
    pub docker: Result<Docker, String>,
    /// podman, or why it does not run here.
    pub podman: Result<Podman, String>,
    /// Which foreign architectures run.
    pub qemu: Qemu,
    /// How long the start took, all of it.
    pub started_in: Duration,
    dir: Option<PathBuf>,
    _reaper: Option<Reaper>,
}

/// One of the engines, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineKind {
    /// containerd through `ctr`.
    Ctr,
    /// dockerd through `docker`.
    Docker,
    /// podman.
    Podman,
}

impl fmt::Display for EngineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EngineKind::Ctr => "ctr",
            EngineKind::Docker => "docker",
            EngineKind::Podman => "podman",
        })
    }
}

/// An engine that runs, ready to pull and run.
#[derive(Clone, Copy, Debug)]
pub enum Engine<'a> {
    /// containerd through `ctr`.
    Ctr(&'a Containerd),
    /// dockerd through `docker`.
    Docker(&'a Docker),
    /// podman.
    Podman(&'a Podman),
}

/// What a pull for one platform took.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pulled {
    /// The digest of the image's config (docker's and podman's image id).
    pub config: String,
    /// The manifest digests the engine records for the image in the reference's repository: ctr
    /// the image manifest it fetched; podman its `RepoDigests` (the list's and the image's);
    /// docker 20.10 its `RepoDigests` (only the list's).
    pub recorded: Vec<String>,
    /// What a run starts: an image id, or (ctr) the reference.
    image: String,
    /// The containerd namespace the pull went into (ctr).
    namespace: Option<String>,
    /// The platform asked for.
    platform: String,
}

impl Engines {
    /// The engines, started at the first call in the process (blocking: well under a minute).
    pub fn get() -> &'static Engines {
        static ENGINES: OnceLock<Engines> = OnceLock::new();
        ENGINES.get_or_init(Engines::start)
    }

    /// [`Engines::get`] from async code.
    pub async fn shared() -> &'static Engines {
        tokio::task::spawn_blocking(Engines::get)
            .await
            .expect("the engines' start panicked")
    }

    /// The folder everything is in, when it was made.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The engine `kind`, or why it does not run here.
    pub fn engine(&self, kind: EngineKind) -> Result<Engine<'_>, String> {
        match kind {
            EngineKind::Ctr => self.containerd.as_ref().map(Engine::Ctr),
            EngineKind::Docker => self.docker.as_ref().map(Engine::Docker),
            EngineKind::Podman => self.podman.as_ref().map(Engine::Podman),
        }
        .map_err(Clone::clone)
    }

    fn start() -> Engines {
        let started = Instant::now();
        let mut engines = match prepare() {
            Ok((dir, reaper)) => Engines::start_in(dir, reaper),
            Err(why) => Engines::unavailable(why),
        };
        engines.started_in = started.elapsed();
        eprintln!("{engines}");
        engines
    }

    /// Every engine unavailable for one reason.
    fn unavailable(why: String) -> Engines {
        Engines {
            containerd: Err(why.clone()),
            docker: Err(why.clone()),
            podman: Err(why),
            qemu: Qemu::register(),
            started_in: Duration::ZERO,
            dir: None,
            _reaper: None,
        }
    }

    /// Starts containerd then dockerd, while podman's store is made and qemu registered.
    fn start_in(dir: PathBuf, reaper: Reaper) -> Engines {
        let (podman, qemu) = std::thread::scope(|scope| {
            let podman_dir = dir.join("podman");
            let podman = scope.spawn(move || {
                needs(&["podman", "conmon", "runc"], "podman runc")?;
                Podman::prepare(&podman_dir).map_err(|e| format!("{e:#}"))
            });
            let qemu = scope.spawn(Qemu::register);
            (
                podman.join().expect("podman's start panicked"),
                qemu.join().expect("qemu's registration panicked"),
            )
        });
        let containerd = needs(
            &["containerd", "ctr", "containerd-shim-runc-v2", "runc"],
            "containerd runc",
        )
        .and_then(|()| Containerd::start(&dir.join("containerd")).map_err(|e| format!("{e:#}")));
        let docker = match &containerd {
            Ok(containerd) => needs(&["dockerd", "docker"], "docker.io").and_then(|()| {
                Docker::start(&dir.join("docker"), containerd.address())
                    .map_err(|e| format!("{e:#}"))
            }),
            Err(why) => Err(format!("dockerd runs on containerd, which does not: {why}")),
        };
        Engines {
            containerd,
            docker,
            podman,
            qemu,
            started_in: Duration::ZERO,
            dir: Some(dir),
            _reaper: Some(reaper),
        }
    }
}

/// Checks that the engines may run here, makes their folder and starts its reaper.
fn prepare() -> Result<(PathBuf, Reaper), String> {
    use std::os::unix::fs::MetadataExt as _;
    let uid = std::fs::metadata("/proc/self").map_or(u32::MAX, |m| m.uid());
    if uid != 0 {
        return Err(format!(
            "the engines run as root, and this test process runs as uid {uid}"
        ));
    }
    let made = || -> anyhow::Result<(PathBuf, Reaper)> {
        let dir = tempfile::Builder::new()
            .prefix("manifold-engines-")
            .tempdir_in("/tmp")
            .context("make the engines' folder in /tmp")?
            .keep();
        let pid_files = [
            docker::pid_file(&dir.join("docker")),
            containerd::pid_file(&dir.join("containerd")),
        ];
        let reaper = Reaper::start(&dir, &pid_files)?;
        Ok((dir, reaper))
    };
    made().map_err(|e| format!("{e:#}"))
}

/// The digests of `RepoDigests` (`repository@digest`) in `inspect` (one image of
/// `docker|podman image inspect`) that name `reference`'s repository.
fn repo_digests(inspect: &serde_json::Value, reference: &str) -> Vec<String> {
    let repository = match reference.rsplit_once(':') {
        Some((repository, tag)) if !tag.contains('/') => repository,
        _ => reference,
    };
    inspect["RepoDigests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d.as_str()?.split_once('@'))
        .filter(|(repo, _)| *repo == repository)
        .map(|(_, digest)| digest.to_owned())
        .collect()
}

/// Fails, naming what to install, unless every program is on `PATH`.
fn needs(programs: &[&str], packages: &str) -> Result<(), String> {
    let missing: Vec<&str> = programs
        .iter()
        .copied()
        .filter(|p| which(p).is_none())
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} not on PATH (apt-get install {packages})",
            missing.join(", ")
        ))
    }
}

impl fmt::Display for Engines {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = |pid: Result<u32, &String>| match pid {
            Ok(pid) => format!("up, pid {pid}"),
            Err(why) => format!("UNAVAILABLE: {why}"),
        };
        writeln!(
            f,
            "engines started in {:.1} s in {}",
            self.started_in.as_secs_f64(),
            self.dir
                .as_deref()
                .map_or("(no folder)".into(), |d| d.display().to_string())
        )?;
        writeln!(
            f,
            "  containerd: {}",
            state(self.containerd.as_ref().map(Containerd::pid))
        )?;
        writeln!(
            f,
            "  dockerd: {}",
            state(self.docker.as_ref().map(Docker::pid))
        )?;
        let podman = self.podman.as_ref().map(|_| "ready (no daemon)".to_owned());
        writeln!(
            f,
            "  podman: {}",
            podman.unwrap_or_else(|why| format!("UNAVAILABLE: {why}"))
        )?;
        write!(f, "  {}", self.qemu.summary())
    }
}

impl Engine<'_> {
    /// Which engine this is.
    pub fn kind(&self) -> EngineKind {
        match self {
            Engine::Ctr(_) => EngineKind::Ctr,
            Engine::Docker(_) => EngineKind::Docker,
            Engine::Podman(_) => EngineKind::Podman,
        }
    }

    /// Pulls `reference` (a list on a plain-HTTP registry on 127.0.0.1) for `platform`.
    pub async fn pull(&self, reference: &str, platform: &Platform) -> anyhow::Result<Pulled> {
        match self {
            Engine::Ctr(containerd) => containerd.pull(reference, platform).await,
            Engine::Docker(docker) => docker.pull(reference, platform).await,
            Engine::Podman(podman) => podman.pull(reference, platform).await,
        }
        .with_context(|| format!("{} pull of {reference} for {platform}", self.kind()))
    }

    /// Runs the image a pull took, with no network; what it printed.
    pub async fn run(&self, pulled: &Pulled) -> anyhow::Result<String> {
        match self {
            Engine::Ctr(containerd) => containerd.run(pulled).await,
            Engine::Docker(docker) => docker.run(pulled).await,
            Engine::Podman(podman) => podman.run(pulled).await,
        }
        .with_context(|| {
            format!(
                "{} run of {} for {}",
                self.kind(),
                pulled.image,
                pulled.platform
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_digests_are_those_of_the_references_repository() {
        let image = serde_json::json!({"RepoDigests": [
            "127.0.0.1:5000/fleet@sha256:aaa",
            "127.0.0.1:5000/other@sha256:bbb",
            "127.0.0.1:5000/fleet@sha256:ccc",
        ]});
        assert_eq!(
            repo_digests(&image, "127.0.0.1:5000/fleet:v1"),
            ["sha256:aaa", "sha256:ccc"]
        );
        assert!(repo_digests(&serde_json::json!({}), "127.0.0.1:5000/fleet:v1").is_empty());
    }
}

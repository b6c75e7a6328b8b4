//! Debian's podman for tests (no daemon: each command works on the store): root and run root
//! under the engines' folder on the `vfs` driver, and a `containers.conf` of its own. That one
//! names `runc` (crun, podman's first choice, refuses the machine's hybrid cgroups and the
//! rlimits a sandbox without CAP_SYS_RESOURCE cannot raise), gives `default_ulimits` below the
//! machine's hard limits (podman otherwise asks for a million open files), uses cgroupfs and file
//! events (there is no systemd) and file locks (no shared memory segment shared with another
//! podman). An empty `registries.conf` and auth file keep the machine's settings out.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, ensure};

use super::process::{output, output_blocking};
use super::{COMMAND_TIMEOUT, Pulled, repo_digests};
use crate::fixtures::Platform;

/// Podman's store and settings.
#[derive(Debug)]
pub struct Podman {
    dir: PathBuf,
}

impl Podman {
    /// Writes the settings into `dir` and checks that podman opens its store there.
    pub(crate) fn prepare(dir: &Path) -> anyhow::Result<Podman> {
        for sub in ["root", "run", "tmp", "networks", "home"] {
            std::fs::create_dir_all(dir.join(sub))?;
        }
        let path = |p: &str| {
            serde_json::to_string(&dir.join(p).to_string_lossy()).expect("strings serialise")
        };
        let files = [
            (
                "storage.conf",
                format!(
                    "[storage]\ndriver = \"vfs\"\ngraphroot = {}\nrunroot = {}\n",
                    path("root"),
                    path("run")
                ),
            ),
            (
                "containers.conf",
                format!(
                    "[containers]\n\
                     default_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n\
                     netns = \"none\"\n\
                     [engine]\n\
                     runtime = \"runc\"\n\
                     cgroup_manager = \"cgroupfs\"\n\
                     events_logger = \"file\"\n\
                     events_logfile_path = {}\n\
                     lock_type = \"file\"\n\
                     tmp_dir = {}\n\
                     [network]\n\
                     network_config_dir = {}\n",
                    path("events.log"),
                    path("tmp"),
                    path("networks")
                ),
            ),
            (
                "registries.conf",
                "unqualified-search-registries = []\n".to_owned(),
            ),
            ("auth.json", "{}\n".to_owned()),
        ];
        for (name, text) in files {
            std::fs::write(dir.join(name), text).with_context(|| format!("write {name}"))?;
        }
        let podman = Podman {
            dir: dir.to_owned(),
        };
        let mut info = podman.command();
        info.args(["info", "--format", "{{.Store.GraphDriverName}}"]);
        let driver = output_blocking(&mut info)?;
        ensure!(
            driver.trim() == "vfs",
            "podman info says the driver is {driver:?}"
        );
        Ok(podman)
    }

    /// `podman --root … --runroot … --storage-driver vfs` with the settings' environment.
    pub fn podman(&self) -> tokio::process::Command {
        tokio::process::Command::from(self.command())
    }

    fn command(&self) -> Command {
        let dir = &self.dir;
        let mut cmd = Command::new("podman");
        cmd.arg("--root")
            .arg(dir.join("root"))
            .arg("--runroot")
            .arg(dir.join("run"))
            .args(["--storage-driver", "vfs"])
            .env("CONTAINERS_CONF", dir.join("containers.conf"))
            .env("CONTAINERS_STORAGE_CONF", dir.join("storage.conf"))
            .env("CONTAINERS_REGISTRIES_CONF", dir.join("registries.conf"))
            .env("REGISTRY_AUTH_FILE", dir.join("auth.json"))
            .env("HOME", dir.join("home"))
            .env_remove("CONTAINER_HOST")
            .env_remove("CONTAINER_CONNECTION");
        cmd
    }

    /// `podman pull --tls-verify=false --platform P REFERENCE`: it prints the image id (its
    /// config's digest); `podman image inspect` gives the digests it recorded (the list's and
    /// the image manifest's).
    pub async fn pull(&self, reference: &str, platform: &Platform) -> anyhow::Result<Pulled> {
        let mut pull = self.podman();
        pull.args(["pull", "--quiet", "--tls-verify=false", "--platform"])
            .arg(platform.to_string())
            .arg(reference);
        let id = output(pull, COMMAND_TIMEOUT).await?.trim().to_owned();
        let mut inspect = self.podman();
        inspect.args(["image", "inspect"]).arg(&id);
        let images: serde_json::Value =
            serde_json::from_str(&output(inspect, COMMAND_TIMEOUT).await?)
                .context("podman image inspect printed no JSON")?;
        Ok(Pulled {
            config: format!("sha256:{id}"),
            recorded: repo_digests(&images[0], reference),
            image: id,
            namespace: None,
            platform: platform.to_string(),
        })
    }

    /// `podman run --rm --network none IMAGE-ID`: what the container printed.
    pub async fn run(&self, pulled: &Pulled) -> anyhow::Result<String> {
        let mut run = self.podman();
        run.args(["run", "--rm", "--network", "none"])
            .arg(&pulled.image);
        output(run, COMMAND_TIMEOUT).await
    }
}

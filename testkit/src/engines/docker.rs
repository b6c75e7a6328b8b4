//! Debian's dockerd for tests, on the engines' containerd, and the `docker` client to drive it:
//! data root, exec root, pid file, socket and an empty daemon config of its own under the engines'
//! folder; no bridge and no iptables (there is no network set-up to make, and containers run with
//! `--network none`); the `vfs` storage driver (it needs no mount of its own). A registry on
//! 127.0.0.0/8 is insecure to dockerd by default, so it pulls plain HTTP from the test registries.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::Context;

use super::process::{Daemon, output, output_blocking};
use super::{COMMAND_TIMEOUT, Pulled, repo_digests};
use crate::fixtures::Platform;

/// How long dockerd may take to answer `docker version`.
const START_TIMEOUT: Duration = Duration::from_secs(45);

/// A running dockerd.
#[derive(Debug)]
pub struct Docker {
    host: String,
    client_config: PathBuf,
    daemon: Daemon,
}

impl Docker {
    /// Starts dockerd with its folders under `dir`, on the containerd at `containerd`; waits until
    /// the client reaches it.
    pub(crate) fn start(dir: &Path, containerd: &Path) -> anyhow::Result<Docker> {
        let client_config = dir.join("client");
        std::fs::create_dir_all(&client_config)?;
        let daemon_json = dir.join("daemon.json");
        std::fs::write(&daemon_json, "{}\n")?;
        let host = format!("unix://{}", dir.join("docker.sock").display());
        let mut cmd = Command::new("dockerd");
        cmd.arg("--config-file")
            .arg(&daemon_json)
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(pid_file(dir))
            .arg("--host")
            .arg(&host)
            .arg("--containerd")
            .arg(containerd)
            .args([
                "--bridge=none",
                "--iptables=false",
                "--ip-masq=false",
                "--userland-proxy=false",
                "--storage-driver=vfs",
            ]);
        let mut daemon = Daemon::spawn("dockerd", cmd, dir.join("dockerd.log"), None)?;
        let mut probe = client(&host, &client_config);
        probe.args(["version", "--format", "{{.Server.Version}}"]);
        daemon.wait_until(START_TIMEOUT, || output_blocking(&mut probe).is_ok())?;
        Ok(Docker {
            host,
            client_config,
            daemon,
        })
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.daemon.pid()
    }

    /// `docker` with `DOCKER_HOST` and `DOCKER_CONFIG` naming this daemon and a client config of
    /// its own.
    pub fn docker(&self) -> tokio::process::Command {
        tokio::process::Command::from(client(&self.host, &self.client_config))
    }

    /// `docker pull --platform P REFERENCE`; the image it took is the one the tag names now
    /// (`docker image inspect`: its id is its config's digest; 20.10 records the list's digest
    /// only).
    pub async fn pull(&self, reference: &str, platform: &Platform) -> anyhow::Result<Pulled> {
        let mut pull = self.docker();
        pull.args(["pull", "--quiet", "--platform"])
            .arg(platform.to_string())
            .arg(reference);
        output(pull, COMMAND_TIMEOUT).await?;
        let mut inspect = self.docker();
        inspect
            .args(["image", "inspect", "--format", "{{json .}}"])
            .arg(reference);
        let image: serde_json::Value =
            serde_json::from_str(&output(inspect, COMMAND_TIMEOUT).await?)
                .context("docker image inspect printed no JSON")?;
        let id = image["Id"].as_str().context("no Id")?.to_owned();
        Ok(Pulled {
            config: id.clone(),
            recorded: repo_digests(&image, reference),
            image: id,
            namespace: None,
            platform: platform.to_string(),
        })
    }

    /// `docker run --rm --network none IMAGE-ID`: what the container printed.
    pub async fn run(&self, pulled: &Pulled) -> anyhow::Result<String> {
        let mut run = self.docker();
        run.args(["run", "--rm", "--network", "none"])
            .arg(&pulled.image);
        output(run, COMMAND_TIMEOUT).await
    }

    /// `docker run --rm --network none --pull always [--platform P] REFERENCE`, as a user runs a
    /// list: what the container printed.
    pub async fn run_reference(
        &self,
        reference: &str,
        platform: Option<&Platform>,
    ) -> anyhow::Result<String> {
        let mut run = self.docker();
        run.args(["run", "--rm", "--network", "none", "--pull", "always"]);
        if let Some(platform) = platform {
            run.arg("--platform").arg(platform.to_string());
        }
        run.arg(reference);
        output(run, COMMAND_TIMEOUT)
            .await
            .with_context(|| format!("docker run {reference}"))
    }
}

/// `docker` for the daemon at `host`, with the client config in `config`.
fn client(host: &str, config: &Path) -> Command {
    let mut cmd = Command::new("docker");
    cmd.env("DOCKER_HOST", host)
        .env("DOCKER_CONFIG", config)
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_TLS_VERIFY");
    cmd
}

/// Where dockerd writes its PID, for the reaper.
pub(crate) fn pid_file(dir: &Path) -> PathBuf {
    dir.join("dockerd.pid")
}

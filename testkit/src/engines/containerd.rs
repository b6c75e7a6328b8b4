//! Debian's containerd for tests, and `ctr` to drive it: a config of its own (root, state, the
//! gRPC and ttrpc sockets, the plugins' `opt` folder, all under the engines' folder; the CRI plugin
//! off), started as a [`Daemon`]. A pull happens in a namespace of its own, so that what the
//! namespace holds afterwards is what that pull took ([`Containerd::pull`]).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};

use super::process::{Daemon, output, output_blocking};
use super::{COMMAND_TIMEOUT, Pulled};
use crate::fixtures::Platform;

/// How long containerd may take to answer `ctr version`.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running containerd.
#[derive(Debug)]
pub struct Containerd {
    dir: PathBuf,
    address: PathBuf,
    daemon: Daemon,
    namespaces: AtomicU64,
}

impl Containerd {
    /// Writes the config into `dir` and starts containerd on it; waits until `ctr` reaches it.
    pub(crate) fn start(dir: &Path) -> anyhow::Result<Containerd> {
        std::fs::create_dir_all(dir.join("fifo"))?;
        let address = dir.join("containerd.sock");
        let config = dir.join("config.toml");
        std::fs::write(&config, config_toml(dir, &address))
            .with_context(|| format!("write {}", config.display()))?;
        let mut cmd = Command::new("containerd");
        cmd.arg("--config").arg(&config);
        let mut daemon = Daemon::spawn(
            "containerd",
            cmd,
            dir.join("containerd.log"),
            Some(&pid_file(dir)),
        )?;
        let mut probe = Command::new("ctr");
        probe.arg("--address").arg(&address).arg("version");
        daemon.wait_until(START_TIMEOUT, || output_blocking(&mut probe).is_ok())?;
        Ok(Containerd {
            dir: dir.to_owned(),
            address,
            daemon,
            namespaces: AtomicU64::new(0),
        })
    }

    /// Its gRPC socket (dockerd's `--containerd`).
    pub fn address(&self) -> &Path {
        &self.address
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.daemon.pid()
    }

    /// `ctr --address SOCKET --namespace NAMESPACE`, ready for a subcommand.
    pub fn ctr(&self, namespace: &str) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new("ctr");
        cmd.arg("--address")
            .arg(&self.address)
            .arg("--namespace")
            .arg(namespace);
        cmd
    }

    /// `ctr images pull --plain-http --platform P REFERENCE` in a fresh namespace; the child it
    /// took is the manifest the namespace's content labels with a config
    /// (`containerd.io/gc.ref.content.config`).
    pub async fn pull(&self, reference: &str, platform: &Platform) -> anyhow::Result<Pulled> {
        let n = self.namespaces.fetch_add(1, Ordering::Relaxed);
        let namespace = format!("pull-{}-{n}", std::process::id());
        let mut pull = self.ctr(&namespace);
        pull.args(["images", "pull", "--plain-http", "--platform"])
            .arg(platform.to_string())
            .arg(reference);
        output(pull, COMMAND_TIMEOUT).await?;
        let mut list = self.ctr(&namespace);
        list.args(["content", "ls"]);
        let content = output(list, COMMAND_TIMEOUT).await?;
        let (manifest, config) = picked_manifest(&content)?;
        Ok(Pulled {
            config,
            recorded: vec![manifest],
            image: reference.to_owned(),
            namespace: Some(namespace),
            platform: platform.to_string(),
        })
    }

    /// `ctr run --rm --platform P REFERENCE ID` in the pull's namespace, its FIFOs and runc's
    /// state in the folder: what the container printed.
    pub async fn run(&self, pulled: &Pulled) -> anyhow::Result<String> {
        let namespace = pulled.namespace.as_deref().context("not pulled by ctr")?;
        let id = format!("{namespace}-run");
        let mut run = self.ctr(namespace);
        run.args(["run", "--rm", "--fifo-dir"])
            .arg(self.dir.join("fifo"))
            .arg("--runc-root")
            .arg(self.dir.join("runc"))
            .arg("--platform")
            .arg(&pulled.platform)
            .arg(&pulled.image)
            .arg(id);
        output(run, COMMAND_TIMEOUT).await
    }
}

/// Where containerd's PID is written, for the reaper.
pub(crate) fn pid_file(dir: &Path) -> PathBuf {
    dir.join("containerd.pid")
}

/// containerd's config: everything under `dir`, the CRI plugin (which wants a CNI set-up) off.
fn config_toml(dir: &Path, address: &Path) -> String {
    let path = |p: &Path| serde_json::to_string(&p.to_string_lossy()).expect("strings serialise");
    format!(
        "version = 2\n\
         root = {root}\n\
         state = {state}\n\
         disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
         [grpc]\n  address = {address}\n\
         [ttrpc]\n  address = {ttrpc}\n\
         [debug]\n  address = \"\"\n\
         [metrics]\n  address = \"\"\n\
         [plugins.\"io.containerd.internal.v1.opt\"]\n  path = {opt}\n",
        root = path(&dir.join("root")),
        state = path(&dir.join("state")),
        address = path(address),
        ttrpc = path(&dir.join("containerd.sock.ttrpc")),
        opt = path(&dir.join("opt")),
    )
}

/// From `ctr content ls` (DIGEST SIZE AGE LABELS): the one manifest labelled with a config, and
/// that config.
fn picked_manifest(content: &str) -> anyhow::Result<(String, String)> {
    const CONFIG_LABEL: &str = "containerd.io/gc.ref.content.config=";
    let picked: Vec<(String, String)> = content
        .lines()
        .skip(1)
        .filter_map(|line| {
            let digest = line.split_whitespace().next()?;
            let labels = line.split_whitespace().last()?;
            let config = labels
                .split(',')
                .find_map(|label| label.strip_prefix(CONFIG_LABEL))?;
            Some((digest.to_owned(), config.to_owned()))
        })
        .collect();
    match picked.as_slice() {
        [one] => Ok(one.clone()),
        _ => bail!("ctr took {} images, not one:\n{content}", picked.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_picked_manifest_is_the_one_labelled_with_a_config() {
        let content = "DIGEST\tSIZE\tAGE\tLABELS\n\
            sha256:aaa\t1.2kB\t1 second\tcontainerd.io/distribution.source.x=y,containerd.io/gc.ref.content.m.1=sha256:bbb\n\
            sha256:bbb\t500B\t1 second\tcontainerd.io/gc.ref.content.config=sha256:ccc,containerd.io/gc.ref.content.l.0=sha256:ddd\n\
            sha256:ccc\t300B\t1 second\tcontainerd.io/gc.ref.snapshot.overlayfs=sha256:eee\n";
        assert_eq!(
            picked_manifest(content).unwrap(),
            ("sha256:bbb".to_owned(), "sha256:ccc".to_owned())
        );
        assert!(picked_manifest("DIGEST\tSIZE\tAGE\tLABELS\n").is_err());
    }
}

//! Running the `docker-registry` process for [`crate::registry`]: finding the binary, spawning
//! it (from one long-lived thread, with a parent-death signal where `setpriv` exists), picking a
//! free port, and waiting until it answers.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{OnceLock, mpsc};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::registry::REGISTRY_BIN_ENV;

/// How long [`crate::TestRegistry`] waits for `GET /v2/` to answer after starting the process.
const READY_TIMEOUT: Duration = Duration::from_secs(15);

/// A port that was free a moment ago (the OS picks it for a listener on port 0).
pub(crate) fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("bind 127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Finds `name` on `PATH`.
pub(crate) fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Starts `docker-registry serve CONFIG` with stdout and stderr going to `log`.
pub(crate) fn spawn_registry(config: &Path, log: File) -> anyhow::Result<Child> {
    let bin = std::env::var_os(REGISTRY_BIN_ENV)
        .map(PathBuf::from)
        .or_else(|| which("docker-registry"))
        .context("docker-registry not found on PATH (apt-get install docker-registry)")?;
    let mut cmd = match which("setpriv") {
        // The child gets SIGKILL when the thread that spawned it ends; `spawn_detached` spawns
        // from a thread that lives as long as the process.
        Some(setpriv) => {
            let mut cmd = Command::new(setpriv);
            cmd.args(["--pdeathsig", "KILL"]).arg(&bin);
            cmd
        }
        None => Command::new(&bin),
    };
    cmd.arg("serve")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(log.try_clone().context("clone log handle")?)
        .stderr(log);
    spawn_detached(cmd).with_context(|| format!("spawn {}", bin.display()))
}

type SpawnRequest = (Command, mpsc::Sender<io::Result<Child>>);

/// Spawns `cmd` from one long-lived thread, so that a parent-death signal tied to the spawning
/// thread fires only when the whole test process ends (test threads come and go).
fn spawn_detached(cmd: Command) -> io::Result<Child> {
    static SPAWNER: OnceLock<mpsc::Sender<SpawnRequest>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("testkit-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .expect("start spawner thread");
        tx
    });
    let (reply_tx, reply_rx) = mpsc::channel();
    spawner
        .send((cmd, reply_tx))
        .map_err(|_| io::Error::other("spawner thread gone"))?;
    reply_rx
        .recv()
        .map_err(|_| io::Error::other("spawner thread gone"))?
}

/// Polls `GET /v2/` until it answers 200 or 401, the child exits, or [`READY_TIMEOUT`] passes.
/// Over TLS the certificate is not checked here (the log line below makes sure it is ours).
///
/// With `log` given, also waits for the registry's own `listening on 127.0.0.1:PORT` line, so
/// that another process that grabbed the port in the meantime is not mistaken for ours.
pub(crate) async fn wait_ready(
    child: &mut Child,
    port: u16,
    tls: bool,
    log: Option<&Path>,
) -> anyhow::Result<()> {
    let client = crate::http_client()
        .timeout(Duration::from_secs(2))
        .tls_danger_accept_invalid_certs(tls)
        .build()?;
    let scheme = if tls { "https" } else { "http" };
    let url = format!("{scheme}://127.0.0.1:{port}/v2/");
    let listening = format!("listening on 127.0.0.1:{port}");
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            bail!("process exited with {status}");
        }
        let ours = log
            .is_none_or(|log| fs::read_to_string(log).is_ok_and(|text| text.contains(&listening)));
        if ours && let Ok(resp) = client.get(&url).send().await {
            match resp.status().as_u16() {
                200 | 401 => return Ok(()),
                other => bail!("GET /v2/ answered {other}"),
            }
        }
        if started.elapsed() > READY_TIMEOUT {
            bail!("GET {url} did not answer within {READY_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

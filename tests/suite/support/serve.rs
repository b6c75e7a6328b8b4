//! `manifold serve` as a child process: started on port 0 with its own working directory and log,
//! driven over HTTP through a [`ServiceClient`] (which a `Serve` derefs to, its failures showing
//! the log), killed for real.

use std::ffi::{OsStr, OsString};
use std::ops::Deref;
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use super::client::ServiceClient;
use super::stores::TestDb;
use super::wait;

/// One `manifold serve` child process with its own log file (stdout and stderr).
pub struct Serve {
    child: tokio::process::Child,
    pub pid: u32,
    api: ServiceClient,
    log_path: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

impl Deref for Serve {
    type Target = ServiceClient;

    fn deref(&self) -> &ServiceClient {
        &self.api
    }
}

impl Serve {
    /// Starts `manifold serve` on port 0 against `db` with these settings; waits until it
    /// announces its port and answers `/healthz`.
    pub async fn start<K: AsRef<OsStr>, V: AsRef<OsStr>>(db: &TestDb, env: &[(K, V)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut all: Vec<(OsString, OsString)> =
            vec![("DATABASE_URL".into(), db.url.clone().into())];
        all.extend(
            env.iter()
                .map(|(k, v)| (k.as_ref().to_owned(), v.as_ref().to_owned())),
        );
        let mut serve = Self::start_in(dir.path(), &all).await;
        serve._dir = Some(dir);
        serve
    }

    /// Starts `manifold serve` in `dir` (its working directory) with only these settings (no
    /// DATABASE_URL unless given).
    pub async fn start_in<K: AsRef<OsStr>, V: AsRef<OsStr>>(dir: &Path, env: &[(K, V)]) -> Self {
        let log_path = dir.join(format!("serve-{}.log", uuid::Uuid::new_v4().simple()));
        let log = std::fs::File::create(&log_path).unwrap();
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_manifold"));
        cmd.arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", dir)
            .current_dir(dir)
            .env("MANIFOLD_ADDR", "127.0.0.1:0")
            .env("MANIFOLD_LOG", "manifold=info")
            .env("MANIFOLD_JOB_BACKOFF_MS", "50")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("manifold serve starts");
        let pid = child.id().expect("a running child has a pid");
        let listening = || {
            let log = read_log(&log_path);
            if let Some(status) = child.try_wait().unwrap() {
                panic!("manifold serve exited with {status} before listening:\n{log}");
            }
            async move { announced_port(&log) }
        };
        let port = wait::until_some(
            "manifold serve listening",
            || read_log(&log_path),
            listening,
        )
        .await;
        let logged = log_path.clone();
        let api = ServiceClient::new(format!("http://127.0.0.1:{port}"), None)
            .with_context(move || read_log(&logged));
        let serve = Self {
            child,
            pid,
            api,
            log_path,
            _dir: None,
        };
        serve.wait_healthy().await;
        serve
    }

    /// Waits until `/healthz` answers 200.
    async fn wait_healthy(&self) {
        let up = || async {
            let up = self.request(reqwest::Method::GET, "/healthz").send().await;
            up.is_ok_and(|r| r.status() == 200)
        };
        wait::until("/healthz answering", || self.log(), up).await;
    }

    /// The process's log so far.
    pub fn log(&self) -> String {
        read_log(&self.log_path)
    }

    /// The `claimed a push job` lines of this process's log.
    pub fn claims(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| l.contains("claimed a push job"))
            .map(str::to_owned)
            .collect()
    }

    /// SIGKILL, and waits until the process is gone.
    pub async fn kill(&mut self) {
        self.child.start_kill().expect("SIGKILL");
        let status = self.child.wait().await.unwrap();
        assert_eq!(status.signal(), Some(9), "the process ended by SIGKILL");
    }
}

/// The log at `path` so far (nothing, before it exists).
fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The port of the `manifold listening on 127.0.0.1:PORT` line.
fn announced_port(log: &str) -> Option<u16> {
    log.lines()
        .find_map(|l| l.split_once("manifold listening on 127.0.0.1:"))
        .and_then(|(_, rest)| {
            let digits = rest
                .trim_start()
                .split(|c: char| !c.is_ascii_digit())
                .next();
            digits?.parse().ok()
        })
}

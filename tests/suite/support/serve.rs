//! `manifold serve` as a child process: started on port 0 with its own working directory and log,
//! driven over HTTP, killed for real.

use std::ffi::{OsStr, OsString};
use std::os::unix::process::ExitStatusExt as _;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use super::stores::TestDb;

/// Longest wait for anything in these tests.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// One `manifold serve` child process with its own log file (stdout and stderr).
pub struct Serve {
    child: tokio::process::Child,
    pub pid: u32,
    pub base: String,
    http: reqwest::Client,
    log_path: PathBuf,
    _dir: Option<tempfile::TempDir>,
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
    pub async fn start_in<K: AsRef<OsStr>, V: AsRef<OsStr>>(
        dir: &std::path::Path,
        env: &[(K, V)],
    ) -> Self {
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
        let deadline = Instant::now() + PATIENCE;
        let port = loop {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            if let Some(port) = announced_port(&log) {
                break port;
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!("manifold serve exited with {status} before listening:\n{log}");
            }
            assert!(
                Instant::now() < deadline,
                "manifold serve never listened:\n{log}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let serve = Self {
            child,
            pid,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
            log_path,
            _dir: None,
        };
        loop {
            let up = serve
                .http
                .get(format!("{}/healthz", serve.base))
                .send()
                .await;
            if up.is_ok_and(|r| r.status() == 200) {
                return serve;
            }
            assert!(
                Instant::now() < deadline,
                "/healthz never answered:\n{}",
                serve.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The process's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
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

    /// `POST /lists` with a JSON spec, asserting 202; the list's id.
    pub async fn submit(&self, spec: &Value) -> String {
        let response = self
            .http
            .post(format!("{}/lists", self.base))
            .json(spec)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202, "POST /lists:\n{}", self.log());
        let list: Value = response.json().await.unwrap();
        list["id"].as_str().unwrap().to_owned()
    }

    /// `GET path` as JSON, asserting 200.
    pub async fn get_json(&self, path: &str) -> Value {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.unwrap()
    }

    /// Waits until the list has `status`; returns it. Fails fast on another final status.
    pub async fn wait_status(&self, id: &str, status: &str) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let list = self.get_json(&format!("/lists/{id}")).await;
            if list["status"] == status {
                return list;
            }
            let finished = matches!(
                list["status"].as_str(),
                Some("succeeded" | "failed" | "canceled")
            );
            assert!(
                !finished,
                "list {id} ended otherwise than {status}: {list:#}\n{}",
                self.log()
            );
            assert!(
                Instant::now() < deadline,
                "list {id} never became {status}: {list:#}\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The port of the `manifold listening on 127.0.0.1:PORT` line.
fn announced_port(log: &str) -> Option<u16> {
    log.lines()
        .find_map(|l| l.split_once("manifold listening on 127.0.0.1:"))
        .and_then(|(_, port)| port.trim().parse().ok())
}

//! One `manifold serve` child process (the bench profile's binary, or `MANIFOLD_BENCH_BIN`) on
//! loopback, logging to a file: started and waited for, its memory read, stopped gracefully.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::PATIENCE;

/// A running `manifold serve`.
pub struct Serve {
    child: tokio::process::Child,
    pub pid: u32,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    log_path: PathBuf,
}

impl Serve {
    /// Starts the service on `database_url` with `workers` workers, its log in `dir`; returns
    /// once `/healthz` answers.
    pub async fn start(database_url: &str, workers: usize, dir: &Path, name: &str) -> Self {
        Self::start_with(database_url, workers, dir, name, &[]).await
    }

    /// [`Serve::start`] with these settings besides.
    pub async fn start_with(
        database_url: &str,
        workers: usize,
        dir: &Path,
        name: &str,
        env: &[(&str, &str)],
    ) -> Self {
        let log_path = dir.join(format!("serve-{name}.log"));
        let log = std::fs::File::create(&log_path).expect("a log file");
        let bin = std::env::var_os("MANIFOLD_BENCH_BIN").map_or_else(
            || PathBuf::from(env!("CARGO_BIN_EXE_manifold")),
            PathBuf::from,
        );
        let mut child = tokio::process::Command::new(bin)
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", dir)
            .env("DATABASE_URL", database_url)
            .env("MANIFOLD_ADDR", "127.0.0.1:0")
            .env("MANIFOLD_WORKERS", workers.to_string())
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("a log file"))
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("manifold serve starts");
        let pid = child.id().expect("a pid");
        let deadline = Instant::now() + PATIENCE;
        let port = loop {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            let port = log
                .lines()
                .find_map(|l| l.split_once("manifold listening on 127.0.0.1:"))
                .and_then(|(_, port)| port.trim().parse::<u16>().ok());
            if let Some(port) = port {
                break port;
            }
            if let Some(status) = child.try_wait().expect("the child") {
                panic!("manifold serve exited with {status}:\n{log}");
            }
            assert!(Instant::now() < deadline, "manifold serve never listened");
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let base = format!("http://127.0.0.1:{port}");
        let http = manifold_testkit::http_client().build().unwrap();
        while !http
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            assert!(Instant::now() < deadline, "/healthz never answered");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Self {
            child,
            pid,
            base,
            log_path,
        }
    }

    /// VmRSS from /proc, in MB.
    pub fn rss_mb(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .expect("/proc/<pid>/status");
        let kb: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("a VmRSS line");
        kb / 1024.0
    }

    /// VmRSS after a second's rest.
    pub async fn idle_rss_mb(&self) -> f64 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        self.rss_mb()
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// SIGTERM (a graceful stop), SIGKILL if it takes too long.
    pub async fn stop(mut self) {
        let _ = tokio::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .await;
        if tokio::time::timeout(Duration::from_secs(15), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.start_kill();
            let _ = self.child.wait().await;
        }
    }
}

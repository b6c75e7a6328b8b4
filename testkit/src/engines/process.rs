//! The processes behind [`super::Engines`]: a daemon started in a process group of its own with
//! its log in the engines' folder and its PID in a pid file, waited for until it answers
//! ([`Daemon`]); the reaper that stops the daemons by PID and removes the folder once the test
//! process has ended ([`Reaper`]); and running an engine's command line to its end within a time
//! limit ([`output`], [`output_blocking`]).

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::Write as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// How many bytes of a daemon's log an error quotes.
const LOG_TAIL: usize = 1500;

/// A daemon the engines run; stopped by the [`Reaper`] when the test process ends.
#[derive(Debug)]
pub(crate) struct Daemon {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Daemon {
    /// Starts `cmd` in a process group of its own (a Ctrl-C at the terminal is for the test
    /// process; the reaper stops the daemon in order), output to `log`, its PID written to
    /// `pid_file` unless the daemon writes one itself (`None`).
    pub(crate) fn spawn(
        name: &'static str,
        mut cmd: Command,
        log: PathBuf,
        pid_file: Option<&Path>,
    ) -> anyhow::Result<Daemon> {
        let out = File::create(&log).with_context(|| format!("create {}", log.display()))?;
        cmd.stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .process_group(0);
        let child = cmd.spawn().with_context(|| {
            format!(
                "cannot start {}",
                describe(cmd.get_program(), cmd.get_args())
            )
        })?;
        if let Some(pid_file) = pid_file {
            fs::write(pid_file, child.id().to_string())
                .with_context(|| format!("write {}", pid_file.display()))?;
        }
        Ok(Daemon { name, child, log })
    }

    /// Polls `ready` every 50 ms until it says yes; fails, quoting the end of the log, when the
    /// daemon exits or `timeout` passes (and then kills it).
    pub(crate) fn wait_until(
        &mut self,
        timeout: Duration,
        mut ready: impl FnMut() -> bool,
    ) -> anyhow::Result<Duration> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("{} exited ({status}): {}", self.name, self.log_tail());
            }
            if ready() {
                return Ok(started.elapsed());
            }
            if started.elapsed() > timeout {
                let _ = self.child.kill();
                let _ = self.child.wait();
                bail!(
                    "{} did not answer within {timeout:?}: {}",
                    self.name,
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Its process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last [`LOG_TAIL`] bytes of its log.
    pub(crate) fn log_tail(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let mut start = text.len().saturating_sub(LOG_TAIL);
        while !text.is_char_boundary(start) {
            start += 1;
        }
        format!("(log {}) {}", self.log.display(), text[start..].trim())
    }
}

/// Waits on its standard input, which only the test process writes to: when that process ends,
/// however it ends, the input closes and the reaper stops each daemon by the PID in its pid file
/// (SIGTERM, SIGKILL after 15 s; only a process whose command line names the folder), in the
/// order given, unmounts what is still mounted below the folder and removes it.
const REAPER_SCRIPT: &str = r#"
trap '' INT HUP
dir=$1; shift
cat >/dev/null
alive() { [ -d "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }
stop() {
  [ -s "$1" ] || return 0
  pid=$(cat "$1")
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$dir" || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  n=0
  while alive "$pid" && [ "$n" -lt 150 ]; do sleep 0.1; n=$((n + 1)); done
  alive "$pid" && kill -KILL "$pid" 2>/dev/null
  return 0
}
for pid_file in "$@"; do stop "$pid_file"; done
awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r |
  while read -r m; do umount -l "$m"; done
rm -rf --one-file-system "$dir"
"#;

/// The reaper process and the write end of its input, held for the life of the test process.
#[derive(Debug)]
pub(crate) struct Reaper {
    _input: ChildStdin,
    _child: Child,
}

impl Reaper {
    /// Starts the reaper of `dir`, which stops the daemons of `pid_files` in that order.
    pub(crate) fn start(dir: &Path, pid_files: &[PathBuf]) -> anyhow::Result<Reaper> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(REAPER_SCRIPT)
            .arg("manifold-engines-reaper")
            .arg(dir)
            .args(pid_files)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .context("cannot start the reaper (sh)")?;
        let mut input = child.stdin.take().context("the reaper's input")?;
        // Nothing is ever read but the end; a write proves the pipe is there.
        input.write_all(b"\n").context("write to the reaper")?;
        Ok(Reaper {
            _input: input,
            _child: child,
        })
    }
}

/// Runs `cmd` to its end within `timeout`; its stdout, or an error naming the command with its
/// status and stderr.
pub(crate) async fn output(
    mut cmd: tokio::process::Command,
    timeout: Duration,
) -> anyhow::Result<String> {
    let what = describe(cmd.as_std().get_program(), cmd.as_std().get_args());
    cmd.stdin(Stdio::null()).kill_on_drop(true);
    let out = tokio::time::timeout(timeout, cmd.output())
        .await
        .with_context(|| format!("{what} took longer than {timeout:?}"))?
        .with_context(|| format!("cannot run {what}"))?;
    stdout_of(&what, &out)
}

/// [`output`] for the start-up, which runs on a plain thread (no time limit: the commands it runs
/// answer at once or fail).
pub(crate) fn output_blocking(cmd: &mut Command) -> anyhow::Result<String> {
    let what = describe(cmd.get_program(), cmd.get_args());
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {what}"))?;
    stdout_of(&what, &out)
}

/// What a command (`what`) printed, or its failure with what it printed on stderr.
fn stdout_of(what: &str, out: &std::process::Output) -> anyhow::Result<String> {
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `program arg…`, for messages.
fn describe<'a>(program: &'a OsStr, args: impl Iterator<Item = &'a OsStr>) -> String {
    std::iter::once(program)
        .chain(args)
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

//! A real reference registry for tests: Debian's `docker-registry` (distribution 2.8) started on
//! 127.0.0.1 with a free port, its storage, config and log in a temporary directory that lives as
//! long as the [`TestRegistry`].
//!
//! This module owns the registry's configuration (including the `auth:` section, see
//! [`RegistryAuth`]), starting it, waiting until it answers, and stopping it. The child process is
//! killed on Drop; where `setpriv` exists it is also started with a parent-death signal so that it
//! does not outlive a test process that is killed outright.

use std::fmt;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{OnceLock, mpsc};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tempfile::TempDir;

/// Environment variable naming the registry binary (default: `docker-registry` on `PATH`).
pub const REGISTRY_BIN_ENV: &str = "MANIFOLD_TEST_REGISTRY_BIN";

/// How long [`TestRegistry`] waits for `GET /v2/` to answer after starting the process.
const READY_TIMEOUT: Duration = Duration::from_secs(15);

/// How many times a start is retried when the chosen port was taken in the meantime.
const PORT_ATTEMPTS: usize = 8;

/// bcrypt cost of htpasswd entries. distribution verifies the hash on *every* request, so the
/// minimum cost (4) keeps authenticated requests fast (cost 10 would add ~60 ms to each).
const BCRYPT_COST: u32 = 4;

/// How clients must authenticate to a [`TestRegistry`]; renders the config's `auth:` section.
///
/// Marked `non_exhaustive` so that a `Token { realm, service, issuer, rootcertbundle_path }`
/// variant (distribution's `auth.token`) can be added without breaking callers.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistryAuth {
    /// Anonymous access, every operation allowed.
    None,
    /// HTTP Basic authentication against an htpasswd file holding one bcrypt entry.
    Basic {
        /// User name.
        user: String,
        /// Password in clear; the htpasswd file holds its bcrypt hash.
        password: String,
    },
}

impl RegistryAuth {
    /// The user name and password a client should send, if this mode has them.
    pub fn credentials(&self) -> Option<(&str, &str)> {
        match self {
            RegistryAuth::None => None,
            RegistryAuth::Basic { user, password } => Some((user, password)),
        }
    }

    /// Writes the files this mode needs into `dir` and returns the config's `auth:` section
    /// (empty for [`RegistryAuth::None`]).
    fn config_section(&self, dir: &Path) -> anyhow::Result<String> {
        match self {
            RegistryAuth::None => Ok(String::new()),
            RegistryAuth::Basic { user, password } => {
                if user.contains(':') || user.contains('\n') {
                    bail!("htpasswd user names cannot contain ':' or newlines: {user:?}");
                }
                let hash = bcrypt::hash_with_result(password, BCRYPT_COST)
                    .context("bcrypt hash")?
                    .format_for_version(bcrypt::Version::TwoY);
                let path = dir.join("htpasswd");
                fs::write(&path, format!("{user}:{hash}\n"))
                    .with_context(|| format!("write {}", path.display()))?;
                Ok(format!(
                    "auth:\n  htpasswd:\n    realm: {}\n    path: {}\n",
                    yaml_str("manifold-test"),
                    yaml_str(&path.to_string_lossy()),
                ))
            }
        }
    }
}

/// Quotes a string for YAML (a JSON string is a valid double-quoted YAML scalar).
fn yaml_str(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialise")
}

/// Options for starting a [`TestRegistry`]; [`TestRegistry::plain`] and [`TestRegistry::basic`]
/// are shortcuts for the common cases.
#[derive(Clone, Debug)]
pub struct RegistryBuilder {
    auth: RegistryAuth,
    log_level: String,
}

impl Default for RegistryBuilder {
    fn default() -> Self {
        RegistryBuilder {
            auth: RegistryAuth::None,
            log_level: "info".to_owned(),
        }
    }
}

impl RegistryBuilder {
    /// Sets the authentication mode (default [`RegistryAuth::None`]).
    pub fn auth(mut self, auth: RegistryAuth) -> Self {
        self.auth = auth;
        self
    }

    /// Sets distribution's `log.level` (`error`, `warn`, `info` (default), `debug`).
    pub fn log_level(mut self, level: &str) -> Self {
        self.log_level = level.to_owned();
        self
    }

    /// The complete configuration file for a registry storing under `root` and listening on
    /// `port`, given the already rendered `auth:` section.
    fn render(&self, root: &Path, port: u16, auth_section: &str) -> String {
        let lines = [
            "version: 0.1".to_owned(),
            "log:".to_owned(),
            format!("  level: {}", yaml_str(&self.log_level)),
            "  formatter: text".to_owned(),
            "storage:".to_owned(),
            "  filesystem:".to_owned(),
            format!("    rootdirectory: {}", yaml_str(&root.to_string_lossy())),
            "  delete:".to_owned(),
            "    enabled: true".to_owned(),
            "  maintenance:".to_owned(),
            "    uploadpurging:".to_owned(),
            "      enabled: false".to_owned(),
            "http:".to_owned(),
            format!("  addr: {}", yaml_str(&format!("127.0.0.1:{port}"))),
            format!("  secret: {}", yaml_str("manifold-testkit-secret")),
        ];
        let mut config = lines.join("\n");
        config.push('\n');
        config.push_str(auth_section);
        config
    }

    /// Starts the registry and waits until it answers, or returns an error holding its log.
    pub async fn try_start(self) -> anyhow::Result<TestRegistry> {
        let dir = tempfile::Builder::new()
            .prefix("manifold-registry-")
            .tempdir()
            .context("create registry temp dir")?;
        let root = dir.path().join("storage");
        fs::create_dir(&root).context("create storage dir")?;
        let auth_section = self.auth.config_section(dir.path())?;
        let config_path = dir.path().join("config.yml");
        let log_path = dir.path().join("registry.log");

        for _ in 0..PORT_ATTEMPTS {
            let port = free_port()?;
            fs::write(&config_path, self.render(&root, port, &auth_section))
                .context("write registry config")?;
            let log = File::create(&log_path).context("create registry log")?;
            let mut child = spawn_registry(&config_path, log)?;
            let expect_line = matches!(self.log_level.as_str(), "info" | "debug");
            match wait_ready(&mut child, port, expect_line.then_some(&log_path)).await {
                Ok(()) => {
                    return Ok(TestRegistry {
                        child,
                        port,
                        auth: self.auth,
                        log_path,
                        root,
                        _dir: dir,
                    });
                }
                Err(err) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let log = fs::read_to_string(&log_path).unwrap_or_default();
                    if log.contains("address already in use") {
                        continue;
                    }
                    bail!("docker-registry did not start: {err:#}\n--- registry.log ---\n{log}");
                }
            }
        }
        bail!("docker-registry: no free port after {PORT_ATTEMPTS} attempts")
    }

    /// Starts the registry; panics with its log if it does not come up.
    pub async fn start(self) -> TestRegistry {
        match self.try_start().await {
            Ok(registry) => registry,
            Err(err) => panic!("{err:#}"),
        }
    }
}

/// A running `docker-registry` on 127.0.0.1, killed when dropped.
pub struct TestRegistry {
    child: Child,
    port: u16,
    auth: RegistryAuth,
    log_path: PathBuf,
    root: PathBuf,
    /// Holds config, storage and log; removed after the child is killed.
    _dir: TempDir,
}

impl fmt::Debug for TestRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestRegistry")
            .field("pid", &self.child.id())
            .field("url", &self.url())
            .field("auth", &self.auth)
            .field("log", &self.log_path)
            .finish()
    }
}

impl TestRegistry {
    /// Options for a registry with a non-default mode.
    pub fn builder() -> RegistryBuilder {
        RegistryBuilder::default()
    }

    /// Starts an anonymous registry (panics with its log on failure).
    pub async fn plain() -> TestRegistry {
        RegistryBuilder::default().start().await
    }

    /// Starts a registry requiring HTTP Basic auth with this user and password (bcrypt htpasswd).
    pub async fn basic(user: &str, password: &str) -> TestRegistry {
        RegistryBuilder::default()
            .auth(RegistryAuth::Basic {
                user: user.to_owned(),
                password: password.to_owned(),
            })
            .start()
            .await
    }

    /// `127.0.0.1:PORT`, the registry part of image references.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port the registry listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The authentication mode it was started with.
    pub fn auth(&self) -> &RegistryAuth {
        &self.auth
    }

    /// User name and password, when the registry requires them.
    pub fn credentials(&self) -> Option<(String, String)> {
        self.auth
            .credentials()
            .map(|(u, p)| (u.to_owned(), p.to_owned()))
    }

    /// `HOST/REPO:TAG` or `HOST/REPO@DIGEST` for a repository on this registry.
    pub fn reference(&self, repo: &str, tag_or_digest: &str) -> String {
        let sep = if tag_or_digest.contains(':') {
            '@'
        } else {
            ':'
        };
        format!("{}/{repo}{sep}{tag_or_digest}", self.host())
    }

    /// Path of the registry's log file (stdout and stderr: application and access log).
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The registry's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The filesystem storage root (`storage.filesystem.rootdirectory`).
    pub fn storage_dir(&self) -> &Path {
        &self.root
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port that was free a moment ago (the OS picks it for a listener on port 0).
fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("bind 127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Finds `name` on `PATH`.
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Starts `docker-registry serve CONFIG` with stdout and stderr going to `log`.
fn spawn_registry(config: &Path, log: File) -> anyhow::Result<Child> {
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
///
/// With `log` given, also waits for the registry's own `listening on 127.0.0.1:PORT` line, so
/// that another process that grabbed the port in the meantime is not mistaken for ours.
async fn wait_ready(child: &mut Child, port: u16, log: Option<&Path>) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .no_proxy()
        .build()?;
    let url = format!("http://127.0.0.1:{port}/v2/");
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

//! A real reference registry for tests: Debian's `docker-registry` (distribution 2.8) started on
//! 127.0.0.1 with a free port, its storage, config and log in a temporary directory that lives as
//! long as the [`TestRegistry`].
//!
//! This module owns the registry's configuration (the `auth:` section, see [`RegistryAuth`]:
//! anonymous, htpasswd, or token mode against a [`TokenServer`]; and `http.tls` for HTTPS with a
//! certificate from a [`TestCa`]), starting it, and stopping it; the process side (spawning,
//! waiting until it answers) is in `registry_process`. The child process is killed on Drop;
//! where `setpriv` exists it is also started with a parent-death signal so that it does not
//! outlive a test process that is killed outright.

use std::fmt;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Child;

use anyhow::{Context, bail};
use tempfile::TempDir;

use crate::certs::{ServerCert, TestCa};
use crate::registry_process::{free_port, spawn_registry, wait_ready};
use crate::token::TokenServer;

/// Environment variable naming the registry binary (default: `docker-registry` on `PATH`).
pub const REGISTRY_BIN_ENV: &str = "MANIFOLD_TEST_REGISTRY_BIN";

/// How many times a start is retried when the chosen port was taken in the meantime.
const PORT_ATTEMPTS: usize = 8;

/// bcrypt cost of htpasswd entries. distribution verifies the hash on *every* request, so the
/// minimum cost (4) keeps authenticated requests fast (cost 10 would add ~60 ms to each).
const BCRYPT_COST: u32 = 4;

/// How clients must authenticate to a [`TestRegistry`]; renders the config's `auth:` section.
///
/// Marked `non_exhaustive` so that more modes can be added without breaking callers.
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
    /// distribution's `auth.token`: clients get a Bearer challenge naming `realm` and
    /// `service`, and present RS256 JWTs issued by `issuer` whose `x5c` certificate is in
    /// `rootcertbundle` (copied into the registry's directory at start).
    Token {
        /// The token endpoint (`http://127.0.0.1:PORT/token`).
        realm: String,
        /// The `service` of the challenge; tokens must carry it as `aud`.
        service: String,
        /// The `iss` tokens must carry.
        issuer: String,
        /// PEM bundle of the certificates that may sign tokens.
        rootcertbundle: PathBuf,
    },
}

impl RegistryAuth {
    /// The user name and password a client should send, if this mode has them.
    pub fn credentials(&self) -> Option<(&str, &str)> {
        match self {
            RegistryAuth::None | RegistryAuth::Token { .. } => None,
            RegistryAuth::Basic { user, password } => Some((user, password)),
        }
    }

    /// Token mode against this server.
    pub fn token(server: &TokenServer) -> RegistryAuth {
        RegistryAuth::Token {
            realm: server.realm(),
            service: server.service().to_owned(),
            issuer: server.issuer().to_owned(),
            rootcertbundle: server.signer().cert_path().to_owned(),
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
            RegistryAuth::Token {
                realm,
                service,
                issuer,
                rootcertbundle,
            } => {
                let path = dir.join("token-rootcerts.pem");
                fs::copy(rootcertbundle, &path)
                    .with_context(|| format!("copy {}", rootcertbundle.display()))?;
                Ok(format!(
                    "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    \
                     rootcertbundle: {}\n",
                    yaml_str(realm),
                    yaml_str(service),
                    yaml_str(issuer),
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
    tls: Option<TlsFiles>,
    client_credentials: Option<(String, String)>,
    storage: Option<PathBuf>,
    notify: Option<Notify>,
}

/// Where distribution sends its notifications (`notifications.endpoints`), and the header it
/// sends with them.
#[derive(Clone, Debug)]
struct Notify {
    url: String,
    header: (String, String),
}

/// Certificate, key and (if known) the CA that issued them.
#[derive(Clone, Debug)]
struct TlsFiles {
    cert: PathBuf,
    key: PathBuf,
    ca: Option<PathBuf>,
}

impl Default for RegistryBuilder {
    fn default() -> Self {
        RegistryBuilder {
            auth: RegistryAuth::None,
            log_level: "info".to_owned(),
            tls: None,
            client_credentials: None,
            storage: None,
            notify: None,
        }
    }
}

impl RegistryBuilder {
    /// Sets the authentication mode (default [`RegistryAuth::None`]).
    pub fn auth(mut self, auth: RegistryAuth) -> Self {
        self.auth = auth;
        self
    }

    /// Serves the storage directory of another registry (its [`TestRegistry::storage_dir`]), so
    /// both hold the same repositories: one content behind two kinds of auth.
    pub fn storage(mut self, root: &Path) -> Self {
        self.storage = Some(root.to_owned());
        self
    }

    /// Sends distribution's notifications of pushes and deletes (`notifications.endpoints`, pulls
    /// ignored) to `url`, with the header `name: value` on each (a shared secret); retried by
    /// distribution every 100 ms while the endpoint fails.
    pub fn notify(mut self, url: &str, name: &str, value: &str) -> Self {
        self.notify = Some(Notify {
            url: url.to_owned(),
            header: (name.to_owned(), value.to_owned()),
        });
        self
    }

    /// Sets distribution's `log.level` (`error`, `warn`, `info` (default), `debug`).
    pub fn log_level(mut self, level: &str) -> Self {
        self.log_level = level.to_owned();
        self
    }

    /// Serves HTTPS with this certificate and key (PEM; copied at start): `http.tls`.
    pub fn tls(mut self, cert_path: impl Into<PathBuf>, key_path: impl Into<PathBuf>) -> Self {
        self.tls = Some(TlsFiles {
            cert: cert_path.into(),
            key: key_path.into(),
            ca: None,
        });
        self
    }

    /// Serves HTTPS with a certificate from a [`TestCa`], whose CA certificate
    /// [`TestRegistry::ca_cert_path`] then gives to clients.
    pub fn tls_cert(mut self, cert: &ServerCert) -> Self {
        self.tls = Some(TlsFiles {
            cert: cert.cert_path.clone(),
            key: cert.key_path.clone(),
            ca: Some(cert.ca_cert_path.clone()),
        });
        self
    }

    /// The user and password clients should use, when the auth mode itself has none (token
    /// mode: the token server's user); [`TestRegistry::credentials`] returns them.
    pub fn client_credentials(mut self, user: &str, password: &str) -> Self {
        self.client_credentials = Some((user.to_owned(), password.to_owned()));
        self
    }

    /// The complete configuration file for a registry storing under `root` and listening on
    /// `port`, given the already rendered `auth:` section.
    fn render(&self, root: &Path, port: u16, auth_section: &str, tls: Option<&TlsFiles>) -> String {
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
        if let Some(tls) = tls {
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                yaml_str(&tls.cert.to_string_lossy()),
                yaml_str(&tls.key.to_string_lossy()),
            ));
        }
        config.push_str(auth_section);
        if let Some(n) = &self.notify {
            config.push_str(&format!(
                "notifications:\n  endpoints:\n    - name: manifold\n      url: {}\n      \
                 headers:\n        {}: [{}]\n      timeout: 2s\n      threshold: 5\n      \
                 backoff: 100ms\n      ignore:\n        actions: [pull]\n",
                yaml_str(&n.url),
                yaml_str(&n.header.0),
                yaml_str(&n.header.1),
            ));
        }
        config
    }

    /// Starts the registry and waits until it answers, or returns an error holding its log.
    pub async fn try_start(self) -> anyhow::Result<TestRegistry> {
        let dir = tempfile::Builder::new()
            .prefix("manifold-registry-")
            .tempdir()
            .context("create registry temp dir")?;
        let root = match &self.storage {
            Some(shared) => shared.clone(),
            None => {
                let root = dir.path().join("storage");
                fs::create_dir(&root).context("create storage dir")?;
                root
            }
        };
        let auth_section = self.auth.config_section(dir.path())?;
        let tls = self
            .tls
            .as_ref()
            .map(|t| copy_tls(t, dir.path()))
            .transpose()?;
        let config_path = dir.path().join("config.yml");
        let log_path = dir.path().join("registry.log");

        for _ in 0..PORT_ATTEMPTS {
            let port = free_port()?;
            fs::write(
                &config_path,
                self.render(&root, port, &auth_section, tls.as_ref()),
            )
            .context("write registry config")?;
            let log = File::create(&log_path).context("create registry log")?;
            let mut child = spawn_registry(&config_path, log)?;
            let expect_line = matches!(self.log_level.as_str(), "info" | "debug");
            let ready_line = expect_line.then_some(log_path.as_path());
            match wait_ready(&mut child, port, tls.is_some(), ready_line).await {
                Ok(()) => {
                    return Ok(TestRegistry {
                        child,
                        port,
                        auth: self.auth,
                        tls: tls.is_some(),
                        ca_cert: tls.and_then(|t| t.ca),
                        client_credentials: self.client_credentials,
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
    tls: bool,
    ca_cert: Option<PathBuf>,
    client_credentials: Option<(String, String)>,
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

    /// A registry in token mode against `server`, whose admin user (if it has one) becomes
    /// [`Self::credentials`] (panics with its log on failure).
    pub async fn token(server: &TokenServer) -> TestRegistry {
        let mut builder = RegistryBuilder::default().auth(RegistryAuth::token(server));
        if let Some((user, password)) = server.admin_credentials() {
            builder = builder.client_credentials(&user, &password);
        }
        builder.start().await
    }

    /// An anonymous registry serving HTTPS with a certificate for `localhost` and `127.0.0.1`
    /// issued by `ca` (panics on failure).
    pub async fn https(ca: &TestCa) -> TestRegistry {
        RegistryBuilder::default()
            .tls_cert(&ca.localhost_cert())
            .start()
            .await
    }

    /// `127.0.0.1:PORT`, the registry part of image references.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT` (`https://` with TLS), without a trailing slash.
    pub fn url(&self) -> String {
        format!("{}://127.0.0.1:{}", self.scheme(), self.port)
    }

    /// `https` when it serves TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls { "https" } else { "http" }
    }

    /// Whether it serves TLS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The CA certificate (PEM) that issued its TLS certificate, when it was started with
    /// [`RegistryBuilder::tls_cert`] (a copy in its directory).
    pub fn ca_cert_path(&self) -> Option<&Path> {
        self.ca_cert.as_deref()
    }

    /// The port the registry listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The authentication mode it was started with.
    pub fn auth(&self) -> &RegistryAuth {
        &self.auth
    }

    /// User name and password for clients: the htpasswd user, or in token mode the token
    /// server's user given at start ([`TestRegistry::token`]: its admin).
    pub fn credentials(&self) -> Option<(String, String)> {
        self.auth
            .credentials()
            .map(|(u, p)| (u.to_owned(), p.to_owned()))
            .or_else(|| self.client_credentials.clone())
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

    /// Stops the registry: its port refuses connections until [`restart`](Self::restart); its
    /// storage stays.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts a stopped registry again, on its port and with its storage; waits until it answers.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        let config = self._dir.path().join("config.yml");
        let log = fs::OpenOptions::new()
            .append(true)
            .open(&self.log_path)
            .context("open registry log")?;
        self.child = spawn_registry(&config, log)?;
        wait_ready(&mut self.child, self.port, self.tls, None).await
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Copies certificate, key and CA into `dir` (the registry reads them at start; the copies
/// outlive the [`TestCa`]).
fn copy_tls(tls: &TlsFiles, dir: &Path) -> anyhow::Result<TlsFiles> {
    let copy = |from: &Path, name: &str| -> anyhow::Result<PathBuf> {
        let to = dir.join(name);
        fs::copy(from, &to).with_context(|| format!("copy {}", from.display()))?;
        Ok(to)
    };
    Ok(TlsFiles {
        cert: copy(&tls.cert, "tls.crt")?,
        key: copy(&tls.key, "tls.key")?,
        ca: tls.ca.as_deref().map(|ca| copy(ca, "ca.crt")).transpose()?,
    })
}

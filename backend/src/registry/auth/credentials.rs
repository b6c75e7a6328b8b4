//! Credentials and where they come from. [`Secret`] and [`Credentials`] cannot leak into `Debug`
//! output or logs. They are looked up, in order: explicit configuration (the CLI's `--username` and
//! `--password`, the service's own settings), then a docker `config.json` — its `credHelpers`
//! entry for the registry, its `credsStore`, or its `auths` (`auth` base64 or `identitytoken`).
//! Helpers are run as `docker-credential-<name> get`, as docker does.
//!
//! No network: where credentials may be sent is `token`'s and `host`'s to decide.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use serde::Deserialize;

use crate::model::reference::DOCKER_HUB;

/// The key docker stores Docker Hub credentials under.
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

pub use crate::model::Secret;

/// How to prove who we are to one registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// A user name and password (or access token used as a password).
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: Secret,
    },
    /// An OAuth2 refresh token (docker's `identitytoken`), exchanged at the token realm.
    IdentityToken(Secret),
}

impl Credentials {
    /// Basic credentials.
    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self::Basic {
            username: username.into(),
            password: Secret::new(password),
        }
    }

    /// The `Authorization` value for Basic auth, when these are Basic credentials.
    pub fn basic_header(&self) -> Option<String> {
        match self {
            Self::Basic { username, password } => {
                let raw = format!("{username}:{}", password.expose());
                Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(raw)
                ))
            }
            Self::IdentityToken(_) => None,
        }
    }
}

/// Credentials for registries, looked up per registry.
#[derive(Debug, Clone, Default)]
pub struct Keychain {
    /// Used for every registry that has no entry of its own.
    pub default: Option<Credentials>,
    /// Per registry (`host:port` as written in references; `docker.io` for Docker Hub).
    pub per_registry: HashMap<String, Credentials>,
    /// A docker config consulted when neither of the above has credentials.
    pub docker: Option<DockerConfig>,
}

impl Keychain {
    /// The credentials for a registry, if any. May run a credential helper.
    pub fn get(&self, registry: &str) -> Option<Credentials> {
        if let Some(c) = self.per_registry.get(registry).or(self.default.as_ref()) {
            return Some(c.clone());
        }
        self.docker.as_ref().and_then(|d| d.lookup(registry))
    }
}

/// A docker `config.json`, as far as credentials go.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DockerConfig {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
    #[serde(default)]
    cred_helpers: HashMap<String, String>,
    #[serde(default)]
    creds_store: Option<String>,
    #[serde(skip)]
    path: PathBuf,
}

#[derive(Clone, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

impl std::fmt::Debug for AuthEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthEntry(***)")
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HelperAnswer {
    #[serde(default)]
    username: String,
    #[serde(default)]
    secret: String,
}

impl DockerConfig {
    /// Reads a config: `path` may be a directory holding `config.json` or the file itself. A
    /// missing file is no error (there are simply no credentials); a malformed one is.
    pub fn load(path: &Path) -> Result<Option<Self>, String> {
        let file = if path.is_dir() {
            path.join("config.json")
        } else {
            path.to_path_buf()
        };
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot read docker config {}: {e}", file.display())),
        };
        let mut config: Self = serde_json::from_str(&text)
            .map_err(|e| format!("docker config {} is not valid JSON: {e}", file.display()))?;
        config.path = file;
        Ok(Some(config))
    }

    /// The default location: `$DOCKER_CONFIG/config.json`, else (`DOCKER_CONFIG` unset or empty,
    /// as docker takes it) `~/.docker/config.json`.
    pub fn default_path() -> Option<PathBuf> {
        Self::path_under(std::env::var_os("DOCKER_CONFIG"), std::env::var_os("HOME"))
    }

    /// `config.json` in `docker_config` if it is set and not empty, else in `home`'s `.docker`.
    fn path_under(
        docker_config: Option<std::ffi::OsString>,
        home: Option<std::ffi::OsString>,
    ) -> Option<PathBuf> {
        match docker_config.filter(|d| !d.is_empty()) {
            Some(dir) => Some(PathBuf::from(dir).join("config.json")),
            None => home.map(|h| PathBuf::from(h).join(".docker").join("config.json")),
        }
    }

    /// The credentials this config holds for a registry.
    pub fn lookup(&self, registry: &str) -> Option<Credentials> {
        let server = if registry == DOCKER_HUB {
            DOCKER_HUB_KEY
        } else {
            registry
        };
        if let Some(helper) = self.helper_for(registry) {
            return match run_helper(&helper, server) {
                Ok(found) => found,
                Err(e) => {
                    tracing::warn!(
                        "credential helper docker-credential-{helper} failed for {registry}: {e}"
                    );
                    None
                }
            };
        }
        let entry = self
            .auths
            .iter()
            .find(|(key, _)| normalise_key(key) == normalise_key(server))
            .map(|(_, entry)| entry)?;
        entry_credentials(entry)
    }

    fn helper_for(&self, registry: &str) -> Option<String> {
        let by_host = self.cred_helpers.iter().find(|(key, _)| {
            normalise_key(key) == normalise_key(registry)
                || (registry == DOCKER_HUB && normalise_key(key) == normalise_key(DOCKER_HUB_KEY))
        });
        by_host
            .map(|(_, h)| h.clone())
            .or_else(|| self.creds_store.clone())
            .filter(|h| !h.is_empty())
    }

    /// Where the config was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// `https://index.docker.io/v1/`, `index.docker.io` and `docker.io` name the same registry; other
/// keys may carry a scheme and a path.
fn normalise_key(key: &str) -> String {
    let host = key
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" => DOCKER_HUB.to_owned(),
        _ => host,
    }
}

fn entry_credentials(entry: &AuthEntry) -> Option<Credentials> {
    if let Some(token) = entry.identitytoken.as_ref().filter(|t| !t.is_empty()) {
        return Some(Credentials::IdentityToken(Secret::new(token.clone())));
    }
    if let Some(auth) = entry.auth.as_ref().filter(|a| !a.is_empty()) {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())?;
        let (user, password) = decoded.split_once(':')?;
        return Some(Credentials::basic(user, password));
    }
    match (&entry.username, &entry.password) {
        (Some(u), Some(p)) if !u.is_empty() => Some(Credentials::basic(u, p)),
        _ => None,
    }
}

/// Runs `docker-credential-<helper> get` with the server on stdin.
fn run_helper(helper: &str, server: &str) -> Result<Option<Credentials>, String> {
    let program = format!("docker-credential-{helper}");
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(server.as_bytes())
            .map_err(|e| format!("cannot write to {program}: {e}"))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| format!("{program} failed: {e}"))?;
    if !output.status.success() {
        let said = String::from_utf8_lossy(&output.stdout).to_lowercase()
            + &String::from_utf8_lossy(&output.stderr).to_lowercase();
        if said.contains("not found") {
            return Ok(None);
        }
        return Err(format!("{program} exited with {}", output.status));
    }
    let answer: HelperAnswer = serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("{program} answered something that is not its JSON: {e}"))?;
    if answer.secret.is_empty() {
        return Ok(None);
    }
    Ok(Some(if answer.username == "<token>" {
        Credentials::IdentityToken(Secret::new(answer.secret))
    } else {
        Credentials::basic(answer.username, answer.secret)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_docker_config_means_the_default_as_docker_takes_it() {
        let home = Some("/home/u".into());
        let default = Some(PathBuf::from("/home/u/.docker/config.json"));
        assert_eq!(
            DockerConfig::path_under(Some("".into()), home.clone()),
            default
        );
        assert_eq!(DockerConfig::path_under(None, home.clone()), default);
        assert_eq!(
            DockerConfig::path_under(Some("/etc/d".into()), home),
            Some(PathBuf::from("/etc/d/config.json"))
        );
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let creds = Credentials::basic("alice", "hunter2");
        let shown = format!("{creds:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(creds.basic_header().unwrap(), "Basic YWxpY2U6aHVudGVyMg==");
    }

    fn config(json: &str) -> DockerConfig {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn docker_hub_credentials_are_found_under_dockers_own_key() {
        let c = config(r#"{"auths":{"https://index.docker.io/v1/":{"auth":"dXNlcjpwYXNz"}}}"#);
        assert_eq!(
            c.lookup("docker.io"),
            Some(Credentials::basic("user", "pass"))
        );
        assert_eq!(c.lookup("ghcr.io"), None);
    }

    #[test]
    fn keys_with_a_scheme_or_path_match_their_host() {
        let c = config(
            r#"{"auths":{"http://127.0.0.1:5000/v2/":{"auth":"YTpi"},"ghcr.io":{"identitytoken":"tok"}}}"#,
        );
        assert_eq!(
            c.lookup("127.0.0.1:5000"),
            Some(Credentials::basic("a", "b"))
        );
        assert_eq!(
            c.lookup("ghcr.io"),
            Some(Credentials::IdentityToken(Secret::new("tok")))
        );
    }

    #[test]
    fn explicit_credentials_come_before_the_docker_config() {
        let keychain = Keychain {
            default: Some(Credentials::basic("flag", "x")),
            per_registry: HashMap::new(),
            docker: Some(config(r#"{"auths":{"r.io":{"auth":"YTpi"}}}"#)),
        };
        assert_eq!(keychain.get("r.io"), Some(Credentials::basic("flag", "x")));
    }

    #[test]
    fn a_missing_helper_gives_no_credentials_and_no_panic() {
        let c = config(r#"{"credHelpers":{"r.io":"manifold-test-no-such-helper"}}"#);
        assert_eq!(c.lookup("r.io"), None);
    }

    #[test]
    fn a_config_file_that_does_not_exist_means_no_credentials() {
        assert!(
            DockerConfig::load(Path::new("/nonexistent/config.json"))
                .unwrap()
                .is_none()
        );
    }
}

//! The service's settings: one struct, [`Settings`], that is at once the `manifold serve` flags and
//! environment variables (clap) and the YAML configuration file (serde) — each setting declared
//! once, grouped by concern. Read once in `main` (flags and environment win over the file), checked,
//! then handed down; no global settings. Secrets are wrapped so they never print.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use serde::{Deserialize, Serialize};

use crate::registry::{
    Allow, ClientConfig, DEFAULT_UPLOAD_CHUNK, DockerConfig, Keychain, Secret, Timeouts,
};
use crate::retry::RetryPolicy;

/// The database used when none is configured: a SQLite file in the working directory.
pub const DEFAULT_DATABASE: &str = "sqlite://manifold.db";

/// `manifold serve` settings. Every one can also be set in the file named by `--config`, under
/// its snake_case name (`addr`, `database_url`, `workers`, …).
#[derive(Debug, Clone, Default, Args, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// A YAML file with any of these settings (snake_case keys: addr, database_url, workers, …).
    #[arg(long, env = "MANIFOLD_CONFIG", value_name = "FILE")]
    #[serde(skip)]
    pub config: Option<PathBuf>,

    // --- HTTP ---
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(
        long,
        env = "MANIFOLD_ADDR",
        value_name = "HOST:PORT",
        help_heading = "HTTP"
    )]
    pub addr: Option<SocketAddr>,
    /// API tokens, comma-separated; `sha256:<hex>` entries are already hashed. Writes need one.
    #[arg(
        long = "api-tokens",
        env = "MANIFOLD_API_TOKENS",
        value_delimiter = ',',
        hide_env_values = true,
        help_heading = "HTTP"
    )]
    pub api_tokens: Vec<Secret>,
    /// With API tokens set, reads need a token too.
    #[arg(
        long = "protect-reads",
        env = "MANIFOLD_PROTECT_READS",
        help_heading = "HTTP"
    )]
    pub protect_reads: Option<bool>,
    /// Serve on a non-loopback address without API tokens.
    #[arg(
        long = "allow-unauthenticated",
        env = "MANIFOLD_ALLOW_UNAUTHENTICATED",
        help_heading = "HTTP"
    )]
    pub allow_unauthenticated: Option<bool>,

    // --- Store ---
    /// Database URL: postgres://user@host:port/db, or sqlite://path (sqlite::memory: for a
    /// throwaway one) [default: sqlite://manifold.db in the working directory].
    #[arg(
        long = "database-url",
        env = "DATABASE_URL",
        hide_env_values = true,
        help_heading = "Store"
    )]
    pub database_url: Option<Secret>,

    // --- Jobs ---
    /// Push workers in this process [default: 4].
    #[arg(
        long,
        env = "MANIFOLD_WORKERS",
        value_name = "N",
        help_heading = "Jobs"
    )]
    pub workers: Option<usize>,
    /// Seconds a worker holds a job before another may take it over [default: 60].
    #[arg(
        long = "job-lease-secs",
        env = "MANIFOLD_JOB_LEASE_SECS",
        value_name = "SECS",
        help_heading = "Jobs"
    )]
    pub job_lease_secs: Option<u64>,
    /// Attempts a push gets before it fails [default: 5].
    #[arg(
        long = "job-max-attempts",
        env = "MANIFOLD_JOB_MAX_ATTEMPTS",
        value_name = "N",
        help_heading = "Jobs"
    )]
    pub job_max_attempts: Option<u32>,
    /// First delay before a failed push is tried again, in milliseconds [default: 2000].
    #[arg(
        long = "job-backoff-ms",
        env = "MANIFOLD_JOB_BACKOFF_MS",
        value_name = "MS",
        help_heading = "Jobs"
    )]
    pub job_backoff_ms: Option<u64>,
    /// Seconds between two checks of a pushed list against its registry (drift, follow mode);
    /// 0 turns the watch off [default: 300].
    #[arg(
        long = "watch-interval-secs",
        env = "MANIFOLD_WATCH_INTERVAL_SECS",
        value_name = "SECS",
        help_heading = "Jobs"
    )]
    pub watch_interval_secs: Option<u64>,

    // --- Registries ---
    /// Registries the service may talk to, comma-separated (host[:port]). Unset: loopback only.
    #[arg(
        long,
        env = "MANIFOLD_REGISTRIES",
        value_delimiter = ',',
        help_heading = "Registries"
    )]
    pub registries: Vec<String>,
    /// Registries reached over plain HTTP, comma-separated.
    #[arg(
        long = "insecure-registries",
        env = "MANIFOLD_INSECURE_REGISTRIES",
        value_delimiter = ',',
        help_heading = "Registries"
    )]
    pub insecure_registries: Vec<String>,
    /// A docker config.json (or its directory) with the registry credentials the service uses.
    #[arg(
        long = "docker-config",
        env = "MANIFOLD_DOCKER_CONFIG",
        value_name = "PATH",
        help_heading = "Registries"
    )]
    pub docker_config: Option<PathBuf>,
    /// CA certificates (PEM files) to trust for registries, comma-separated.
    #[arg(
        long = "ca-certs",
        env = "MANIFOLD_CA_CERTS",
        value_delimiter = ',',
        help_heading = "Registries"
    )]
    pub ca_certs: Vec<PathBuf>,
    /// Resolve a registry host name to an address instead of asking DNS (HOST:IP, comma-separated).
    #[arg(
        long,
        env = "MANIFOLD_RESOLVE",
        value_delimiter = ',',
        help_heading = "Registries"
    )]
    pub resolve: Vec<String>,

    /// Hosts besides the registries that registries may redirect downloads to (object storage, a
    /// CDN), comma-separated (host[:port]). Credentials never go there. Unset: none.
    #[arg(
        long = "blob-hosts",
        env = "MANIFOLD_BLOB_HOSTS",
        value_delimiter = ',',
        help_heading = "Registries"
    )]
    pub blob_hosts: Vec<String>,
    /// Hosts besides the registries that token realms may be on, comma-separated (Docker Hub's is
    /// auth.docker.io). Unset: none.
    #[arg(
        long = "token-hosts",
        env = "MANIFOLD_TOKEN_HOSTS",
        value_delimiter = ',',
        help_heading = "Registries"
    )]
    pub token_hosts: Vec<String>,

    /// How long registries may take: the command line's global flags (and their environment
    /// variables), or the file's `connect_timeout`, `request_timeout`, `idle_timeout`,
    /// `answer_timeout`, `upload_chunk_mib`.
    #[arg(skip)]
    #[serde(flatten)]
    pub timeouts: TransferArgs,

    // --- Callbacks ---
    /// Secret that signs callbacks (HMAC-SHA256 in X-Manifold-Signature).
    #[arg(
        long = "callback-secret",
        env = "MANIFOLD_CALLBACK_SECRET",
        hide_env_values = true,
        help_heading = "Callbacks"
    )]
    pub callback_secret: Option<Secret>,
    /// Hosts callbacks may be sent to, comma-separated (host[:port]). Unset: loopback only.
    #[arg(
        long = "callback-hosts",
        env = "MANIFOLD_CALLBACK_HOSTS",
        value_delimiter = ',',
        help_heading = "Callbacks"
    )]
    pub callback_hosts: Vec<String>,

    /// SHA-256 hashes (hex) of the API tokens, made by [`Settings::load`].
    #[arg(skip)]
    #[serde(skip)]
    pub api_token_hashes: Vec<String>,
}

impl Settings {
    /// Reads the file `config` names (if any) under these settings, then checks the result and
    /// hashes the API tokens.
    pub fn load(given: Settings) -> anyhow::Result<Self> {
        let mut settings = match &given.config {
            Some(path) => overlay(&given, read_file(path)?)?,
            None => given,
        };
        settings.api_token_hashes = settings
            .api_tokens
            .iter()
            .map(|t| t.expose().trim())
            .filter(|t| !t.is_empty())
            .map(crate::auth::hash_token_entry)
            .collect::<anyhow::Result<Vec<_>>>()?;
        settings.check()?;
        Ok(settings)
    }

    fn check(&self) -> anyhow::Result<()> {
        let addr = self.addr();
        if !addr.ip().is_loopback()
            && self.api_token_hashes.is_empty()
            && !self.allow_unauthenticated.unwrap_or(false)
        {
            anyhow::bail!(
                "refusing to serve on {addr} without API tokens: set MANIFOLD_API_TOKENS, or \
                 MANIFOLD_ALLOW_UNAUTHENTICATED=true if the network is trusted"
            );
        }
        let url = self.database_url();
        if !(url.starts_with("postgres://")
            || url.starts_with("postgresql://")
            || url.starts_with("sqlite:"))
        {
            anyhow::bail!(
                "DATABASE_URL must start with postgres:// or sqlite: (e.g. sqlite://manifold.db)"
            );
        }
        self.resolve_overrides()?;
        self.timeouts.timeouts()?;
        self.timeouts.upload_chunk()?;
        if self.allow() == Allow::Only(Vec::new()) {
            tracing::warn!(
                "serving on {addr} with MANIFOLD_REGISTRIES unset: no registry may be contacted; \
                 list the registries the service may talk to"
            );
        }
        Ok(())
    }

    /// The listen address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)))
    }

    /// The database URL (it may hold a password: never log it whole).
    pub fn database_url(&self) -> &str {
        self.database_url
            .as_ref()
            .map(Secret::expose)
            .filter(|u| !u.trim().is_empty())
            .unwrap_or(DEFAULT_DATABASE)
    }

    /// Push workers in this process.
    pub fn workers(&self) -> usize {
        self.workers.unwrap_or(4)
    }

    /// Whether reads need a token too (with tokens configured).
    pub fn protect_reads(&self) -> bool {
        self.protect_reads.unwrap_or(false)
    }

    /// How long a claimed job is held before another worker may take it over.
    pub fn job_lease(&self) -> Duration {
        Duration::from_secs(self.job_lease_secs.unwrap_or(60).max(1))
    }

    /// Attempts a push (or a callback) gets.
    pub fn job_max_attempts(&self) -> u32 {
        self.job_max_attempts.unwrap_or(5).max(1)
    }

    /// How failed jobs are retried: `job_max_attempts` attempts, `job_backoff_ms` doubling up to
    /// five minutes.
    pub fn job_retry(&self) -> RetryPolicy {
        RetryPolicy {
            max_attempts: self.job_max_attempts(),
            base_delay: Duration::from_millis(self.job_backoff_ms.unwrap_or(2000)),
            max_delay: Duration::from_secs(300),
        }
    }

    /// How often each pushed list is checked against its registry; `None`: the watch is off.
    pub fn watch_interval(&self) -> Option<Duration> {
        match self.watch_interval_secs.unwrap_or(300) {
            0 => None,
            secs => Some(Duration::from_secs(secs)),
        }
    }

    /// The secret that signs callbacks, if one is set.
    pub fn callback_secret(&self) -> Option<&Secret> {
        self.callback_secret
            .as_ref()
            .filter(|s| !s.expose().is_empty())
    }

    /// The registries the service may talk to: those of `MANIFOLD_REGISTRIES`; unset, loopback
    /// registries when the service itself listens on loopback, and none when it listens publicly
    /// (every loopback port would be a "registry": the database, say).
    pub fn allow(&self) -> Allow {
        let registries = clean(&self.registries);
        match registries.is_empty() {
            false => Allow::Only(registries),
            true if self.addr().ip().is_loopback() => Allow::LoopbackOnly,
            true => Allow::Only(Vec::new()),
        }
    }

    /// Whether callbacks may be sent to this URL's host.
    pub fn callback_allowed(&self, url: &str) -> bool {
        let Ok(url) = url::Url::parse(url) else {
            return false;
        };
        let Some(host) = url.host_str() else {
            return false;
        };
        let with_port = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_owned(),
        };
        let hosts = clean(&self.callback_hosts);
        if hosts.is_empty() {
            crate::spec::reference::is_loopback_host(
                host.trim_start_matches('[').trim_end_matches(']'),
            )
        } else {
            hosts.iter().any(|h| *h == with_port || h == host)
        }
    }

    /// The host name overrides for registries.
    pub fn resolve_overrides(&self) -> anyhow::Result<Vec<(String, SocketAddr)>> {
        clean(&self.resolve)
            .iter()
            .map(|entry| parse_resolve(entry))
            .collect()
    }

    /// The registry client's configuration for the service: its allow-list, insecure registries,
    /// CAs and credentials from its own docker config only.
    pub fn client_config(&self) -> anyhow::Result<ClientConfig> {
        let docker = match &self.docker_config {
            Some(path) => DockerConfig::load(path).map_err(anyhow::Error::msg)?,
            None => None,
        };
        Ok(ClientConfig {
            allow: self.allow(),
            insecure_registries: clean(&self.insecure_registries),
            ca_certs: self.ca_certs.clone(),
            keychain: Keychain {
                docker,
                ..Keychain::default()
            },
            resolve: self.resolve_overrides()?,
            blob_hosts: clean(&self.blob_hosts),
            token_hosts: clean(&self.token_hosts),
            timeouts: self.timeouts.timeouts()?,
            upload_chunk: self.timeouts.upload_chunk()?,
            ..ClientConfig::default()
        })
    }
}

/// How the registry client transfers: its timeouts, in seconds (fractions allowed), and the size of
/// upload chunks — flags and environment variables of `manifold serve` and every other command.
#[derive(Debug, Clone, Default, Args, Serialize, Deserialize)]
#[serde(default)]
pub struct TransferArgs {
    /// Seconds to establish a connection to a registry (TCP and TLS) [default: 10].
    #[arg(
        long = "connect-timeout",
        env = "MANIFOLD_CONNECT_TIMEOUT",
        value_name = "SECS",
        global = true,
        help_heading = "Registries"
    )]
    pub connect_timeout: Option<f64>,
    /// Seconds a registry request without a blob body (manifests, tokens, mounts) may take
    /// whole [default: 60].
    #[arg(
        long = "request-timeout",
        env = "MANIFOLD_REQUEST_TIMEOUT",
        value_name = "SECS",
        global = true,
        help_heading = "Registries"
    )]
    pub request_timeout: Option<f64>,
    /// Seconds a blob transfer may go without moving a byte, either way; a transfer that keeps
    /// moving may take as long as it needs [default: 30].
    #[arg(
        long = "idle-timeout",
        env = "MANIFOLD_IDLE_TIMEOUT",
        value_name = "SECS",
        global = true,
        help_heading = "Registries"
    )]
    pub idle_timeout: Option<f64>,
    /// Seconds a registry may go without answering any request, retries included, before it is
    /// given up on as not answering [default: 20].
    #[arg(
        long = "answer-timeout",
        env = "MANIFOLD_ANSWER_TIMEOUT",
        value_name = "SECS",
        global = true,
        help_heading = "Registries"
    )]
    pub answer_timeout: Option<f64>,
    /// MiB a blob upload sends in one request; an interrupted upload resumes after the last
    /// whole one where the registry allows [default: 64].
    #[arg(
        long = "upload-chunk-mib",
        env = "MANIFOLD_UPLOAD_CHUNK_MIB",
        value_name = "MIB",
        global = true,
        help_heading = "Registries"
    )]
    pub upload_chunk_mib: Option<u64>,
}

impl TransferArgs {
    /// The timeouts, the defaults where unset; a value that is not a positive number of seconds
    /// is an error naming its flag.
    pub fn timeouts(&self) -> anyhow::Result<Timeouts> {
        let defaults = Timeouts::default();
        let pick = |value: Option<f64>, flag: &str, default: Duration| match value {
            None => Ok(default),
            Some(secs) if secs.is_finite() && secs > 0.0 && secs < 1e9 => {
                Ok(Duration::from_secs_f64(secs))
            }
            Some(secs) => {
                anyhow::bail!("--{flag}: {secs} is not a positive number of seconds")
            }
        };
        Ok(Timeouts {
            connect: pick(self.connect_timeout, "connect-timeout", defaults.connect)?,
            request: pick(self.request_timeout, "request-timeout", defaults.request)?,
            idle: pick(self.idle_timeout, "idle-timeout", defaults.idle)?,
            answer: pick(self.answer_timeout, "answer-timeout", defaults.answer)?,
        })
    }

    /// Bytes a blob upload sends in one request; 0 MiB is an error naming its flag.
    pub fn upload_chunk(&self) -> anyhow::Result<u64> {
        match self.upload_chunk_mib {
            None => Ok(DEFAULT_UPLOAD_CHUNK),
            Some(0) => anyhow::bail!("--upload-chunk-mib: 0 is not a number of MiB to send"),
            Some(mib) => Ok(mib.saturating_mul(1024 * 1024)),
        }
    }
}

/// `given` over `file`: every setting `given` has (a flag or environment variable) wins.
fn overlay(given: &Settings, file: Settings) -> anyhow::Result<Settings> {
    let mut merged = serde_json::to_value(file)?;
    let serde_json::Value::Object(top) = serde_json::to_value(given)? else {
        anyhow::bail!("settings serialise as a map");
    };
    let target = merged
        .as_object_mut()
        .ok_or_else(|| anyhow::anyhow!("settings serialise as a map"))?;
    for (key, value) in top {
        let unset = value.is_null() || value.as_array().is_some_and(Vec::is_empty);
        if !unset {
            target.insert(key, value);
        }
    }
    let mut settings: Settings = serde_json::from_value(merged)?;
    settings.config = given.config.clone();
    Ok(settings)
}

fn read_file(path: &Path) -> anyhow::Result<Settings> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read config file {}: {e}", path.display()))?;
    if text.trim().is_empty() {
        return Ok(Settings::default());
    }
    yaml_serde::from_str(&text).map_err(|e| anyhow::anyhow!("config file {}: {e}", path.display()))
}

fn clean(list: &[String]) -> Vec<String> {
    list.iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// `HOST:IP` → a resolve override.
pub fn parse_resolve(entry: &str) -> anyhow::Result<(String, SocketAddr)> {
    entry
        .split_once(':')
        .and_then(|(host, ip)| {
            let ip = ip.trim_start_matches('[').trim_end_matches(']');
            Some((host.to_owned(), SocketAddr::new(ip.parse().ok()?, 0)))
        })
        .ok_or_else(|| anyhow::anyhow!("\"{entry}\" is not HOST:IP (e.g. registry.test:127.0.0.1)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::hash_token;

    fn args() -> Settings {
        Settings {
            database_url: Some("postgres://x@127.0.0.1/db".into()),
            ..Settings::default()
        }
    }

    #[test]
    fn a_public_address_without_tokens_is_refused() {
        let mut a = args();
        a.addr = Some("0.0.0.0:8080".parse().unwrap());
        let err = Settings::load(a).unwrap_err().to_string();
        assert!(err.contains("MANIFOLD_API_TOKENS"), "{err}");
    }

    #[test]
    fn a_public_address_is_served_when_allowed_or_protected() {
        let mut a = args();
        a.addr = Some("0.0.0.0:8080".parse().unwrap());
        a.api_tokens = vec!["t0ken".into()];
        let config = Settings::load(a).unwrap();
        assert_eq!(config.api_token_hashes, vec![hash_token("t0ken")]);
        assert!(!format!("{config:?}").contains("t0ken"));
    }

    #[test]
    fn without_an_allow_list_only_loopback_registries_are_allowed() {
        let config = Settings::load(args()).unwrap();
        assert!(config.allow().allows("127.0.0.1:5000"));
        assert!(!config.allow().allows("docker.io"));
        assert!(config.callback_allowed("http://127.0.0.1:9/hook"));
        assert!(!config.callback_allowed("http://10.0.0.1/hook"));
    }

    #[test]
    fn a_public_service_without_an_allow_list_may_contact_no_registry() {
        let mut a = args();
        a.addr = Some("0.0.0.0:8080".parse().unwrap());
        a.allow_unauthenticated = Some(true);
        let config = Settings::load(a).unwrap();
        assert!(!config.allow().allows("127.0.0.1:5432"));
        assert!(!config.allow().allows("127.0.0.1:5000"));
        let mut listed = args();
        listed.addr = Some("0.0.0.0:8080".parse().unwrap());
        listed.allow_unauthenticated = Some(true);
        listed.registries = vec!["127.0.0.1:5000".into()];
        let listed = Settings::load(listed).unwrap();
        assert!(listed.allow().allows("127.0.0.1:5000"));
        assert!(!listed.allow().allows("127.0.0.1:5432"));
    }

    #[test]
    fn flags_win_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.yaml");
        std::fs::write(
            &path,
            "workers: 9\njob_lease_secs: 7\nregistries: [ghcr.io]\n",
        )
        .unwrap();
        let mut a = args();
        a.config = Some(path);
        a.workers = Some(2);
        let config = Settings::load(a).unwrap();
        assert_eq!(config.workers(), 2);
        assert_eq!(config.job_lease(), Duration::from_secs(7));
        assert_eq!(config.registries, vec!["ghcr.io".to_owned()]);
    }

    #[test]
    fn timeouts_come_from_the_file_under_their_names_and_a_bad_one_is_refused_by_flag() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.yaml");
        std::fs::write(&path, "idle_timeout: 90\nanswer_timeout: 2.5\n").unwrap();
        let mut a = args();
        a.config = Some(path);
        a.timeouts.connect_timeout = Some(3.0);
        let timeouts = Settings::load(a).unwrap().client_config().unwrap().timeouts;
        assert_eq!(timeouts.idle, Duration::from_secs(90));
        assert_eq!(timeouts.answer, Duration::from_millis(2500));
        assert_eq!(timeouts.connect, Duration::from_secs(3));
        assert_eq!(timeouts.request, Timeouts::default().request);
        let mut bad = args();
        bad.timeouts.idle_timeout = Some(0.0);
        let err = Settings::load(bad).unwrap_err().to_string();
        assert!(err.contains("--idle-timeout"), "{err}");
    }

    #[test]
    fn the_default_answer_timeout_is_well_under_a_minute() {
        assert!(Timeouts::default().answer <= Duration::from_secs(20));
    }

    #[test]
    fn an_unknown_key_in_the_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.yaml");
        std::fs::write(&path, "wokers: 9\n").unwrap();
        let mut a = args();
        a.config = Some(path);
        assert!(
            Settings::load(a)
                .unwrap_err()
                .to_string()
                .contains("wokers")
        );
    }

    #[test]
    fn the_example_configuration_loads_names_every_setting_and_holds_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/manifold.yaml");
        let text = std::fs::read_to_string(&path).unwrap();
        let written: serde_json::Value = yaml_serde::from_str(&text).unwrap();
        let mut written: Vec<&String> = written.as_object().unwrap().keys().collect();
        written.sort();
        let settings = serde_json::to_value(Settings::default()).unwrap();
        let mut every: Vec<&String> = settings.as_object().unwrap().keys().collect();
        every.sort();

        let example = Settings::load(Settings {
            config: Some(path),
            ..Settings::default()
        })
        .unwrap();

        assert_eq!(
            written, every,
            "packaging/manifold.yaml must name every setting (documented, at its default)"
        );
        let none = Settings::load(Settings::default()).unwrap();
        assert_eq!(example.addr(), none.addr());
        assert_eq!(example.database_url(), none.database_url());
        assert_eq!(example.workers(), none.workers());
        assert_eq!(example.protect_reads(), none.protect_reads());
        assert_eq!(example.job_lease(), none.job_lease());
        assert_eq!(example.job_retry(), none.job_retry());
        assert_eq!(example.watch_interval(), none.watch_interval());
        assert_eq!(example.allow(), none.allow());
        assert!(example.callback_secret().is_none() && example.api_token_hashes.is_empty());
        let (example, none) = (
            example.client_config().unwrap(),
            none.client_config().unwrap(),
        );
        assert_eq!(example.timeouts, none.timeouts);
        assert_eq!(example.upload_chunk, none.upload_chunk);
    }

    #[test]
    fn secrets_from_the_file_are_kept_and_never_printed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.yaml");
        std::fs::write(
            &path,
            "database_url: \"sqlite::memory:\"\ncallback_secret: hush-hush\n",
        )
        .unwrap();
        let config = Settings::load(Settings {
            config: Some(path),
            ..Settings::default()
        })
        .unwrap();
        assert_eq!(config.database_url(), "sqlite::memory:");
        assert_eq!(config.callback_secret().unwrap().expose(), "hush-hush");
        assert!(!format!("{config:?}").contains("hush-hush"));
    }
}

//! The service's settings: one struct, [`Settings`], that is at once the `manifold serve` flags and
//! environment variables (clap) and the YAML configuration file (serde) — each setting declared
//! once, grouped by concern. Read once in `main` (flags and environment win over the file), checked,
//! then handed down; no global settings. Secrets are wrapped so they never print.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde::{Deserialize, Serialize};

use crate::oidc::{OidcSettings, Rule};
use crate::registry::{Allow, ClientConfig, DockerConfig, Keychain, Secret};
use crate::retry::RetryPolicy;

mod file;
mod transfer;

pub use transfer::TransferArgs;

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

    // --- Listening ---
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(
        long,
        env = "MANIFOLD_ADDR",
        value_name = "HOST:PORT",
        help_heading = "Listening"
    )]
    pub addr: Option<SocketAddr>,
    /// API tokens, comma-separated; `sha256:<hex>` entries are already hashed. Writes need one.
    #[arg(
        long = "api-tokens",
        env = "MANIFOLD_API_TOKENS",
        value_delimiter = ',',
        hide_env_values = true,
        help_heading = "Security"
    )]
    #[serde(deserialize_with = "file::comma_list")]
    pub api_tokens: Vec<Secret>,
    /// With API tokens set, reads need a token too.
    #[arg(
        long = "protect-reads",
        env = "MANIFOLD_PROTECT_READS",
        help_heading = "Security"
    )]
    pub protect_reads: Option<bool>,
    /// Serve on a non-loopback address without API tokens.
    #[arg(
        long = "allow-unauthenticated",
        env = "MANIFOLD_ALLOW_UNAUTHENTICATED",
        help_heading = "Security"
    )]
    pub allow_unauthenticated: Option<bool>,

    /// CI jobs' OIDC ID tokens taken for submitting lists: the trusted issuers and the rules of
    /// what their tokens may write. In the file only (`oidc: {issuers: […], rules: […]}`; see
    /// docs/ci.md).
    #[arg(skip)]
    pub oidc: Option<OidcSettings>,

    // --- Database ---
    /// Database URL: postgres://user@host:port/db, or sqlite://path (sqlite::memory: for a
    /// throwaway one) [default: sqlite://manifold.db in the working directory].
    #[arg(
        long = "database-url",
        env = "DATABASE_URL",
        hide_env_values = true,
        help_heading = "Database"
    )]
    pub database_url: Option<Secret>,

    // --- Jobs and the watch ---
    /// Push workers in this process [default: 4].
    #[arg(
        long,
        env = "MANIFOLD_WORKERS",
        value_name = "N",
        help_heading = "Jobs and the watch"
    )]
    pub workers: Option<usize>,
    /// Seconds a worker holds a job before another may take it over [default: 60].
    #[arg(
        long = "job-lease-secs",
        env = "MANIFOLD_JOB_LEASE_SECS",
        value_name = "SECS",
        help_heading = "Jobs and the watch"
    )]
    pub job_lease_secs: Option<u64>,
    /// Sources one push works on at once (resolving, copying children) [default: 8].
    #[arg(
        long = "push-concurrency",
        env = "MANIFOLD_PUSH_CONCURRENCY",
        value_name = "N",
        help_heading = "Jobs and the watch"
    )]
    pub push_concurrency: Option<usize>,
    /// Attempts a push gets before it fails [default: 5].
    #[arg(
        long = "job-max-attempts",
        env = "MANIFOLD_JOB_MAX_ATTEMPTS",
        value_name = "N",
        help_heading = "Jobs and the watch"
    )]
    pub job_max_attempts: Option<u32>,
    /// First delay before a failed push is tried again, in milliseconds [default: 2000].
    #[arg(
        long = "job-backoff-ms",
        env = "MANIFOLD_JOB_BACKOFF_MS",
        value_name = "MS",
        help_heading = "Jobs and the watch"
    )]
    pub job_backoff_ms: Option<u64>,
    /// MiB of finished lists' answers kept in memory to serve reads from; 0 keeps none
    /// [default: 16].
    #[arg(
        long = "list-cache-mib",
        env = "MANIFOLD_LIST_CACHE_MIB",
        value_name = "MIB",
        help_heading = "Database"
    )]
    pub list_cache_mib: Option<u64>,

    /// Seconds between two checks of a pushed list against its registry (drift, follow mode);
    /// 0 turns the watch off [default: 300].
    #[arg(
        long = "watch-interval-secs",
        env = "MANIFOLD_WATCH_INTERVAL_SECS",
        value_name = "SECS",
        help_heading = "Jobs and the watch"
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
    #[serde(deserialize_with = "file::comma_list")]
    pub registries: Vec<String>,
    /// Registries reached over plain HTTP, comma-separated.
    #[arg(
        long = "insecure-registries",
        env = "MANIFOLD_INSECURE_REGISTRIES",
        value_delimiter = ',',
        help_heading = "Registries"
    )]
    #[serde(deserialize_with = "file::comma_list")]
    pub insecure_registries: Vec<String>,
    /// A docker config.json (or its directory) with the registry credentials the service uses.
    // One spelling with the other commands' `--docker-cfg` (the same id: the global flag is not
    // added to `serve` next to it); `--docker-config` is kept as a hidden alias.
    #[arg(
        id = "docker_cfg",
        long = "docker-cfg",
        alias = "docker-config",
        env = "MANIFOLD_DOCKER_CONFIG",
        value_name = "PATH",
        help_heading = "Registries"
    )]
    pub docker_config: Option<PathBuf>,
    /// CA certificates (PEM files) to trust for registries (repeatable, or comma-separated).
    // `--ca-cert` as the other commands spell it; `--ca-certs` is kept as a hidden alias.
    #[arg(
        id = "ca_cert",
        long = "ca-cert",
        alias = "ca-certs",
        env = "MANIFOLD_CA_CERTS",
        value_name = "FILE",
        value_delimiter = ',',
        help_heading = "Registries"
    )]
    #[serde(deserialize_with = "file::comma_list")]
    pub ca_certs: Vec<PathBuf>,
    /// Resolve a registry host name to an address instead of asking DNS (HOST:IP; repeatable, or
    /// comma-separated).
    #[arg(
        long,
        env = "MANIFOLD_RESOLVE",
        value_name = "HOST:IP",
        value_delimiter = ',',
        help_heading = "Registries"
    )]
    #[serde(deserialize_with = "file::comma_list")]
    pub resolve: Vec<String>,

    /// Hosts besides the registries that registries may redirect downloads to (object storage, a
    /// CDN), comma-separated (host[:port]). Credentials never go there. Unset: none.
    #[arg(
        long = "blob-hosts",
        env = "MANIFOLD_BLOB_HOSTS",
        value_delimiter = ',',
        help_heading = "Registries"
    )]
    #[serde(deserialize_with = "file::comma_list")]
    pub blob_hosts: Vec<String>,
    /// Hosts besides the registries that token realms may be on, comma-separated (Docker Hub's is
    /// auth.docker.io). Unset: none.
    #[arg(
        long = "token-hosts",
        env = "MANIFOLD_TOKEN_HOSTS",
        value_delimiter = ',',
        help_heading = "Registries"
    )]
    #[serde(deserialize_with = "file::comma_list")]
    pub token_hosts: Vec<String>,

    /// How long registries may take: the command line's global flags (and their environment
    /// variables), or the file's `connect_timeout`, `request_timeout`, `idle_timeout`,
    /// `answer_timeout`, `commit_timeout`, `upload_chunk_mib`.
    #[arg(skip)]
    #[serde(flatten)]
    pub timeouts: TransferArgs,

    // --- Registry events ---
    /// Secret that registry notifications must carry (`POST /events/{source}`: the header
    /// `Authorization: Bearer <secret>` or `X-Manifold-Secret`, Harbor's `Authorization`, GitLab's
    /// `X-Gitlab-Token`, GitHub's signature key, `?secret=` for Docker Hub and Quay); unset, every
    /// event is refused.
    #[arg(
        long = "event-secret",
        env = "MANIFOLD_EVENT_SECRET",
        hide_env_values = true,
        help_heading = "Registry events"
    )]
    pub event_secret: Option<Secret>,

    /// Registry events taken a second, over all receivers; more answer 429 [default: 100].
    #[arg(
        long = "event-rate",
        env = "MANIFOLD_EVENT_RATE",
        value_name = "N",
        help_heading = "Registry events"
    )]
    pub event_rate: Option<u32>,

    /// Registry events taken at once before the rate applies [default: 1000].
    #[arg(
        long = "event-burst",
        env = "MANIFOLD_EVENT_BURST",
        value_name = "N",
        help_heading = "Registry events"
    )]
    pub event_burst: Option<u32>,

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
    #[serde(deserialize_with = "file::comma_list")]
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
            Some(path) => file::overlay(&given, file::read(path)?)?,
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
            && !self.writes_need_credentials()
            && !self.allow_unauthenticated.unwrap_or(false)
        {
            anyhow::bail!(
                "refusing to serve on {addr} without API tokens: set MANIFOLD_API_TOKENS (or \
                 OIDC issuers in the file), or MANIFOLD_ALLOW_UNAUTHENTICATED=true if the \
                 network is trusted"
            );
        }
        if let Some(oidc) = &self.oidc {
            oidc.check().map_err(anyhow::Error::msg)?;
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

    /// The OIDC settings (none: no issuer is trusted).
    pub fn oidc(&self) -> OidcSettings {
        self.oidc.clone().unwrap_or_default()
    }

    /// The rules of what ID tokens may write.
    pub fn oidc_rules(&self) -> &[Rule] {
        self.oidc.as_ref().map_or(&[], |o| &o.rules)
    }

    /// Whether writes need a credential: API tokens, or OIDC issuers, are configured.
    pub fn writes_need_credentials(&self) -> bool {
        !self.api_token_hashes.is_empty() || self.oidc.as_ref().is_some_and(OidcSettings::enabled)
    }

    /// Whether reads need a token too (with tokens configured).
    pub fn protect_reads(&self) -> bool {
        self.protect_reads.unwrap_or(false)
    }

    /// How long a claimed job is held before another worker may take it over.
    pub fn job_lease(&self) -> Duration {
        Duration::from_secs(self.job_lease_secs.unwrap_or(60).max(1))
    }

    /// Sources one push works on at once.
    pub fn concurrency(&self) -> usize {
        self.push_concurrency
            .unwrap_or(crate::engine::DEFAULT_CONCURRENCY)
            .max(1)
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

    /// Bytes of finished lists' answers kept in memory.
    pub fn list_cache_bytes(&self) -> usize {
        let mib = self.list_cache_mib.unwrap_or(16);
        usize::try_from(mib.saturating_mul(1024 * 1024)).unwrap_or(usize::MAX)
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
            crate::model::reference::is_loopback_host(
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

    pub(super) fn args() -> Settings {
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
}

//! The service's configuration: one plain struct, read once in `main` from flags, environment
//! variables and an optional YAML file (flags and environment win), then handed down. No global
//! settings. Secrets are wrapped so they never print.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use serde::Deserialize;

use crate::registry::{Allow, ClientConfig, DockerConfig, Keychain, Secret};

/// The database used when none is configured: a SQLite file in the working directory.
pub const DEFAULT_DATABASE: &str = "sqlite://manifold.db";

/// `manifold serve` settings. Every one can also be set in the file named by `--config`.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// A YAML file with any of these settings (snake_case keys: addr, database_url, workers, …).
    #[arg(long, env = "MANIFOLD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "MANIFOLD_ADDR", value_name = "HOST:PORT")]
    pub addr: Option<SocketAddr>,
    /// Database URL: postgres://user@host:port/db, or sqlite://path (sqlite::memory: for a
    /// throwaway one) [default: sqlite://manifold.db in the working directory].
    #[arg(long = "database-url", env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Push workers in this process [default: 4].
    #[arg(long, env = "MANIFOLD_WORKERS", value_name = "N")]
    pub workers: Option<usize>,
    /// Registries the service may talk to, comma-separated (host[:port]). Unset: loopback only.
    #[arg(long, env = "MANIFOLD_REGISTRIES", value_delimiter = ',')]
    pub registries: Vec<String>,
    /// Registries reached over plain HTTP, comma-separated.
    #[arg(
        long = "insecure-registries",
        env = "MANIFOLD_INSECURE_REGISTRIES",
        value_delimiter = ','
    )]
    pub insecure_registries: Vec<String>,
    /// A docker config.json (or its directory) with the registry credentials the service uses.
    #[arg(
        long = "docker-config",
        env = "MANIFOLD_DOCKER_CONFIG",
        value_name = "PATH"
    )]
    pub docker_config: Option<PathBuf>,
    /// CA certificates (PEM files) to trust for registries, comma-separated.
    #[arg(long = "ca-certs", env = "MANIFOLD_CA_CERTS", value_delimiter = ',')]
    pub ca_certs: Vec<PathBuf>,
    /// API tokens, comma-separated; `sha256:<hex>` entries are already hashed. Writes need one.
    #[arg(
        long = "api-tokens",
        env = "MANIFOLD_API_TOKENS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub api_tokens: Vec<String>,
    /// With API tokens set, reads need a token too.
    #[arg(long = "protect-reads", env = "MANIFOLD_PROTECT_READS")]
    pub protect_reads: Option<bool>,
    /// Serve on a non-loopback address without API tokens.
    #[arg(long = "allow-unauthenticated", env = "MANIFOLD_ALLOW_UNAUTHENTICATED")]
    pub allow_unauthenticated: Option<bool>,
    /// Seconds a worker holds a job before another may take it over [default: 60].
    #[arg(
        long = "job-lease-secs",
        env = "MANIFOLD_JOB_LEASE_SECS",
        value_name = "SECS"
    )]
    pub job_lease_secs: Option<u64>,
    /// Attempts a push gets before it fails [default: 5].
    #[arg(
        long = "job-max-attempts",
        env = "MANIFOLD_JOB_MAX_ATTEMPTS",
        value_name = "N"
    )]
    pub job_max_attempts: Option<u32>,
    /// First delay before a failed push is tried again, in milliseconds [default: 2000].
    #[arg(
        long = "job-backoff-ms",
        env = "MANIFOLD_JOB_BACKOFF_MS",
        value_name = "MS"
    )]
    pub job_backoff_ms: Option<u64>,
    /// Secret that signs callbacks (HMAC-SHA256 in X-Manifold-Signature).
    #[arg(
        long = "callback-secret",
        env = "MANIFOLD_CALLBACK_SECRET",
        hide_env_values = true
    )]
    pub callback_secret: Option<String>,
    /// Hosts callbacks may be sent to, comma-separated (host[:port]). Unset: loopback only.
    #[arg(
        long = "callback-hosts",
        env = "MANIFOLD_CALLBACK_HOSTS",
        value_delimiter = ','
    )]
    pub callback_hosts: Vec<String>,
    /// Resolve a registry host name to an address instead of asking DNS (HOST:IP, comma-separated).
    #[arg(long, env = "MANIFOLD_RESOLVE", value_delimiter = ',')]
    pub resolve: Vec<String>,
}

/// The same settings as read from a file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    addr: Option<SocketAddr>,
    database_url: Option<String>,
    workers: Option<usize>,
    #[serde(default)]
    registries: Vec<String>,
    #[serde(default)]
    insecure_registries: Vec<String>,
    docker_config: Option<PathBuf>,
    #[serde(default)]
    ca_certs: Vec<PathBuf>,
    #[serde(default)]
    api_tokens: Vec<String>,
    protect_reads: Option<bool>,
    allow_unauthenticated: Option<bool>,
    job_lease_secs: Option<u64>,
    job_max_attempts: Option<u32>,
    job_backoff_ms: Option<u64>,
    callback_secret: Option<String>,
    #[serde(default)]
    callback_hosts: Vec<String>,
    #[serde(default)]
    resolve: Vec<String>,
}

/// The resolved configuration of a running service.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listen address.
    pub addr: SocketAddr,
    /// Database URL (it may hold a password: never logged whole).
    pub database_url: Secret,
    /// Push workers in this process.
    pub workers: usize,
    /// Registries the service may talk to; empty means loopback registries only.
    pub registries: Vec<String>,
    /// Registries reached over plain HTTP.
    pub insecure_registries: Vec<String>,
    /// Where registry credentials come from.
    pub docker_config: Option<PathBuf>,
    /// Extra CAs for registries.
    pub ca_certs: Vec<PathBuf>,
    /// SHA-256 hashes (hex) of the API tokens.
    pub api_token_hashes: Vec<String>,
    /// Reads need a token too.
    pub protect_reads: bool,
    /// Lease of a claimed job.
    pub job_lease: Duration,
    /// Attempts a push gets.
    pub job_max_attempts: u32,
    /// First retry delay.
    pub job_backoff: Duration,
    /// Signs callbacks.
    pub callback_secret: Option<Secret>,
    /// Hosts callbacks may go to; empty means loopback only.
    pub callback_hosts: Vec<String>,
    /// Host name overrides for registries.
    pub resolve: Vec<(String, SocketAddr)>,
}

impl Config {
    /// Reads flags and environment, then the file; checks the result.
    pub fn load(args: ServeArgs) -> anyhow::Result<Self> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileSettings::default(),
        };
        let pick = |a: Vec<String>, f: Vec<String>| if a.is_empty() { f } else { a };
        let tokens = pick(args.api_tokens, file.api_tokens);
        let api_token_hashes = tokens
            .iter()
            .map(|t| t.trim())
            .filter(|t| !t.is_empty())
            .map(hash_token_entry)
            .collect::<anyhow::Result<Vec<_>>>()?;
        let addr = args
            .addr
            .or(file.addr)
            .unwrap_or_else(|| "127.0.0.1:8080".parse().expect("valid"));
        let allow_unauthenticated = args
            .allow_unauthenticated
            .or(file.allow_unauthenticated)
            .unwrap_or(false);
        if !addr.ip().is_loopback() && api_token_hashes.is_empty() && !allow_unauthenticated {
            anyhow::bail!(
                "refusing to serve on {addr} without API tokens: set MANIFOLD_API_TOKENS, or \
                 MANIFOLD_ALLOW_UNAUTHENTICATED=true if the network is trusted"
            );
        }
        let database_url = args
            .database_url
            .or(file.database_url)
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_DATABASE.to_owned());
        if !(database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://")
            || database_url.starts_with("sqlite:"))
        {
            anyhow::bail!(
                "DATABASE_URL must start with postgres:// or sqlite: (e.g. sqlite://manifold.db)"
            );
        }
        let resolve = pick(args.resolve, file.resolve)
            .iter()
            .map(|entry| parse_resolve(entry))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Self {
            addr,
            database_url: Secret::new(database_url),
            workers: args.workers.or(file.workers).unwrap_or(4),
            registries: clean(pick(args.registries, file.registries)),
            insecure_registries: clean(pick(args.insecure_registries, file.insecure_registries)),
            docker_config: args.docker_config.or(file.docker_config),
            ca_certs: if args.ca_certs.is_empty() {
                file.ca_certs
            } else {
                args.ca_certs
            },
            api_token_hashes,
            protect_reads: args.protect_reads.or(file.protect_reads).unwrap_or(false),
            job_lease: Duration::from_secs(
                args.job_lease_secs
                    .or(file.job_lease_secs)
                    .unwrap_or(60)
                    .max(1),
            ),
            job_max_attempts: args
                .job_max_attempts
                .or(file.job_max_attempts)
                .unwrap_or(5)
                .max(1),
            job_backoff: Duration::from_millis(
                args.job_backoff_ms.or(file.job_backoff_ms).unwrap_or(2000),
            ),
            callback_secret: args
                .callback_secret
                .or(file.callback_secret)
                .filter(|s| !s.is_empty())
                .map(Secret::new),
            callback_hosts: clean(pick(args.callback_hosts, file.callback_hosts)),
            resolve,
        })
    }

    /// How failed jobs are retried: `job_max_attempts` attempts, `job_backoff` doubling up to
    /// five minutes.
    pub fn job_retry(&self) -> crate::retry::RetryPolicy {
        crate::retry::RetryPolicy {
            max_attempts: self.job_max_attempts,
            base_delay: self.job_backoff,
            max_delay: Duration::from_secs(300),
        }
    }

    /// The registries the service may talk to.
    pub fn allow(&self) -> Allow {
        if self.registries.is_empty() {
            Allow::LoopbackOnly
        } else {
            Allow::Only(self.registries.clone())
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
        if self.callback_hosts.is_empty() {
            crate::spec::reference::is_loopback_host(
                host.trim_start_matches('[').trim_end_matches(']'),
            )
        } else {
            self.callback_hosts
                .iter()
                .any(|h| *h == with_port || h == host)
        }
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
            insecure_registries: self.insecure_registries.clone(),
            ca_certs: self.ca_certs.clone(),
            keychain: Keychain {
                docker,
                ..Keychain::default()
            },
            resolve: self.resolve.clone(),
            ..ClientConfig::default()
        })
    }
}

fn read_file(path: &Path) -> anyhow::Result<FileSettings> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read config file {}: {e}", path.display()))?;
    yaml_serde::from_str(&text).map_err(|e| anyhow::anyhow!("config file {}: {e}", path.display()))
}

fn clean(list: Vec<String>) -> Vec<String> {
    list.into_iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// `sha256:<hex>` entries are kept; plain tokens are hashed at once.
fn hash_token_entry(entry: &str) -> anyhow::Result<String> {
    match entry.strip_prefix("sha256:") {
        Some(hex) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok(hex.to_ascii_lowercase())
        }
        Some(_) => anyhow::bail!("an API token entry starting sha256: must have 64 hex digits"),
        None => Ok(hash_token(entry)),
    }
}

/// SHA-256 of a token, hex.
pub fn hash_token(token: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
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

    fn args() -> ServeArgs {
        ServeArgs {
            database_url: Some("postgres://x@127.0.0.1/db".into()),
            ..ServeArgs::default()
        }
    }

    #[test]
    fn a_public_address_without_tokens_is_refused() {
        let mut a = args();
        a.addr = Some("0.0.0.0:8080".parse().unwrap());
        let err = Config::load(a).unwrap_err().to_string();
        assert!(err.contains("MANIFOLD_API_TOKENS"), "{err}");
    }

    #[test]
    fn a_public_address_is_served_when_allowed_or_protected() {
        let mut a = args();
        a.addr = Some("0.0.0.0:8080".parse().unwrap());
        a.api_tokens = vec!["t0ken".into()];
        let config = Config::load(a).unwrap();
        assert_eq!(config.api_token_hashes, vec![hash_token("t0ken")]);
        assert!(!format!("{config:?}").contains("t0ken"));
    }

    #[test]
    fn without_an_allow_list_only_loopback_registries_are_allowed() {
        let config = Config::load(args()).unwrap();
        assert!(config.allow().allows("127.0.0.1:5000"));
        assert!(!config.allow().allows("docker.io"));
        assert!(config.callback_allowed("http://127.0.0.1:9/hook"));
        assert!(!config.callback_allowed("http://10.0.0.1/hook"));
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
        let config = Config::load(a).unwrap();
        assert_eq!(config.workers, 2);
        assert_eq!(config.job_lease, Duration::from_secs(7));
        assert_eq!(config.registries, vec!["ghcr.io".to_owned()]);
    }

    #[test]
    fn an_unknown_key_in_the_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.yaml");
        std::fs::write(&path, "wokers: 9\n").unwrap();
        let mut a = args();
        a.config = Some(path);
        assert!(Config::load(a).unwrap_err().to_string().contains("wokers"));
    }
}

//! How the registry client transfers, as settings: its timeouts and the size of upload chunks —
//! flags and environment variables of `manifold serve` and of every other command, and keys of
//! the service's configuration file.

use std::time::Duration;

use clap::Args;
use serde::{Deserialize, Serialize};

use crate::registry::{DEFAULT_UPLOAD_CHUNK, Timeouts};

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
        help_heading = "Timeouts"
    )]
    pub connect_timeout: Option<f64>,
    /// Seconds a registry request without a blob body (manifests, tokens, mounts) may take
    /// whole [default: 60].
    #[arg(
        long = "request-timeout",
        env = "MANIFOLD_REQUEST_TIMEOUT",
        value_name = "SECS",
        global = true,
        help_heading = "Timeouts"
    )]
    pub request_timeout: Option<f64>,
    /// Seconds a blob transfer may go without moving a byte, either way; a transfer that keeps
    /// moving may take as long as it needs [default: 30].
    #[arg(
        long = "idle-timeout",
        env = "MANIFOLD_IDLE_TIMEOUT",
        value_name = "SECS",
        global = true,
        help_heading = "Timeouts"
    )]
    pub idle_timeout: Option<f64>,
    /// Seconds a registry may go without answering any request, retries included, before it is
    /// given up on as not answering [default: 20].
    #[arg(
        long = "answer-timeout",
        env = "MANIFOLD_ANSWER_TIMEOUT",
        value_name = "SECS",
        global = true,
        help_heading = "Timeouts"
    )]
    pub answer_timeout: Option<f64>,
    /// Seconds to wait for the answer to a request that commits what it sent — a blob upload's
    /// requests, a manifest PUT — once it is sent: slow storage (distribution on S3 moves a blob
    /// into place before it answers) may take minutes [default: 600].
    #[arg(
        long = "commit-timeout",
        env = "MANIFOLD_COMMIT_TIMEOUT",
        value_name = "SECS",
        global = true,
        help_heading = "Timeouts"
    )]
    pub commit_timeout: Option<f64>,
    /// MiB a blob upload sends in one request; an interrupted upload resumes after the last
    /// whole one where the registry allows [default: 64].
    #[arg(
        long = "upload-chunk-mib",
        env = "MANIFOLD_UPLOAD_CHUNK_MIB",
        value_name = "MIB",
        global = true,
        help_heading = "Timeouts"
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
            commit: pick(self.commit_timeout, "commit-timeout", defaults.commit)?,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_answer_timeout_is_well_under_a_minute() {
        assert!(Timeouts::default().answer <= Duration::from_secs(20));
    }
}

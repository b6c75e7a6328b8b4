//! Registry credentials for the `manifold` binary: its flags, docker's `config.json`, and the
//! check that no secret is printed.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use manifold_testkit::TestRegistry;
use serde_json::Value;

use super::cli::Run;

/// `--plain-http` is not needed for loopback registries, but the CLI flags for a registry's
/// credentials are: this gives them.
pub fn cred_args(registry: &TestRegistry) -> Vec<String> {
    match registry.credentials() {
        Some((u, p)) => vec!["--username".into(), u, "--password".into(), p],
        None => vec![],
    }
}

/// Writes `config.json` into `dir` and returns `dir` (what `--docker-cfg` takes).
pub fn docker_config(dir: &Path, config: &Value) -> PathBuf {
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    dir.to_path_buf()
}

/// docker's `auth` value: base64 of `user:password`.
pub fn basic_auth(user: &str, password: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

/// Asserts that none of `secrets` appears in the run's stdout or stderr.
pub fn assert_no_secrets(run: &Run, secrets: &[String]) {
    for secret in secrets {
        assert!(
            !run.stdout.contains(secret.as_str()) && !run.stderr.contains(secret.as_str()),
            "a secret ({}…) was printed:\nstdout:\n{}\nstderr:\n{}",
            &secret[..secret.len().min(12)],
            run.stdout,
            run.stderr
        );
    }
}

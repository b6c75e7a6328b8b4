//! An independent second opinion from `skopeo` (1.9): what a pull for a platform would get
//! (`skopeo --override-os/--override-arch/--override-variant inspect`, and [`skopeo_pick`] for the
//! digest of the child it picks), the raw bytes a registry serves (`skopeo inspect --raw`), and
//! another tool moving a tag ([`skopeo_copy`]).
//!
//! skopeo 1.9.3's `inspect` of a list reports the *list's* digest in `Digest` (with the picked
//! child's `Architecture`, `Os` and `Layers`) and has no `Variant` field at all; [`skopeo_pick`]
//! copies the picked child into a `dir:` and hashes its manifest to learn the child's digest.
//!
//! skopeo runs with `HOME`, `XDG_RUNTIME_DIR`, `XDG_CONFIG_HOME` and `REGISTRY_AUTH_FILE`
//! pointing into a fresh temporary directory, so no auth file of the user's interferes;
//! credentials are passed with `--creds` only when the [`TestRegistry`] has them. In token mode
//! those are the token server's user (skopeo follows the Bearer challenge itself); HTTPS
//! registries are reached with `--tls-verify=false` like plain ones.

use std::ffi::OsString;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::process::Command;

use crate::registry::TestRegistry;

/// Environment variable naming the skopeo binary (default: `skopeo` on `PATH`).
pub const SKOPEO_BIN_ENV: &str = "MANIFOLD_TEST_SKOPEO_BIN";

/// How long one skopeo run may take.
const SKOPEO_TIMEOUT: Duration = Duration::from_secs(60);

/// `skopeo --override-os OS --override-arch ARCH [--override-variant V] inspect
/// --tls-verify=false [--creds U:P] docker://HOST/IMAGE`, parsed. The answer has `Name`, `Digest`
/// (with skopeo 1.9.3: the digest of the manifest at the reference, i.e. of the *list* when IMAGE
/// is one — use [`skopeo_pick`] for the child's), `RepoTags`, `Created`, `Labels`, and the
/// picked image's `Architecture`, `Os`, `Layers` (compressed digests), `Env`. No `Variant`.
pub async fn skopeo_inspect(
    registry: &TestRegistry,
    image: &str,
    os: &str,
    arch: &str,
    variant: Option<&str>,
) -> anyhow::Result<serde_json::Value> {
    let mut args = override_args(os, arch, variant);
    args.extend(inspect_args(registry, image, false));
    let stdout = run_skopeo(&args).await?;
    serde_json::from_slice(&stdout).with_context(|| {
        format!(
            "skopeo inspect printed no JSON: {}",
            String::from_utf8_lossy(&stdout)
        )
    })
}

/// `skopeo inspect --raw --tls-verify=false [--creds U:P] docker://HOST/IMAGE`: the manifest
/// bytes exactly as the registry serves them (for a list: the list itself).
pub async fn skopeo_inspect_raw(registry: &TestRegistry, image: &str) -> anyhow::Result<Vec<u8>> {
    let args = inspect_args(registry, image, true);
    run_skopeo(&args).await
}

/// The digest of the image a pull of IMAGE for `os/arch[/variant]` gets: for a list, the
/// child skopeo picks (an error when none matches); for a single image, its own digest.
///
/// Runs `skopeo --insecure-policy --override-… copy --src-tls-verify=false [--src-creds U:P]
/// docker://HOST/IMAGE dir:TMP` (which fetches the child's blobs too) and hashes the copied
/// `manifest.json`, which skopeo writes byte for byte as served.
pub async fn skopeo_pick(
    registry: &TestRegistry,
    image: &str,
    os: &str,
    arch: &str,
    variant: Option<&str>,
) -> anyhow::Result<String> {
    let dest = tempfile::Builder::new()
        .prefix("manifold-skopeo-copy-")
        .tempdir()
        .context("create copy dir")?;
    let mut args: Vec<OsString> = vec!["--insecure-policy".into()];
    args.extend(override_args(os, arch, variant));
    args.extend(["copy".into(), "--src-tls-verify=false".into()]);
    if let Some((user, password)) = registry.credentials() {
        args.push("--src-creds".into());
        args.push(format!("{user}:{password}").into());
    }
    args.push(format!("docker://{}/{image}", registry.host()).into());
    let mut dir_arg = OsString::from("dir:");
    dir_arg.push(dest.path());
    args.push(dir_arg);
    run_skopeo(&args).await?;
    let manifest = std::fs::read(dest.path().join("manifest.json"))
        .context("skopeo copy wrote no manifest.json")?;
    Ok(crate::fixtures::sha256_digest(&manifest))
}

/// `skopeo --insecure-policy copy --src-tls-verify=false --dest-tls-verify=false [--src-creds
/// U:P --dest-creds U:P] docker://HOST/FROM docker://HOST/TO`: another tool writing `to` in the
/// same registry (a single image as skopeo copies it; a list only its one picked child).
pub async fn skopeo_copy(registry: &TestRegistry, from: &str, to: &str) -> anyhow::Result<()> {
    let mut args: Vec<OsString> = vec![
        "--insecure-policy".into(),
        "copy".into(),
        "--src-tls-verify=false".into(),
        "--dest-tls-verify=false".into(),
    ];
    if let Some((user, password)) = registry.credentials() {
        for flag in ["--src-creds", "--dest-creds"] {
            args.push(flag.into());
            args.push(format!("{user}:{password}").into());
        }
    }
    args.push(format!("docker://{}/{from}", registry.host()).into());
    args.push(format!("docker://{}/{to}", registry.host()).into());
    run_skopeo(&args).await.map(|_| ())
}

/// `--override-os OS --override-arch ARCH [--override-variant V]` (global options: they go before
/// the subcommand).
fn override_args(os: &str, arch: &str, variant: Option<&str>) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec![
        "--override-os".into(),
        os.into(),
        "--override-arch".into(),
        arch.into(),
    ];
    if let Some(variant) = variant {
        args.extend(["--override-variant".into(), variant.into()]);
    }
    args
}

/// The `inspect …` part of the command line.
fn inspect_args(registry: &TestRegistry, image: &str, raw: bool) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec!["inspect".into(), "--tls-verify=false".into()];
    if raw {
        args.push("--raw".into());
    }
    if let Some((user, password)) = registry.credentials() {
        args.push("--creds".into());
        args.push(format!("{user}:{password}").into());
    }
    args.push(format!("docker://{}/{image}", registry.host()).into());
    args
}

/// Runs skopeo with `args` in an isolated environment; its stdout, or an error with its stderr.
pub async fn run_skopeo(args: &[OsString]) -> anyhow::Result<Vec<u8>> {
    let bin = std::env::var_os(SKOPEO_BIN_ENV).unwrap_or_else(|| "skopeo".into());
    let home = tempfile::Builder::new()
        .prefix("manifold-skopeo-")
        .tempdir()
        .context("create skopeo temp dir")?;
    let runtime_dir = home.path().join("run");
    std::fs::create_dir(&runtime_dir)?;
    let mut cmd = Command::new(&bin);
    cmd.args(args)
        .env("HOME", home.path())
        .env("XDG_RUNTIME_DIR", &runtime_dir)
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("REGISTRY_AUTH_FILE", home.path().join("auth.json"))
        .env_remove("DOCKER_CONFIG")
        .env_remove("CONTAINERS_REGISTRIES_CONF")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(SKOPEO_TIMEOUT, cmd.output())
        .await
        .with_context(|| {
            format!(
                "skopeo {} took longer than {SKOPEO_TIMEOUT:?}",
                display_args(args)
            )
        })?
        .with_context(|| {
            format!(
                "cannot run {} (apt-get install skopeo)",
                bin.to_string_lossy()
            )
        })?;
    if !output.status.success() {
        bail!(
            "skopeo {} failed ({}): {}",
            display_args(args),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(output.stdout)
}

/// The arguments for messages, with `--creds` values hidden.
fn display_args(args: &[OsString]) -> String {
    let mut shown = Vec::with_capacity(args.len());
    let mut hide_next = false;
    for arg in args {
        let arg = arg.to_string_lossy();
        shown.push(if hide_next {
            "***".into()
        } else {
            arg.to_string()
        });
        hide_next = matches!(arg.as_ref(), "--creds" | "--src-creds" | "--dest-creds");
    }
    shown.join(" ")
}

//! `manifold doctor REGISTRY[/REPOSITORY]`: its arguments, the probes (the engine's `doctor`) and
//! their report, as text or as one JSON document.

use std::fmt::Write as _;

use clap::Args;

use super::output;
use crate::engine::{self, Diagnosis, DoctorOptions, Probe};
use crate::registry::{AuthScheme, RegistryClient};

/// `doctor`'s arguments.
#[derive(Debug, Args)]
pub(super) struct DoctorArgs {
    /// Print the report as one JSON document.
    #[arg(long)]
    pub(super) json: bool,
    /// Also upload a small blob, mount it into a second repository, and push an OCI index and a
    /// Docker list with annotations — in REPOSITORY (default: manifold-doctor) and
    /// REPOSITORY-mount — then delete what the registry lets it.
    #[arg(long)]
    write: bool,
    /// The registry (`host[:port]`), with a repository to probe its referrers API in and, with
    /// --write, to write to: `ghcr.io/OWNER/scratch`.
    target: String,
}

/// Probes the registry and prints what it does.
pub(super) async fn run(client: &RegistryClient, args: &DoctorArgs) -> anyhow::Result<()> {
    let (registry, repository) = match args.target.split_once('/') {
        Some((registry, repository)) => (registry, Some(repository.to_owned())),
        None => (args.target.as_str(), None),
    };
    if registry.is_empty() || repository.as_deref() == Some("") {
        anyhow::bail!("REGISTRY[/REPOSITORY]: {:?} names no registry", args.target);
    }
    let options = DoctorOptions {
        registry: registry.to_owned(),
        repository,
        write: args.write,
    };
    let diagnosis = engine::doctor(client, &options).await?;
    if args.json {
        let mut text = serde_json::to_string_pretty(&diagnosis)?;
        text.push('\n');
        return output::stdout(text.as_bytes());
    }
    output::stdout(text(&diagnosis)?.as_bytes())
}

/// The report as lines of `what: found`.
fn text(d: &Diagnosis) -> Result<String, std::fmt::Error> {
    let mut out = String::new();
    let ping = &d.ping;
    line(&mut out, "Registry", &d.registry)?;
    let api = format!(
        "{} over {} ({} ms)",
        ping.scheme, ping.http_version, ping.answered_ms
    );
    line(&mut out, "API", &api)?;
    let auth = match &ping.auth {
        AuthScheme::Anonymous => "anonymous (no credentials asked for)".to_owned(),
        AuthScheme::Basic => "basic".to_owned(),
        AuthScheme::Bearer { realm, service } => format!(
            "bearer tokens from {realm}{}",
            service
                .as_ref()
                .map_or_else(String::new, |s| format!(" (service {s})"))
        ),
    };
    let given = match (ping.credentials, ping.authenticated) {
        (true, true) => "credentials given and taken",
        (true, false) => "the credentials given were refused",
        (false, true) => "no credentials given",
        (false, false) => "no credentials given, and it refuses anonymous access",
    };
    line(&mut out, "Auth", &format!("{auth}; {given}"))?;
    let limits: Vec<String> = ping
        .rate_limit
        .iter()
        .map(|(name, value)| format!("{name}: {value}"))
        .collect();
    let limits = if limits.is_empty() {
        "none announced".to_owned()
    } else {
        limits.join(", ")
    };
    line(&mut out, "Rate limit", &limits)?;
    if let Some(referrers) = &d.referrers_api {
        probe_line(&mut out, "Referrers API", referrers)?;
    }
    if let Some(w) = &d.writes {
        line(&mut out, "Scratch repository", &w.scratch)?;
        probe_line(&mut out, "Blob upload", &w.blob_upload)?;
        let probes = [
            ("Mount", &w.mount),
            ("OCI index", &w.oci_index),
            ("Docker list + annotations", &w.docker_list_with_annotations),
        ];
        for (what, probe) in probes {
            if let Some(probe) = probe {
                probe_line(&mut out, what, probe)?;
            }
        }
        for left in &w.left_behind {
            let kept = format!("{left} (the registry would not delete it)");
            line(&mut out, "Left behind", &kept)?;
        }
    }
    line(&mut out, "Requests", &d.requests.to_string())?;
    Ok(out)
}

fn probe_line(out: &mut String, what: &str, probe: &Probe) -> std::fmt::Result {
    let verdict = if probe.works { "yes" } else { "no" };
    line(
        out,
        what,
        &format!("{verdict}: {} ({} ms)", probe.detail, probe.took_ms),
    )
}

/// One line: the label in a column wide enough for the longest.
fn line(out: &mut String, label: &str, value: &str) -> std::fmt::Result {
    let label = format!("{label}:");
    writeln!(out, "{label:<27}{value}")
}

//! What the command line prints: manifest-tool's `Digest: <digest> <size>` line and inspect layout
//! for people and scripts that parse them, its `inspect --raw` document, or one JSON document with
//! `--json` — a failure too.

use std::fmt::Write as _;
use std::io::Write as _;

use crate::engine::{Destination, EngineError, Inspection, Outcome, PushReport, Verification};
use crate::model::ErrorCode;
use crate::registry::RegistryError;
use crate::spec::SpecError;

/// The exit status of a command whose reader went away (`manifold man | head`): 128 + SIGPIPE,
/// what a shell reports for a Unix tool that a closed pipe ended.
pub(super) const READER_GONE: i32 = 141;

/// Whether `e` is stdout's reader having gone away (EPIPE): the command then ends quietly.
pub(super) fn reader_gone(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Writes `bytes` to stdout and flushes it: every result goes out this way, so that a reader that
/// went away is one error, [`reader_gone`], and never a panic.
pub(super) fn stdout(bytes: &[u8]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()?;
    Ok(())
}

/// `value` as indented JSON and a newline, on stdout.
fn json_document(value: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut text = serde_json::to_vec_pretty(value)?;
    text.push(b'\n');
    stdout(&text)
}

/// Prints a failure on stderr for people; with `--json` also as one JSON document on stdout,
/// `{"error": {"code", "message"}}`, the code as the service would give it.
pub(super) fn error(e: &anyhow::Error, json: bool) {
    let message = crate::registry::error_chain(e.as_ref());
    let destinations = match e.downcast_ref::<EngineError>() {
        Some(EngineError::Publish(failure)) => failure.destinations.as_slice(),
        _ => &[],
    };
    for d in destinations {
        eprintln!("{}", destination_line(d));
    }
    eprintln!("manifold: error: {message}");
    if json && e.downcast_ref::<Reported>().is_none() {
        let mut doc =
            serde_json::json!({"error": {"code": code_of(e).as_str(), "message": message}});
        if !destinations.is_empty() {
            doc["destinations"] = serde_json::to_value(destinations).unwrap_or_default();
        }
        // Nobody reads a document whose reader went away; stderr said it already.
        let _ = json_document(&doc);
    }
}

/// A failure whose result was printed already (`verify --json`'s one document says what failed):
/// no second document follows it.
#[derive(Debug)]
pub(super) struct Reported(pub String);

impl std::fmt::Display for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Reported {}

/// The stable code of a failure: the engine's or the registry's, `INVALID_SPEC`, or
/// `INVALID_ARGUMENT` for the command line's own.
fn code_of(e: &anyhow::Error) -> ErrorCode {
    for cause in e.chain() {
        if let Some(e) = cause.downcast_ref::<EngineError>() {
            return e.code();
        }
        if let Some(e) = cause.downcast_ref::<RegistryError>() {
            return e.code();
        }
        if cause.downcast_ref::<SpecError>().is_some() {
            return ErrorCode::InvalidSpec;
        }
    }
    ErrorCode::InvalidArgument
}

/// Prints a push result on stdout.
pub(super) fn push_report(report: &PushReport, json: bool) -> anyhow::Result<()> {
    if json {
        return json_document(report);
    }
    if report.dry_run {
        stdout(&[&report.list.bytes[..], b"\n"].concat())?;
        eprintln!(
            "dry run: {} entries resolved in {} ms with {} requests; nothing was written",
            report.entries.len(),
            report.elapsed_ms,
            report.requests
        );
    } else if report.unchanged {
        let written = if report.restored.is_empty() {
            "nothing but its extra tags was written"
        } else {
            "only its missing children and its extra tags were written"
        };
        eprintln!(
            "{} holds this list already ({} entries); {written}, in {} ms with {} requests",
            report.target,
            report.entries.len(),
            report.elapsed_ms,
            report.requests
        );
    } else if !report.destinations.is_empty() {
        eprintln!(
            "published to {} destinations ({} entries) in {} ms with {} requests",
            report.destinations.len(),
            report.entries.len(),
            report.elapsed_ms,
            report.requests
        );
    } else {
        eprintln!(
            "pushed {} ({} entries{}) in {} ms with {} requests",
            report.target,
            report.entries.len(),
            if report.tags.is_empty() {
                String::new()
            } else {
                format!(", tags {}", report.tags.join(", "))
            },
            report.elapsed_ms,
            report.requests
        );
    }
    if !report.restored.is_empty() {
        eprintln!(
            "restored {} child(ren) that were gone from {}: {}",
            report.restored.len(),
            report.target,
            report
                .restored
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if !report.referrers.is_empty() {
        let (verb, place) = if report.dry_run {
            ("would bring", "into")
        } else {
            ("with", "in")
        };
        eprintln!(
            "{verb} what refers to its children: {} ({place} {})",
            crate::model::tally(&report.referrers),
            report.target
        );
    }
    for c in report.platforms.iter().filter(|c| c.problem.is_some()) {
        eprintln!(
            "warning: {} (entry {}): {}",
            c.platform,
            c.entry + 1,
            c.problem.as_deref().unwrap_or_default()
        );
    }
    let mut out = String::new();
    for d in &report.destinations {
        writeln!(out, "{}", destination_line(d))?;
    }
    writeln!(out, "Digest: {} {}", report.digest, report.size)?;
    stdout(out.as_bytes())
}

/// One destination of a publish: `<target> published sha256:… (tags a, b)`.
fn destination_line(d: &Destination) -> String {
    let outcome = match d.outcome {
        Outcome::Published if d.unchanged => "unchanged",
        other => other.label(),
    };
    let digest = d
        .digest
        .as_ref()
        .map_or_else(|| "(no tag)".to_owned(), ToString::to_string);
    let mut line = format!("{} {outcome} {digest}", d.target);
    if !d.tags.is_empty() {
        line.push_str(&format!(" (tags {})", d.tags.join(", ")));
    }
    if let Some(error) = &d.error {
        line.push_str(&format!(": {error}"));
    }
    line
}

/// Prints a verification: one line per platform (what it resolves to, what is wrong), or JSON.
pub(super) fn verification(v: &Verification, json: bool) -> anyhow::Result<()> {
    if json {
        return json_document(v);
    }
    let mut out = String::new();
    writeln!(out, "Name:   {}", v.name)?;
    writeln!(out, "Digest: {}", v.digest)?;
    for c in &v.platforms {
        let to = c
            .resolves_to
            .as_ref()
            .map_or_else(|| "nothing".to_owned(), ToString::to_string);
        let verdict = c.problem.as_deref().unwrap_or("ok");
        writeln!(out, "[{}] {} → {to}: {verdict}", c.entry + 1, c.platform)?;
    }
    for e in &v.entries {
        for problem in &e.problems {
            writeln!(out, "[{}] {}: {problem}", e.entry + 1, e.digest)?;
        }
    }
    stdout(out.as_bytes())
}

/// Prints an inspection: JSON, or manifest-tool's human layout.
pub(super) fn inspection(name: &str, inspection: &Inspection, json: bool) -> anyhow::Result<()> {
    if json {
        return json_document(inspection);
    }
    stdout(inspection.text(name).as_bytes())
}

/// Prints an inspection as manifest-tool's `inspect --raw` does: its own JSON document of it.
pub(super) fn manifest_tool_raw(
    name: &str,
    inspection: &Inspection,
    expand_config: bool,
) -> anyhow::Result<()> {
    let document = inspection.manifest_tool_json(name, expand_config)?;
    stdout(format!("{document}\n").as_bytes())
}

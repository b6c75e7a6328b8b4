//! What the command line prints: manifest-tool's `Digest: <digest> <size>` line and inspect layout
//! for people and scripts that parse them, or one JSON document with `--json`.

use std::io::Write as _;

use crate::engine::{Inspection, PushReport, Verification};

/// Prints a push result on stdout.
pub(super) fn push_report(report: &PushReport, json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, report)?;
        writeln!(out)?;
        return Ok(());
    }
    if report.dry_run {
        out.write_all(&report.list.bytes)?;
        writeln!(out)?;
        eprintln!(
            "dry run: {} entries resolved in {} ms with {} requests; nothing was written",
            report.entries.len(),
            report.elapsed_ms,
            report.requests
        );
    } else if report.unchanged {
        eprintln!(
            "{} holds this list already ({} entries); nothing but its extra tags was written, in \
             {} ms with {} requests",
            report.target,
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
    for c in report.platforms.iter().filter(|c| c.problem.is_some()) {
        eprintln!(
            "warning: {} (entry {}): {}",
            c.platform,
            c.entry + 1,
            c.problem.as_deref().unwrap_or_default()
        );
    }
    writeln!(out, "Digest: {} {}", report.digest, report.size)?;
    Ok(())
}

/// Prints a verification: one line per platform (what it resolves to, what is wrong), or JSON.
pub(super) fn verification(v: &Verification, json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, v)?;
        writeln!(out)?;
        return Ok(());
    }
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
    Ok(())
}

/// Prints an inspection: raw bytes, JSON, or manifest-tool's human layout.
pub(super) fn inspection(
    name: &str,
    inspection: &Inspection,
    raw: bool,
    json: bool,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if raw {
        out.write_all(&inspection.raw)?;
        return Ok(());
    }
    if json {
        serde_json::to_writer_pretty(&mut out, inspection)?;
        writeln!(out)?;
        return Ok(());
    }
    out.write_all(inspection.text(name).as_bytes())?;
    Ok(())
}

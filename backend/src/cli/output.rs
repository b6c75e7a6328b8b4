//! What the command line prints: manifest-tool's `Digest: <digest> <size>` line and inspect layout
//! for people and scripts that parse them, or one JSON document with `--json`.

use std::fmt::Write as _;
use std::io::Write as _;

use crate::assemble::{ImageDetails, InspectEntry, Inspection, PushReport};
use crate::model::Platform;

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
    writeln!(out, "Digest: {} {}", report.digest, report.size)?;
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
    out.write_all(human(name, inspection).as_bytes())?;
    Ok(())
}

/// The human layout of an inspection, following manifest-tool's.
pub fn human(name: &str, i: &Inspection) -> String {
    let mut s = String::new();
    if !i.is_list {
        let _ = writeln!(s, "Name: {name} (Type: {})", i.media_type);
        let _ = writeln!(s, "      Digest: {}", i.digest);
        let _ = writeln!(s, "        Size: {}", i.size);
        if let Some(image) = &i.image {
            if let Some(p) = &image.platform {
                platform_lines(&mut s, "", "     ", p);
            }
            layers(&mut s, "", image);
        }
        return s;
    }
    let _ = writeln!(s, "Name:   {name} (Type: {})", i.media_type);
    let _ = writeln!(s, "Digest: {}", i.digest);
    let attestations = i.manifests.iter().filter(|e| e.attestation).count();
    let images = i.manifests.len() - attestations;
    let _ = writeln!(
        s,
        " * Contains {} manifest references ({images} {}, {attestations} {}):",
        i.manifests.len(),
        if images == 1 { "image" } else { "images" },
        if attestations == 1 {
            "attestation"
        } else {
            "attestations"
        },
    );
    for (n, entry) in i.manifests.iter().enumerate() {
        list_entry(&mut s, n + 1, entry);
    }
    s
}

fn list_entry(s: &mut String, n: usize, e: &InspectEntry) {
    let d = &e.descriptor;
    let tag = format!("[{n}]");
    let note = if e.attestation {
        " (vnd.docker.reference.type=attestation-manifest)"
    } else {
        ""
    };
    let _ = writeln!(s, "{tag}     Type: {}{note}", d.media_type);
    let _ = writeln!(s, "{tag}   Digest: {}", d.digest);
    let _ = writeln!(s, "{tag}   Length: {}", d.size);
    if e.attestation {
        let of = d
            .annotations
            .get("vnd.docker.reference.digest")
            .map_or("", String::as_str);
        let _ = writeln!(s, "{tag}       >>> Attestation for digest: {of}\n");
        return;
    }
    if let Some(p) = &d.platform {
        let _ = writeln!(s, "{tag} Platform:");
        platform_lines(s, &tag, "    - ", p);
    }
    for (k, v) in &d.annotations {
        let _ = writeln!(s, "{tag} Annotation: {k}={v}");
    }
    match &e.image {
        Some(image) => layers(s, &tag, image),
        None => {
            let _ = writeln!(s, "{tag} (a list: inspect {} for its entries)", d.digest);
        }
    }
    s.push('\n');
}

fn platform_lines(s: &mut String, tag: &str, lead: &str, p: &Platform) {
    let _ = writeln!(s, "{tag}{lead}     OS: {}", p.os);
    if let Some(v) = &p.os_version {
        let _ = writeln!(s, "{tag}{lead}OS Vers: {v}");
    }
    if !p.os_features.is_empty() {
        let _ = writeln!(s, "{tag}{lead}OS Feat: [{}]", p.os_features.join(" "));
    }
    let _ = writeln!(s, "{tag}{lead}   Arch: {}", p.architecture);
    if let Some(v) = &p.variant {
        let _ = writeln!(s, "{tag}{lead}Variant: {v}");
    }
    if !p.features.is_empty() {
        let _ = writeln!(s, "{tag}{lead}Feature: [{}]", p.features.join(" "));
    }
}

fn layers(s: &mut String, tag: &str, image: &ImageDetails) {
    let label = if tag.is_empty() { "    " } else { " " };
    let _ = writeln!(s, "{tag}{label}# Layers: {}", image.layers.len());
    for (j, layer) in image.layers.iter().enumerate() {
        let _ = writeln!(s, "      layer {:02}: digest = {}", j + 1, layer.digest);
        let _ = writeln!(s, "                  size = {}", layer.size);
        let _ = writeln!(s, "                  type = {}", layer.media_type);
    }
}

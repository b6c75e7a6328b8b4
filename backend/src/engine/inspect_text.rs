//! What an inspection looks like as text: manifest-tool's `inspect` layout, which people and
//! scripts parse — `Name:`, `Digest:`, one numbered block per entry with its platform and layers
//! (and, when the inspection expanded them, each image's config document; and what refers to
//! it, after its layers). Every line manifest-tool prints is printed as it prints it, in its
//! order; manifold's own lines (a layer's size, an image's type of layer and platform details,
//! annotations, referrers, configs) come between them, never inside one.
//! The command line prints it; the inspect page shows it.

use std::fmt::Write as _;

use super::inspect::{ImageDetails, InspectEntry, Inspection};
use crate::model::{Platform, Referrer};

impl Inspection {
    /// The human layout of an inspection of `name`, following manifest-tool's.
    pub fn text(&self, name: &str) -> String {
        human(name, self)
    }
}

fn human(name: &str, i: &Inspection) -> String {
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
            config(&mut s, "", image);
        }
        referrers(&mut s, "", &i.referrers);
        return s;
    }
    let _ = writeln!(s, "Name:   {name} (Type: {})", i.media_type);
    let _ = writeln!(s, "Digest: {}", i.digest);
    referrers(&mut s, "", &i.referrers);
    let attestations = i.manifests.iter().filter(|e| e.attestation).count();
    let images = i.manifests.len() - attestations;
    // manifest-tool's words: plural only above one ("0 attestation").
    let _ = writeln!(
        s,
        " * Contains {} manifest references ({images} {}, {attestations} {}):",
        i.manifests.len(),
        if images > 1 { "images" } else { "image" },
        if attestations > 1 {
            "attestations"
        } else {
            "attestation"
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
        Some(image) => {
            layers(s, &tag, image);
            config(s, &tag, image);
        }
        None if e.missing => {
            let _ = writeln!(
                s,
                "{tag} (missing: the registry does not have this manifest; the list is sparse)"
            );
        }
        None => {
            let _ = writeln!(s, "{tag} (a list: inspect {} for its entries)", d.digest);
        }
    }
    referrers(s, &tag, &e.referrers);
    s.push('\n');
}

/// What refers to a manifest: a count by kind, then one line each — kind, artifact type, digest,
/// and the cosign tag or the referrer it refers to when that is not the manifest itself.
fn referrers(s: &mut String, tag: &str, found: &[Referrer]) {
    let Some(first) = found.first() else { return };
    let _ = writeln!(s, "{tag} Referrers: {}", crate::model::tally(found));
    for r in found {
        let _ = write!(
            s,
            "{tag}    - {:<11} {} {}",
            r.kind.as_str(),
            r.artifact_type.as_deref().unwrap_or("-"),
            r.digest
        );
        if let Some(cosign) = &r.tag {
            let _ = write!(s, " (tag {cosign})");
        } else if r.subject != first.subject {
            let _ = write!(s, " (refers to {})", r.subject);
        }
        s.push('\n');
    }
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

/// The layers as manifest-tool lays them out — in a list's entry `digest` and `type` with their
/// `=` under each other, one column left of an image's `digest` — and manifold's `size` (and an
/// image's `type`) after them, in the same column.
fn layers(s: &mut String, tag: &str, image: &ImageDetails) {
    let (label, indent) = if tag.is_empty() {
        ("    ", 6)
    } else {
        (" ", 5)
    };
    let _ = writeln!(s, "{tag}{label}# Layers: {}", image.layers.len());
    let under = " ".repeat(indent + "layer 01: ".len() + 2);
    for (j, layer) in image.layers.iter().enumerate() {
        let lead = " ".repeat(indent);
        let _ = writeln!(s, "{lead}layer {:02}: digest = {}", j + 1, layer.digest);
        let _ = writeln!(s, "{under}type = {}", layer.media_type);
        let _ = writeln!(s, "{under}size = {}", layer.size);
    }
}

/// The image's config document, when the inspection expanded it: its digest, then the document
/// indented under it.
fn config(s: &mut String, tag: &str, image: &ImageDetails) {
    let Some(document) = &image.config_document else {
        return;
    };
    let label = if tag.is_empty() { "      " } else { "   " };
    let _ = writeln!(s, "{tag}{label}Config: {}", image.config.digest);
    let text = serde_json::to_string_pretty(document).unwrap_or_default();
    for line in text.lines() {
        let _ = writeln!(s, "{tag}{label}  {line}");
    }
}

//! Presentation helpers the page handlers share: statuses with their icon and label, short
//! digests, sizes, ages, media type names, entry rows, and a sentence per common error code.
//! Plain strings and small structs for the templates; no HTML.

use chrono::{DateTime, Utc};

use crate::model::{DriftReason, DriftStatus, Entry, ListStatus, Platform};
use crate::service::DriftInfo;

/// A status as the pages show it: a word, an icon and a class (colour), never colour alone.
#[derive(Debug, Clone)]
pub struct StatusView {
    /// `queued`, `running`, … (also the CSS class suffix).
    pub name: &'static str,
    /// A symbol beside the word.
    pub icon: &'static str,
    /// Whether it will not change by itself.
    pub is_final: bool,
}

impl From<ListStatus> for StatusView {
    fn from(s: ListStatus) -> Self {
        let icon = match s {
            ListStatus::Queued => "◷",
            ListStatus::Running => "↻",
            ListStatus::Staged => "◑",
            ListStatus::Succeeded => "✓",
            ListStatus::Failed => "✕",
            ListStatus::Canceled => "⊘",
            ListStatus::Superseded => "⤳",
        };
        Self {
            name: s.as_str(),
            icon,
            is_final: s.is_final(),
        }
    }
}

/// What the watch last found, as the list page shows it: a word, an icon and a class, when it
/// looked, and a sentence per reason.
#[derive(Debug, Clone)]
pub struct DriftView {
    /// `in_sync`, `drifted`, `unknown` (also the CSS class suffix).
    pub name: &'static str,
    /// The word shown.
    pub label: &'static str,
    /// A symbol beside the word.
    pub icon: &'static str,
    /// When it looked.
    pub checked: Option<String>,
    /// What drifted, one sentence each.
    pub reasons: Vec<String>,
    /// Why the registry could not be asked.
    pub error: Option<String>,
}

impl DriftView {
    /// Views what the watch found.
    pub fn new(d: &DriftInfo) -> Self {
        let (label, icon) = match d.status {
            DriftStatus::InSync => ("in sync", "✓"),
            DriftStatus::Drifted => ("drifted", "⚠"),
            DriftStatus::Unknown => ("unknown", "?"),
        };
        Self {
            name: d.status.as_str(),
            label,
            icon,
            checked: d.checked_at.map(timestamp),
            reasons: d.reasons.iter().map(drift_sentence).collect(),
            error: d.error.clone(),
        }
    }
}

/// One drift reason, for people.
fn drift_sentence(reason: &DriftReason) -> String {
    match reason {
        DriftReason::TagMoved { tag, found, .. } => match found {
            Some(d) => format!(
                "{tag} holds another manifest ({}), not this list",
                d.short()
            ),
            None => format!("{tag} no longer exists"),
        },
        DriftReason::ChildMissing { digest, platform } => format!(
            "the {} child {} is gone from the target repository",
            platform_text(platform.as_ref()),
            digest.short()
        ),
        DriftReason::SourceMoved {
            image,
            expected,
            found,
        } => match found {
            Some(d) => format!(
                "{image} now names {} (it named {} when this list was pushed)",
                d.short(),
                expected.short()
            ),
            None => format!("{image} no longer exists"),
        },
    }
}

/// A digest, in full and shortened for tables.
#[derive(Debug, Clone)]
pub struct DigestView {
    /// `sha256:…`, all of it.
    pub full: String,
    /// `sha256:` and the first 12 hex digits.
    pub short: String,
}

impl DigestView {
    /// Views a digest.
    pub fn new(digest: &str) -> Self {
        let short = match digest.split_once(':') {
            Some((algo, hex)) if hex.len() > 12 => format!("{algo}:{}", &hex[..12]),
            _ => digest.to_owned(),
        };
        Self {
            full: digest.to_owned(),
            short,
        }
    }
}

/// Bytes for people: `512 B`, `1.5 KiB`, `23.4 MiB`.
pub fn human_size(bytes: impl std::borrow::Borrow<u64>) -> String {
    let bytes = *bytes.borrow();
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// How long ago `t` was, roughly: `12 s ago`, `3 min ago`, `5 h ago`, `2 d ago`.
pub fn age(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - t).num_seconds().max(0);
    match secs {
        0..60 => format!("{secs} s ago"),
        60..3600 => format!("{} min ago", secs / 60),
        3600..86400 => format!("{} h ago", secs / 3600),
        _ => format!("{} d ago", secs / 86400),
    }
}

/// A timestamp as the pages print it (UTC, to the second).
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// A media type's common name.
pub fn media_label(media_type: &str) -> &'static str {
    match media_type {
        "application/vnd.docker.distribution.manifest.list.v2+json" => "Docker manifest list",
        "application/vnd.oci.image.index.v1+json" => "OCI index",
        "application/vnd.docker.distribution.manifest.v2+json" => "Docker image",
        "application/vnd.oci.image.manifest.v1+json" => "OCI image",
        "application/vnd.docker.container.image.v1+json" => "Docker config",
        "application/vnd.oci.image.config.v1+json" => "OCI config",
        "application/vnd.docker.image.rootfs.diff.tar.gzip"
        | "application/vnd.oci.image.layer.v1.tar+gzip" => "layer (gzip)",
        "application/vnd.oci.image.layer.v1.tar+zstd" => "layer (zstd)",
        "application/vnd.oci.image.layer.v1.tar" => "layer (tar)",
        _ => "",
    }
}

/// A platform as text, `-` when there is none.
pub fn platform_text(platform: Option<&Platform>) -> String {
    platform.map_or_else(|| "-".to_owned(), Platform::to_string)
}

/// What an entry's platform column shows: its platform, or `attestation`.
pub fn entry_platform(e: &Entry) -> String {
    if e.attestation {
        "attestation".to_owned()
    } else {
        platform_text(e.platform.as_ref())
    }
}

/// A sentence on what an error code usually means and what to do about it.
pub fn explain(code: &str) -> Option<&'static str> {
    crate::model::ErrorCode::parse(code).advice(crate::model::Audience::Service)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_digests_read_well() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(5 * 1024 * 1024), "5.0 MiB");
        let d = DigestView::new(&format!("sha256:{}", "ab".repeat(32)));
        assert_eq!(d.short, "sha256:abababababab");
    }

    #[test]
    fn ages_round_down_to_the_largest_unit() {
        let now = Utc::now();
        assert_eq!(age(now - chrono::Duration::seconds(5), now), "5 s ago");
        assert_eq!(age(now - chrono::Duration::seconds(150), now), "2 min ago");
        assert_eq!(age(now - chrono::Duration::hours(3), now), "3 h ago");
        assert_eq!(age(now - chrono::Duration::days(9), now), "9 d ago");
    }
}

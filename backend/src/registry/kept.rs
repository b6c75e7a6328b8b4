//! What the process has learnt of each registry host from the answers to its work: that it has
//! no referrers API, that it refuses cross-repository mounts. Shared by every client of a
//! factory (the service's pushes, copies, inspections and watch), so that later work chooses by
//! it instead of asking again: no referrers API asked where there is none, no mount tried where
//! mounts are refused. A fact is kept for [`KEPT_FOR`], then asked again (a registry may gain the
//! API, or have mounts turned on); an answer that says otherwise replaces it at once.
//!
//! Owns the facts and their age; `referrers` and `ops` record what answers say, the engine reads
//! them where it chooses.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a fact is acted on before the registry is asked again.
pub const KEPT_FOR: Duration = Duration::from_secs(60 * 60);

/// What the process knows of one registry host, and since when.
#[derive(Debug, Clone, Copy, Default)]
struct Facts {
    /// Since when it is known to have no referrers API.
    no_referrers_api: Option<Instant>,
    /// Since when it is known to refuse cross-repository mounts.
    mounts_refused: Option<Instant>,
}

/// What one registry is known to do, as shown (each `None` when nothing is kept, or it is
/// older than [`KEPT_FOR`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct KeptFacts {
    /// `Some(false)`: it has no referrers API (the tag schema is used without asking).
    pub referrers_api: Option<bool>,
    /// `Some(false)`: it refuses cross-repository mounts (blobs are streamed without trying).
    pub mounts: Option<bool>,
}

/// The facts of every registry host a factory's clients talked to.
#[derive(Debug, Default)]
pub struct Kept {
    hosts: Mutex<HashMap<String, Facts>>,
}

impl Kept {
    /// What is known of `registry` now.
    pub fn of(&self, registry: &str) -> KeptFacts {
        self.at(registry, Instant::now())
    }

    /// Whether `registry` is known to have no referrers API.
    pub fn no_referrers_api(&self, registry: &str) -> bool {
        self.of(registry).referrers_api == Some(false)
    }

    /// Whether `registry` is known to refuse cross-repository mounts.
    pub fn mounts_refused(&self, registry: &str) -> bool {
        self.of(registry).mounts == Some(false)
    }

    /// Records whether `registry` answered as a referrers API.
    pub(crate) fn referrers_api(&self, registry: &str, has: bool) {
        let mut hosts = self.hosts.lock().expect("lock");
        let facts = hosts.entry(registry.to_owned()).or_default();
        facts.no_referrers_api = (!has).then(Instant::now);
    }

    /// Records whether `registry` mounted a blob.
    pub(crate) fn mounted(&self, registry: &str, mounted: bool) {
        let mut hosts = self.hosts.lock().expect("lock");
        let facts = hosts.entry(registry.to_owned()).or_default();
        let learnt = facts
            .mounts_refused
            .is_none_or(|at| at.elapsed() >= KEPT_FOR);
        if !mounted && learnt {
            tracing::info!(
                "{registry} refuses cross-repository mounts; its blobs are streamed from now on"
            );
        }
        facts.mounts_refused = (!mounted).then(Instant::now);
    }

    fn at(&self, registry: &str, now: Instant) -> KeptFacts {
        let hosts = self.hosts.lock().expect("lock");
        let Some(facts) = hosts.get(registry) else {
            return KeptFacts::default();
        };
        let fresh = |since: Option<Instant>| {
            since
                .filter(|at| now.saturating_duration_since(*at) < KEPT_FOR)
                .map(|_| false)
        };
        KeptFacts {
            referrers_api: fresh(facts.no_referrers_api),
            mounts: fresh(facts.mounts_refused),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fact_is_kept_until_an_answer_says_otherwise_or_it_is_old() {
        let kept = Kept::default();
        assert_eq!(kept.of("r.example"), KeptFacts::default());
        kept.referrers_api("r.example", false);
        kept.mounted("r.example", false);
        assert!(kept.no_referrers_api("r.example"));
        assert!(kept.mounts_refused("r.example"));
        assert!(!kept.no_referrers_api("other.example"));
        let later = Instant::now() + KEPT_FOR;
        assert_eq!(
            kept.at("r.example", later),
            KeptFacts::default(),
            "asked again"
        );
        kept.referrers_api("r.example", true);
        kept.mounted("r.example", true);
        assert_eq!(kept.of("r.example"), KeptFacts::default());
    }
}

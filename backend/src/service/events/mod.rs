//! Registry events: what a registry says when something is pushed or deleted, received so that
//! living lists react in seconds instead of at the next poll. One pipeline for every receiver:
//! the rate limit, then authentication (each receiver the way its registry allows: `auth`), then
//! the receiver's payload parsed into [`RegistryEvent`]s (registry, repository, tag, digest,
//! action; one file per registry), then the allow-list, then deduplication (by the event's id,
//! or one derived from its content, per process); acting on an event makes the watched lists it
//! concerns — pushed to its repository, or with a source there — due now, so the watch checks
//! them at once. Everything is counted by receiver and outcome, and the rest dropped.
//!
//! Receivers: `distribution`, `harbor`, `github` (GHCR), `dockerhub`, `quay`, `gitlab`
//! (distribution's envelope, sent by GitLab's registry).

mod auth;
mod distribution;
mod dockerhub;
mod github;
mod harbor;
mod limit;
mod quay;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};

pub use auth::EventCredentials;

use super::{ServiceError, Services};
use crate::config::Settings;
use crate::model::ErrorCode;

/// How many event ids a process remembers to tell a repeat.
const REMEMBERED: usize = 4096;

/// How long an id derived from an event's content tells a repeat (a registry that names no
/// digest says the same words for the next push of the tag).
const DERIVED_FOR: Duration = Duration::from_secs(60);

/// Most events one request may carry.
const MAX_EVENTS: usize = 1000;

/// The receivers there are.
pub const SOURCES: [&str; 6] = [
    "distribution",
    "harbor",
    "github",
    "dockerhub",
    "quay",
    "gitlab",
];

/// One thing a registry said happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryEvent {
    /// Its id, as the registry gave it (for deduplication); empty when it gave none.
    pub id: String,
    /// `push` or `delete`.
    pub action: String,
    /// The registry's host, as clients reach it (`registry.example:5000`).
    pub registry: String,
    /// The repository.
    pub repository: String,
    /// The tag, when the event names one.
    pub tag: Option<String>,
    /// The manifest's digest, when the event names one.
    pub digest: Option<String>,
}

impl RegistryEvent {
    /// An id from the event's content: `sha256` of source, repository, tag, digest and action.
    fn derived_id(&self, source: &str) -> String {
        let mut hash = Sha256::new();
        for part in [
            source,
            &self.registry,
            &self.repository,
            self.tag.as_deref().unwrap_or(""),
            self.digest.as_deref().unwrap_or(""),
            &self.action,
        ] {
            hash.update(part.as_bytes());
            hash.update([0]);
        }
        format!("derived:{}", hex::encode(hash.finalize()))
    }
}

/// What became of the events of one request.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct EventsTaken {
    /// Events acted on.
    pub accepted: usize,
    /// Events seen before.
    pub duplicate: usize,
    /// Events about something else (a pull, a blob, a registry not on the allow-list, a ping).
    pub ignored: usize,
    /// Watched lists made due now.
    pub woken: u64,
}

/// Events counted by receiver and outcome (for `/metrics`), the ids seen lately, and the rate
/// limit's bucket.
pub struct EventLog {
    counts: Mutex<BTreeMap<(String, &'static str), u64>>,
    seen: Mutex<(HashMap<String, Instant>, VecDeque<String>)>,
    bucket: limit::Bucket,
}

impl EventLog {
    /// An empty log with the settings' rate limit.
    pub fn new(settings: &Settings) -> Self {
        Self {
            counts: Mutex::default(),
            seen: Mutex::default(),
            bucket: limit::Bucket::new(
                settings.event_rate.unwrap_or(100),
                settings.event_burst.unwrap_or(1000),
            ),
        }
    }

    fn count(&self, source: &str, outcome: &'static str, n: usize) {
        if n > 0 {
            let mut counts = self.counts.lock().expect("lock");
            *counts.entry((source.to_owned(), outcome)).or_default() += n as u64;
        }
    }

    /// Whether `id` is new here (one seen over `window` ago is new again); remembers it.
    fn first_time(&self, id: &str, window: Option<Duration>, now: Instant) -> bool {
        let mut seen = self.seen.lock().expect("lock");
        let (ids, order) = &mut *seen;
        if let Some(at) = ids.get_mut(id) {
            if window.is_none_or(|w| now.saturating_duration_since(*at) < w) {
                return false;
            }
            *at = now;
            return true;
        }
        ids.insert(id.to_owned(), now);
        order.push_back(id.to_owned());
        if order.len() > REMEMBERED
            && let Some(old) = order.pop_front()
        {
            ids.remove(&old);
        }
        true
    }

    /// Takes `n` events from the rate limit, or counts them refused.
    fn admit(&self, source: &str, n: usize) -> Result<(), ServiceError> {
        self.bucket.take(n, Instant::now()).map_err(|wait| {
            self.count(source, "rate_limited", n.max(1));
            ServiceError::RateLimited {
                retry_after_secs: wait.as_secs_f64().ceil() as u64,
            }
        })
    }

    /// The counts, by receiver and outcome.
    pub fn counts(&self) -> Vec<(String, &'static str, u64)> {
        let counts = self.counts.lock().expect("lock");
        counts
            .iter()
            .map(|((s, o), n)| (s.clone(), *o, *n))
            .collect()
    }
}

impl Services {
    /// Takes a request of registry events from `source`, authenticated by what it carried, and
    /// acts on those that concern watched lists.
    pub async fn events(
        &self,
        source: &str,
        given: &EventCredentials,
        body: &[u8],
    ) -> Result<EventsTaken, ServiceError> {
        if !SOURCES.contains(&source) {
            self.events.count("unknown", "unknown_source", 1);
            return Err(ServiceError::NotFound("the event receiver"));
        }
        self.events.admit(source, 1)?;
        let authentic = self
            .settings
            .event_secret
            .as_ref()
            .is_some_and(|secret| auth::authentic(source, secret.expose(), given, body));
        if !authentic {
            self.events.count(source, "unauthenticated", 1);
            return Err(ServiceError::NotAllowed {
                code: ErrorCode::Forbidden,
                message: format!(
                    "the event does not carry this service's event secret \
                     (MANIFOLD_EVENT_SECRET) as {source}'s receiver takes it"
                ),
                field: auth::field(source).to_owned(),
            });
        }
        if source == "github" && given.github_event.as_deref() == Some("ping") {
            self.events.count(source, "ping", 1);
            return Ok(EventsTaken::default());
        }
        let events = parse(source, given, body).inspect_err(|_| {
            self.events.count(source, "unreadable", 1);
        })?;
        self.events.admit(source, events.len().saturating_sub(1))?;
        self.act(source, events).await
    }

    /// The allow-list, deduplication and waking of what the events concern, counted.
    async fn act(
        &self,
        source: &str,
        events: Vec<RegistryEvent>,
    ) -> Result<EventsTaken, ServiceError> {
        let mut taken = EventsTaken::default();
        let allow = self.settings.allow();
        let mut repositories = Vec::new();
        let now = Instant::now();
        for event in events {
            let (id, window) = if event.id.is_empty() {
                (event.derived_id(source), Some(DERIVED_FOR))
            } else {
                (format!("{source}:{}", event.id), None)
            };
            if !matches!(event.action.as_str(), "push" | "delete") || !allow.allows(&event.registry)
            {
                taken.ignored += 1;
            } else if !self.events.first_time(&id, window, now) {
                taken.duplicate += 1;
            } else {
                taken.accepted += 1;
                let repository = format!("{}/{}", event.registry, event.repository);
                if !repositories.contains(&repository) {
                    repositories.push(repository);
                }
            }
        }
        for repository in &repositories {
            taken.woken += self.store.wake_watched(repository).await?;
        }
        if taken.woken > 0 {
            self.watch_wake.notify_one();
        }
        self.events.count(source, "accepted", taken.accepted);
        self.events.count(source, "duplicate", taken.duplicate);
        self.events.count(source, "ignored", taken.ignored);
        Ok(taken)
    }
}

/// `source`'s payload as events.
fn parse(
    source: &str,
    given: &EventCredentials,
    body: &[u8],
) -> Result<Vec<RegistryEvent>, ServiceError> {
    match source {
        "harbor" => harbor::parse(body),
        "github" => github::parse(body, given.github_delivery.as_deref()),
        "dockerhub" => dockerhub::parse(body),
        "quay" => quay::parse(body),
        _ => distribution::parse(body),
    }
}

/// A payload that is not the receiver's, naming the field at fault.
fn unreadable(field: &str, message: impl Into<String>) -> ServiceError {
    ServiceError::invalid(ErrorCode::InvalidBody, field, message)
}

/// Refuses a request of more than [`MAX_EVENTS`] events.
fn too_many(n: usize) -> Result<(), ServiceError> {
    if n > MAX_EVENTS {
        return Err(unreadable(
            "events",
            format!("{n} events in one request; at most {MAX_EVENTS}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_id_is_new_once_and_a_derived_one_again_after_its_window() {
        let log = EventLog::new(&Settings::default());
        let now = Instant::now();
        assert!(log.first_time("a", None, now));
        assert!(!log.first_time("a", None, now + Duration::from_secs(3600)));
        for i in 0..REMEMBERED {
            log.first_time(&i.to_string(), None, now);
        }
        assert!(
            log.first_time("a", None, now),
            "forgotten after {REMEMBERED} others"
        );

        assert!(log.first_time("d", Some(DERIVED_FOR), now));
        assert!(!log.first_time("d", Some(DERIVED_FOR), now + Duration::from_secs(1)));
        assert!(log.first_time("d", Some(DERIVED_FOR), now + DERIVED_FOR));
    }

    #[test]
    fn a_derived_id_changes_with_each_part_of_the_event() {
        let event = RegistryEvent {
            id: String::new(),
            action: "push".into(),
            registry: "quay.io".into(),
            repository: "a/b".into(),
            tag: Some("v1".into()),
            digest: None,
        };
        let other = RegistryEvent {
            tag: Some("v2".into()),
            ..event.clone()
        };

        assert_eq!(event.derived_id("quay"), event.derived_id("quay"));
        assert_ne!(event.derived_id("quay"), other.derived_id("quay"));
        assert_ne!(event.derived_id("quay"), event.derived_id("harbor"));
    }
}

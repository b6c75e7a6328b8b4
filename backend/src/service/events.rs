//! Registry events: what a registry says when something is pushed or deleted, received so that
//! living lists react in seconds instead of at the next poll. Each receiver's payload is parsed
//! into one [`RegistryEvent`] (registry, repository, tag, digest, action); an event is acted on
//! only when it is authenticated (the shared secret, compared in constant time), its registry is
//! on the allow-list, and it was not seen before (by its id, per process); acting on it makes the
//! watched lists it concerns — pushed to its repository, or with a source there — due now, so the
//! watch checks them at once (a followed list then queues its follow-up, drift is recorded).
//! Everything else is counted by outcome and dropped.
//!
//! Receivers: `distribution` (Docker's registry and its descendants: `notifications.endpoints`,
//! an envelope of events with `target.repository`, `target.tag`, `target.digest` and
//! `request.host`).

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Mutex;

use serde::Deserialize;

use super::{ServiceError, Services};
use crate::model::ErrorCode;

/// How many event ids a process remembers to tell a repeat.
const REMEMBERED: usize = 4096;

/// Most events one request may carry.
const MAX_EVENTS: usize = 1000;

/// One thing a registry said happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryEvent {
    /// Its id, as the registry gave it (for deduplication).
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

/// What became of the events of one request.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct EventsTaken {
    /// Events acted on.
    pub accepted: usize,
    /// Events seen before.
    pub duplicate: usize,
    /// Events about something else (a pull, a blob, a registry not on the allow-list).
    pub ignored: usize,
    /// Watched lists made due now.
    pub woken: u64,
}

/// Events counted by receiver and outcome (for `/metrics`), and the ids seen lately.
#[derive(Default)]
pub struct EventLog {
    counts: Mutex<BTreeMap<(String, &'static str), u64>>,
    seen: Mutex<(HashSet<String>, VecDeque<String>)>,
}

impl EventLog {
    fn count(&self, source: &str, outcome: &'static str, n: usize) {
        if n > 0 {
            let mut counts = self.counts.lock().expect("lock");
            *counts.entry((source.to_owned(), outcome)).or_default() += n as u64;
        }
    }

    /// Whether `id` is new here; remembers it.
    fn first_time(&self, id: &str) -> bool {
        let mut seen = self.seen.lock().expect("lock");
        let (ids, order) = &mut *seen;
        if !ids.insert(id.to_owned()) {
            return false;
        }
        order.push_back(id.to_owned());
        if order.len() > REMEMBERED
            && let Some(old) = order.pop_front()
        {
            ids.remove(&old);
        }
        true
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

/// The receivers there are.
pub const SOURCES: [&str; 1] = ["distribution"];

impl Services {
    /// Takes a request of registry events from `source`, authenticated by `secret` (what the
    /// request carried), and acts on those that concern watched lists.
    pub async fn events(
        &self,
        source: &str,
        secret: Option<&str>,
        body: &[u8],
    ) -> Result<EventsTaken, ServiceError> {
        if !SOURCES.contains(&source) {
            self.events.count("unknown", "unknown_source", 1);
            return Err(ServiceError::NotFound("the event receiver"));
        }
        if !self.event_secret_matches(secret) {
            self.events.count(source, "unauthenticated", 1);
            return Err(ServiceError::NotAllowed {
                code: ErrorCode::Forbidden,
                message: "the event does not carry this service's event secret \
                          (MANIFOLD_EVENT_SECRET)"
                    .to_owned(),
                field: "Authorization".to_owned(),
            });
        }
        let events = parse_distribution(body).inspect_err(|_| {
            self.events.count(source, "unreadable", 1);
        })?;
        let mut taken = EventsTaken::default();
        let allow = self.settings.allow();
        let mut repositories = Vec::new();
        for event in events {
            if !matches!(event.action.as_str(), "push" | "delete") || !allow.allows(&event.registry)
            {
                taken.ignored += 1;
            } else if !self.events.first_time(&event.id) {
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

    /// Whether `given` is the configured event secret (none configured: nothing is).
    fn event_secret_matches(&self, given: Option<&str>) -> bool {
        let (Some(secret), Some(given)) = (self.settings.event_secret.as_ref(), given) else {
            return false;
        };
        let (a, b) = (secret.expose().as_bytes(), given.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

#[derive(Deserialize)]
struct Envelope {
    events: Vec<DistributionEvent>,
}

#[derive(Deserialize)]
struct DistributionEvent {
    #[serde(default)]
    id: String,
    #[serde(default)]
    action: String,
    target: Target,
    #[serde(default)]
    request: Request,
}

#[derive(Deserialize)]
struct Target {
    #[serde(default)]
    repository: String,
    #[serde(default)]
    tag: Option<String>,
    #[serde(default)]
    digest: Option<String>,
    #[serde(default, rename = "mediaType")]
    media_type: String,
}

#[derive(Deserialize, Default)]
struct Request {
    #[serde(default)]
    host: String,
}

/// Distribution's envelope as events: manifests only (a blob's push says nothing of a tag).
fn parse_distribution(body: &[u8]) -> Result<Vec<RegistryEvent>, ServiceError> {
    let envelope: Envelope = serde_json::from_slice(body).map_err(|e| {
        ServiceError::invalid(
            ErrorCode::InvalidBody,
            "events",
            format!("not distribution's envelope of events: {e}"),
        )
    })?;
    if envelope.events.len() > MAX_EVENTS {
        return Err(ServiceError::invalid(
            ErrorCode::InvalidBody,
            "events",
            format!(
                "{} events in one request; at most {MAX_EVENTS}",
                envelope.events.len()
            ),
        ));
    }
    Ok(envelope
        .events
        .into_iter()
        .filter(|e| !e.target.repository.is_empty() && !e.request.host.is_empty())
        .map(|e| RegistryEvent {
            action: if is_manifest(&e.target.media_type) || e.target.tag.is_some() {
                e.action
            } else {
                format!("{}-blob", e.action)
            },
            id: e.id,
            registry: e.request.host,
            repository: e.target.repository,
            tag: e.target.tag,
            digest: e.target.digest,
        })
        .collect())
}

/// Whether a media type is a manifest's (an image's or a list's), not a blob's.
fn is_manifest(media_type: &str) -> bool {
    use crate::registry::media::{DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST};
    [DOCKER_MANIFEST, DOCKER_LIST, OCI_MANIFEST, OCI_INDEX].contains(&media_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distribution_s_envelope_reads_as_events_and_a_blob_push_is_not_a_manifest_push() {
        let body = br#"{"events":[
            {"id":"e1","action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json",
             "digest":"sha256:aa","repository":"demo-amd64","tag":"v0.2"},"request":{"host":"127.0.0.1:5000"}},
            {"id":"e2","action":"push","target":{"mediaType":"application/octet-stream",
             "digest":"sha256:bb","repository":"demo-amd64"},"request":{"host":"127.0.0.1:5000"}}
        ]}"#;

        let events = parse_distribution(body).unwrap();

        assert_eq!(events[0].action, "push");
        assert_eq!(events[0].tag.as_deref(), Some("v0.2"));
        assert_eq!(events[0].registry, "127.0.0.1:5000");
        assert_eq!(events[1].action, "push-blob");
        let err = parse_distribution(b"{\"events\": 3}").unwrap_err();
        assert!(err.to_string().contains("envelope"), "{err}");
    }

    #[test]
    fn an_event_id_is_new_once() {
        let log = EventLog::default();
        assert!(log.first_time("a"));
        assert!(!log.first_time("a"));
        for i in 0..REMEMBERED {
            log.first_time(&i.to_string());
        }
        assert!(log.first_time("a"), "forgotten after {REMEMBERED} others");
    }
}

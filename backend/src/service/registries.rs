//! The registries the service talks to, as the registries page and `GET /registries` show them:
//! each registry of the allow-list and any other the service has talked to, with what a read-only
//! `doctor` probe found of it (scheme, HTTP version, auth and token realm, rate-limit headers,
//! answer time), what the service's own work learnt of it and now chooses by (no referrers API:
//! the tag schema without asking; mounts refused: blobs streamed without trying; HTTP/1.1 only)
//! and how long its rate limit held the service's requests back.
//!
//! A registry is probed when it is first shown, in the background, and again once its profile
//! is a day old; a page never waits for a probe (a push never makes one: the service asks a
//! registry only what its users' work needs, and what they ask to see). Profiles live in the
//! process (each process probes for itself; they are cheap: one request and its token).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::Services;
use crate::engine::{self, DoctorOptions};
use crate::registry::{Allow, KeptFacts, Ping};

/// A profile older than this is probed again.
const STALE_AFTER: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// One registry as the service knows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RegistryView {
    /// `host[:port]`.
    pub registry: String,
    /// What the last probe found (none yet: being probed).
    #[schema(value_type = Option<Object>)]
    pub profile: Option<Ping>,
    /// Why the last probe failed, if it did.
    pub error: Option<String>,
    /// When it was last probed.
    pub probed_at: Option<DateTime<Utc>>,
    /// Seconds the service's requests to it were held back because it limited the rate.
    pub throttled_seconds: f64,
    /// What the service's pushes learnt of it, and choose by for an hour: `referrers_api: false`
    /// (the tag schema is used without asking), `mounts: false` (blobs are streamed without a
    /// mount); `null` when nothing is known.
    #[schema(value_type = Object)]
    pub learnt: KeptFacts,
    /// Spoken to over HTTP/1.1 only, since it broke an HTTP/2 stream.
    pub http1_only: bool,
}

/// The last probe of each registry, and which are being probed.
#[derive(Debug, Default)]
pub struct Profiles {
    known: Mutex<HashMap<String, Probed>>,
}

#[derive(Debug, Clone, Default)]
struct Probed {
    /// When the last probe ended, and what it found.
    last: Option<(DateTime<Utc>, Result<Ping, String>)>,
    /// A probe is under way.
    probing: bool,
}

impl Services {
    /// Every registry of the allow-list and every other the service talked to, each with its
    /// last profile; those never probed, or a day ago, are probed in the background.
    pub fn registries(&self) -> Vec<RegistryView> {
        let throttled: BTreeMap<String, f64> =
            self.registries.throttled_seconds().into_iter().collect();
        let http1 = self.registries.http1_hosts();
        let mut names: Vec<String> = match self.settings.allow() {
            Allow::Only(list) => list,
            Allow::Any | Allow::LoopbackOnly => Vec::new(),
        };
        names.extend(throttled.keys().cloned());
        names.extend(self.profiles.known.lock().expect("lock").keys().cloned());
        names.sort();
        names.dedup();
        names
            .into_iter()
            .map(|registry| {
                self.probe_if_stale(&registry);
                let probed = self
                    .profiles
                    .known
                    .lock()
                    .expect("lock")
                    .get(&registry)
                    .cloned();
                let last = probed.and_then(|p| p.last);
                RegistryView {
                    throttled_seconds: throttled.get(&registry).copied().unwrap_or(0.0),
                    learnt: self.registries.kept().of(&registry),
                    http1_only: http1.contains(&registry),
                    probed_at: last.as_ref().map(|(at, _)| *at),
                    profile: last.as_ref().and_then(|(_, r)| r.clone().ok()),
                    error: last.and_then(|(_, r)| r.err()),
                    registry,
                }
            })
            .collect()
    }

    /// `registry` is shown: probes it in the background unless its profile is fresh or a
    /// probe is under way (a stale profile is shown until the new one is in).
    fn probe_if_stale(&self, registry: &str) {
        let clock = self.store.clock().clone();
        let now = clock.now();
        {
            let mut known = self.profiles.known.lock().expect("lock");
            let probed = known.entry(registry.to_owned()).or_default();
            let fresh = probed
                .last
                .as_ref()
                .is_some_and(|(at, _)| now - *at < STALE_AFTER);
            if probed.probing || fresh {
                return;
            }
            probed.probing = true;
        }
        let (factory, profiles) = (self.registries.clone(), self.profiles.clone());
        let registry = registry.to_owned();
        tokio::spawn(async move {
            let options = DoctorOptions {
                registry: registry.clone(),
                repository: None,
                write: false,
            };
            let result = engine::doctor(&factory.client(), &options)
                .await
                .map(|d| d.ping)
                .map_err(|e| e.to_string());
            if let Err(e) = &result {
                tracing::warn!(registry, "probing the registry failed: {e}");
            }
            let mut known = profiles.known.lock().expect("lock");
            let probed = known.entry(registry).or_default();
            probed.last = Some((clock.now(), result));
            probed.probing = false;
        });
    }
}

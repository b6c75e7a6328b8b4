//! The service's use cases, shared by its adapters (the JSON API, the pages, the workers):
//! submit a list (or dry-run it), remove entries from a list or copy one (queued as lists are),
//! read one or a page, retry, cancel, inspect a reference; the registries it talks to, as probed;
//! staged releases, as their stages make them; a target's history, and a rollback to an earlier
//! list; registry events, which make the watched lists they concern due at once.
//!
//! Owns the rules a request meets before it reaches the engine or the store — no NUL character
//! in any text (`input.rs`), option merging, the registry and callback allow-lists, the rules of what an OIDC ID token may write, the idempotency key and the one request fingerprint, the
//! paging cursor — and the list as the service shows it ([`ListResource`]), with the finished
//! lists' JSON kept in memory and served only at the revision the database has now (`reads.rs`,
//! `cache.rs`). It knows nothing of HTTP: the adapters parse requests into its types and render
//! its answers.

mod cache;
mod edits;
mod error;
mod events;
mod history;
mod input;
mod inspect;
mod lists;
mod reads;
mod registries;
mod releases;
mod resource;
mod rounds;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

pub use cache::Json;
pub use edits::Edit;
pub use error::{ErrorKind, ServiceError};
pub use events::{EventCredentials, EventsTaken, RegistryEvent};
pub use history::{LandedList, TargetHistory, TimelineEntry};
pub use lists::{DryRun, ListPage, MAX_BODY_BYTES, PageQuery, Submit};
pub use registries::{Profiles, RegistryView};
pub use releases::{ArrivedPlatform, ReleaseResource, StageSummary};
pub use resource::{CallbackInfo, DestinationInfo, DriftInfo, ErrorInfo, ListResource, SpecInfo};

pub use crate::engine::{ImageDetails, InspectEntry, Inspection, Skipped};
pub use crate::oidc::{IdToken, TokenError};
pub use crate::registry::{AuthScheme, Descriptor, Ping};
pub use crate::store::ReleaseState;

use crate::config::Settings;
use crate::metrics::Metrics;
use crate::oidc::Verifier;
use crate::registry::{ClientFactory, RegistryClient};
use crate::store::Store;

/// What every use case shares: the store, the settings, the metrics, the registry clients (bound
/// by the allow-list, with the service's own credentials) and the HTTP client for callbacks.
pub struct Services {
    /// The store.
    pub store: Store,
    /// The settings.
    pub settings: Arc<Settings>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Registry clients: one per push or inspect, on one shared HTTP client.
    pub registries: ClientFactory,
    /// The HTTP client that delivers callbacks.
    pub callbacks: reqwest::Client,
    /// What each registry was last found to do (the registries page).
    pub profiles: Arc<Profiles>,
    /// The registry events received, by outcome, and the ids seen lately.
    pub events: events::EventLog,
    /// Wakes this process's watch: an event made lists due now.
    pub watch_wake: tokio::sync::Notify,
    /// Checks CI jobs' OIDC ID tokens against the configured issuers' keys.
    pub id_tokens: Verifier,
    /// Bounds the CPU-heavy work running off the HTTP threads at once (parsing specs).
    cpu: Arc<Semaphore>,
    /// The answers of finished lists, kept at their revisions.
    cache: cache::ListCache,
    /// The shared reads of lists' revisions (whether a kept answer is current) and of pages.
    shared: reads::Shared,
}

impl Services {
    /// The services of a store and settings.
    pub fn new(settings: Settings, store: Store) -> anyhow::Result<Self> {
        Ok(Self {
            registries: ClientFactory::new(settings.client_config()?)?,
            // A redirect could lead a callback past MANIFOLD_CALLBACK_HOSTS: never follow one.
            callbacks: crate::registry::http_builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .user_agent(concat!("manifold/", env!("CARGO_PKG_VERSION")))
                .build()?,
            cache: cache::ListCache::new(settings.list_cache_bytes()),
            id_tokens: Verifier::new(&settings.oidc(), store.clock().clone())?,
            shared: reads::Shared::default(),
            events: events::EventLog::new(&settings),
            settings: Arc::new(settings),
            metrics: Arc::new(Metrics::default()),
            profiles: Arc::default(),
            watch_wake: tokio::sync::Notify::new(),
            store,
            cpu: Arc::new(Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            )),
        })
    }

    /// Runs CPU-heavy work (parsing a spec) on the blocking pool, a few at a time, so the threads
    /// that answer HTTP never wait on it.
    pub async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ServiceError> {
        let _permit = self
            .cpu
            .acquire()
            .await
            .map_err(|e| ServiceError::Failed(e.to_string()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| ServiceError::Failed(format!("a blocking task failed: {e}")))
    }

    /// Whether the service can take work: its database takes a write now. Why not, in words a
    /// client may read, when it cannot.
    pub async fn ready(&self) -> Result<(), &'static str> {
        match self.store.probe().await {
            Ok(()) => Ok(()),
            Err(e) => {
                tracing::warn!("not ready: {e}");
                Err(e
                    .unavailable()
                    .map_or("the database failed", |u| u.reason()))
            }
        }
    }

    /// The metrics in Prometheus text, with the queue depth and the watch's state read now.
    pub async fn metrics_text(&self) -> String {
        let (queue, drifted, backlog) = futures::join!(
            self.store.queue_depth(),
            self.store.drifted_count(),
            self.store.watch_backlog()
        );
        let (due, oldest) = backlog.unwrap_or_default();
        let lag = oldest.map_or(0.0, |since| {
            (self.store.clock().now() - since).num_milliseconds().max(0) as f64 / 1000.0
        });
        let watch = crate::metrics::WatchGauges {
            drifted: drifted.unwrap_or(0),
            due,
            lag_secs: lag,
        };
        let mut text = self.metrics.render(&queue.unwrap_or_default(), &watch);
        let (failing, write_errors) = self.store.health();
        crate::metrics::render_store(&mut text, failing.is_none(), write_errors);
        crate::metrics::render_throttled(&mut text, &self.registries.throttled_seconds());
        crate::metrics::render_list_cache(&mut text, &self.cache.stats());
        crate::metrics::render_events(&mut text, &self.events.counts());
        text
    }

    /// A CI job's OIDC ID token, verified against its issuer's keys: its claims, or why it is
    /// refused.
    pub async fn verify_id_token(&self, token: &str) -> Result<IdToken, TokenError> {
        let verified = self.id_tokens.verify(token).await;
        if let Err(e) = &verified {
            tracing::info!("ID token refused: {e}");
        }
        verified
    }

    /// Whether a verified ID token may read: some rule is for its claims (a token of any other
    /// repository of a public issuer may not).
    pub fn id_token_may_read(&self, token: &IdToken) -> Result<(), ServiceError> {
        crate::oidc::may_read(self.settings.oidc_rules(), token).map_err(|refusal| {
            ServiceError::NotAllowed {
                code: crate::model::ErrorCode::Forbidden,
                message: refusal.message,
                field: "Authorization".to_owned(),
            }
        })
    }

    /// A registry client for one push or inspect.
    pub fn registry(&self) -> RegistryClient {
        self.registries.client()
    }
}

//! The service under test in-process: a fresh database per test (PostgreSQL unless told
//! otherwise), the application built on port 0, a [`ServiceClient`] for its API (which a
//! `TestApp` derefs to), and its queue drained here and now when it runs no workers.

use std::ops::Deref;
use std::sync::Arc;

use manifold::config::Settings;
use manifold::model::Clock;
use manifold::service::Services;
use manifold::startup::Application;
use manifold::store::Store;

use super::client::ServiceClient;
use super::stores::{Db, DbGuard};

/// A running service and a client for it.
pub struct TestApp {
    api: ServiceClient,
    services: Arc<Services>,
    url: String,
    _db: DbGuard,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Deref for TestApp {
    type Target = ServiceClient;

    fn deref(&self) -> &ServiceClient {
        &self.api
    }
}

impl TestApp {
    /// The service with default settings (loopback registries, 2 workers, short backoff).
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// The service with settings changed by `tweak`, on PostgreSQL.
    pub async fn spawn_with(tweak: impl FnOnce(&mut Settings)) -> Self {
        Self::spawn_on(Db::Postgres, tweak).await
    }

    /// The service on the given store, with settings changed by `tweak`.
    pub async fn spawn_on(store: Db, tweak: impl FnOnce(&mut Settings)) -> Self {
        Self::spawn_at(store, Clock::system(), tweak).await
    }

    /// The same, its store's "now" (leases, backoffs, due checks) read from `clock`: a manual one
    /// lets a test move time on instead of sleeping.
    pub async fn spawn_at(store: Db, clock: Clock, tweak: impl FnOnce(&mut Settings)) -> Self {
        let (db, url) = DbGuard::create(store).await;
        let mut args = Settings {
            addr: Some("127.0.0.1:0".parse().unwrap()),
            database_url: Some(url.clone().into()),
            workers: Some(2),
            job_backoff_ms: Some(50),
            job_lease_secs: Some(10),
            ..Settings::default()
        };
        tweak(&mut args);
        let token = args.api_tokens.first().map(|t| t.expose().to_owned());
        let config = Settings::load(args).expect("valid test config");
        let store = Store::open_with_clock(config.database_url(), 16, clock)
            .await
            .expect("the store opens");
        let app = Application::with_store(config, store)
            .await
            .expect("the service starts");
        let base = format!("http://127.0.0.1:{}", app.port());
        let services = app.services();
        let server = tokio::spawn(async move {
            let _ = app.run_until_stopped().await;
        });
        Self {
            api: ServiceClient::new(base, token),
            services,
            url,
            _db: db,
            server,
        }
    }

    /// The service on `store`, allowed to talk to `host`, checking its watched lists every second.
    pub async fn watching(store: Db, host: &str) -> Self {
        let host = host.to_owned();
        Self::spawn_on(store, |s| {
            s.registries = vec![host];
            s.watch_interval_secs = Some(1);
        })
        .await
    }

    /// Its store's clock.
    pub fn clock(&self) -> &Clock {
        self.services.store.clock()
    }

    /// The URL of its database (to change it behind the service's back).
    pub fn database_url(&self) -> &str {
        &self.url
    }

    /// Runs every job that is due, one after another, each to its end (as a worker would); how
    /// many ran. For a service spawned with `workers: Some(0)`.
    pub async fn run_pending_jobs(&self) -> usize {
        let mut ran = 0;
        while manifold::jobs::run_next(&self.services, "test-drain")
            .await
            .expect("the store answers")
            .is_some()
        {
            ran += 1;
        }
        ran
    }
}

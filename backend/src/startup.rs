//! Building the service: connect the store (migrating it), bind the listener first (so tests can
//! use port 0 and ask for the port), build the HTTP app, start the workers.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Instant;

use actix_web::dev::{Server, Service as _};
use actix_web::{App, HttpServer, web};
use utoipa::OpenApi as _;
use utoipa_actix_web::AppExt as _;
use utoipa_swagger_ui::SwaggerUi;

use crate::api::{self, ApiDoc};
use crate::config::Config;
use crate::db::Store;
use crate::jobs::{Context, Workers};
use crate::metrics::Metrics;
use crate::registry::ClientFactory;

/// What handlers share.
pub struct AppState {
    /// The store.
    pub store: Store,
    /// The configuration.
    pub config: Arc<Config>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The service's registry clients (allow-list, credentials, CAs), one per request.
    pub registries: ClientFactory,
}

/// A built, bound, not yet running service.
pub struct Application {
    port: u16,
    server: Server,
    workers: Workers,
}

impl Application {
    /// Connects to the database (running migrations), binds, starts the workers.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let connections = (config.workers as u32 + 8).min(64);
        let store = Store::open(config.database_url.expose(), connections)
            .await
            .map_err(|e| anyhow::anyhow!("cannot open the database: {e}"))?;
        tracing::info!("keeping data in {}", store.describe());
        Self::with_store(config, store).await
    }

    /// The same on a store that is already open.
    pub async fn with_store(config: Config, store: Store) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(config.addr)
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.addr))?;
        let port = listener.local_addr()?.port();
        let registries = ClientFactory::new(config.client_config()?)?;
        let config = Arc::new(config);
        let metrics = Arc::new(Metrics::default());
        let state = web::Data::new(AppState {
            store: store.clone(),
            config: config.clone(),
            metrics: metrics.clone(),
            registries: registries.clone(),
        });
        let context = Arc::new(Context {
            store,
            config: config.clone(),
            metrics,
            registries,
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .user_agent(concat!("manifold/", env!("CARGO_PKG_VERSION")))
                .build()?,
        });
        let workers = Workers::start(context, config.workers);
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .wrap_fn(|req, srv| {
                    let started = Instant::now();
                    let method = req.method().to_string();
                    let route = req.match_pattern().unwrap_or_else(|| "(unmatched)".to_owned());
                    let metrics = req
                        .app_data::<web::Data<AppState>>()
                        .map(|s| s.metrics.clone());
                    let path = req.path().to_owned();
                    let fut = srv.call(req);
                    async move {
                        let res = fut.await?;
                        let status = res.status().as_u16();
                        if let Some(m) = metrics {
                            m.http_request(&method, &route, status);
                        }
                        tracing::debug!(%method, %path, status, ms = started.elapsed().as_millis() as u64, "request");
                        Ok(res)
                    }
                })
                .into_utoipa_app()
                .openapi(ApiDoc::openapi())
                .configure(api::configure)
                .openapi_service(|doc| SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", doc))
                .into_app()
                .configure(crate::pages::configure)
        })
        .listen(listener)?
        .disable_signals()
        .shutdown_timeout(10)
        .run();
        tracing::info!("manifold listening on {}:{port}", config.addr.ip());
        Ok(Self {
            port,
            server,
            workers,
        })
    }

    /// The port the service listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until the server stops (Ctrl-C or SIGTERM), then stops the workers.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let handle = self.server.handle();
        let server = tokio::spawn(self.server);
        tokio::select! {
            _ = shutdown_signal() => {
                tracing::info!("stopping");
                handle.stop(true).await;
            }
            r = server => { r??; }
        }
        self.workers.stop().await;
        Ok(())
    }
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

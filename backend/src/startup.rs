//! The composition root: bind the listener first (so tests can use port 0 and ask for the port,
//! and a taken address fails before a database is touched), connect the store (migrating it),
//! build the services, start the workers, mount the API and the pages on one HTTP app (behind the
//! refusal of requests too large to take, `api/limits.rs`).
//! Only `cli` (and `main`) import this module.

use std::future::ready;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Instant;

use actix_web::dev::{Server, Service as _};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{App, HttpServer, web};
use futures::future::Either;
use tracing::Instrument as _;
use utoipa::OpenApi as _;
use utoipa_actix_web::AppExt as _;
use utoipa_swagger_ui::SwaggerUi;

use crate::api::{self, ApiDoc};
use crate::config::Settings;
use crate::http::REQUEST_ID;
use crate::jobs::Workers;
use crate::service::Services;
use crate::store::Store;

/// A built, bound, not yet running service.
pub struct Application {
    port: u16,
    server: Server,
    workers: Workers,
    services: Arc<Services>,
}

impl Application {
    /// Binds, then connects to the database (running migrations) and starts the workers: an
    /// address that is taken fails before a database (or SQLite file) is touched.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let listener = bind(&settings)?;
        let connections = (settings.workers() as u32 + 8).min(64);
        let store = Store::open(settings.database_url(), connections)
            .await
            .map_err(|e| anyhow::anyhow!("cannot open the database: {e}"))?;
        tracing::info!("keeping data in {}", store.describe());
        Self::serve(settings, store, listener)
    }

    /// The same on a store that is already open.
    pub async fn with_store(settings: Settings, store: Store) -> anyhow::Result<Self> {
        let listener = bind(&settings)?;
        Self::serve(settings, store, listener)
    }

    /// Builds the services on `store`, starts the workers and serves the app on `listener`.
    fn serve(settings: Settings, store: Store, listener: TcpListener) -> anyhow::Result<Self> {
        let addr = settings.addr();
        let port = listener.local_addr()?.port();
        let workers = settings.workers();
        let services = Arc::new(Services::new(settings, store)?);
        let state = web::Data::from(services.clone());
        let workers = Workers::start(services.clone(), workers);
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                // Inside the metrics below, so that a refusal is counted too.
                .wrap_fn(|req, srv| match api::oversized(req.request()) {
                    Some(refusal) => Either::Left(ready(Ok(req.into_response(refusal)))),
                    None => Either::Right(srv.call(req)),
                })
                .wrap_fn(|req, srv| {
                    let started = Instant::now();
                    let method = req.method().to_string();
                    let route = req
                        .match_pattern()
                        .unwrap_or_else(|| "(unmatched)".to_owned());
                    let id = crate::http::request_id(req.request());
                    let span = tracing::info_span!("request", %method, %route, request_id = %id);
                    let metrics = req
                        .app_data::<web::Data<Services>>()
                        .map(|s| s.metrics.clone());
                    let fut = srv.call(req).instrument(span.clone());
                    async move {
                        let mut res = fut.await?;
                        let status = res.status().as_u16();
                        if let Some(m) = metrics {
                            m.http_request(&method, &route, status);
                        }
                        if let Ok(value) = HeaderValue::from_str(&id) {
                            res.headers_mut()
                                .insert(HeaderName::from_static(REQUEST_ID), value);
                        }
                        let ms = started.elapsed().as_millis() as u64;
                        span.in_scope(|| tracing::debug!(status, ms, "answered"));
                        Ok(res)
                    }
                })
                .into_utoipa_app()
                .openapi(ApiDoc::openapi())
                .configure(api::configure)
                .openapi_service(|doc| SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", doc))
                .into_app()
                .configure(crate::pages::configure)
                .default_service(web::to(unmatched))
        })
        .listen(listener)?
        .disable_signals()
        .shutdown_timeout(10)
        .run();
        tracing::info!("manifold listening on {}:{port}", addr.ip());
        Ok(Self {
            port,
            server,
            workers,
            services,
        })
    }

    /// The services the application runs on (tests drain its queue with `jobs::run_next`).
    pub fn services(&self) -> Arc<Services> {
        self.services.clone()
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

/// A request no handler took: the pages' 404 for page addresses, the API's 404 or 405 otherwise;
/// `/docs` goes to the documentation page.
/// The listener on the settings' address.
fn bind(settings: &Settings) -> anyhow::Result<TcpListener> {
    let addr = settings.addr();
    TcpListener::bind(addr).map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))
}

async fn unmatched(req: actix_web::HttpRequest) -> actix_web::HttpResponse {
    let path = req.path();
    if path == "/docs" {
        return actix_web::HttpResponse::PermanentRedirect()
            .insert_header(("location", "/docs/"))
            .finish();
    }
    if path.starts_with("/ui/") || path.starts_with("/static/") {
        crate::pages::not_found()
    } else {
        api::unmatched(&req)
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

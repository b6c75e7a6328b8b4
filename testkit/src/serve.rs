//! An actix-web server of the harness's own (the token server, the OIDC issuer) on a thread with
//! its own actix `System`, so that it works from any test, async or not, and stops synchronously:
//! one worker, no signal handling, a short shutdown.

use std::net::TcpListener;
use std::thread::JoinHandle;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpServer, web};
use anyhow::Context as _;

/// Serves the routes `configure` adds on `listener`, on a thread named `name`: the server's
/// handle (to stop it) and the thread (to join once stopped).
pub(crate) fn serve_on_thread(
    name: String,
    listener: TcpListener,
    configure: impl Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
) -> anyhow::Result<(ServerHandle, JoinHandle<()>)> {
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name(name.clone())
        .spawn(move || {
            let system = actix_web::rt::System::new();
            system.block_on(async move {
                let server = HttpServer::new(move || App::new().configure(configure.clone()))
                    .workers(1)
                    .disable_signals()
                    .shutdown_timeout(1)
                    .listen(listener);
                let server = match server {
                    Ok(server) => server.run(),
                    Err(err) => {
                        let _ = tx.send(Err(err));
                        return;
                    }
                };
                let _ = tx.send(Ok(server.handle()));
                let _ = server.await;
            });
        })
        .with_context(|| format!("spawn {name}'s thread"))?;
    let handle = rx
        .recv()
        .with_context(|| format!("{name}'s thread ended"))?
        .with_context(|| format!("start {name}"))?;
    Ok((handle, thread))
}

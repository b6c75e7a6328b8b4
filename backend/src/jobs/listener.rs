//! The listener: wakes idle workers whenever the store signals queued work (PostgreSQL's
//! `LISTEN`, or the embedded store's in-process signal); reconnects after errors.

use std::sync::Arc;

use tokio::sync::{Notify, watch};

use super::worker::POLL;
use crate::service::Services;

/// Wakes idle workers on every notification until asked to stop.
pub(super) async fn listen(
    services: Arc<Services>,
    wake: Arc<Notify>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let mut signals = match services.store.signals().await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!("cannot listen for queued jobs (polling instead): {e}");
                tokio::select! {
                    _ = tokio::time::sleep(POLL * 5) => continue,
                    _ = stopped.changed() => return,
                }
            }
        };
        loop {
            tokio::select! {
                got = signals.recv() => match got {
                    Ok(_) => wake.notify_waiters(),
                    Err(e) => {
                        tracing::warn!("lost the job notifications, reconnecting: {e}");
                        break;
                    }
                },
                _ = stopped.changed() => return,
            }
        }
    }
}

//! A registry that stopped answering: a listener that accepts connections and holds them, unread
//! and unanswered.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::net::TcpListener;

/// A registry that stopped answering: it accepts connections on `addr` and holds them, unread
/// and unanswered, until dropped. Counts the connections it took.
pub struct StalledRegistry {
    connections: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl StalledRegistry {
    pub async fn start(addr: &str) -> Self {
        let listener = TcpListener::bind(addr)
            .await
            .unwrap_or_else(|e| panic!("bind {addr} (loopback aliases are needed): {e}"));
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = connections.clone();
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                held.push(stream);
            }
        });
        Self { connections, task }
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for StalledRegistry {
    fn drop(&mut self) {
        self.task.abort();
    }
}

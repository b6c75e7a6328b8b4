//! A front for an HTTPS registry that answers anything but a TLS handshake with a TLS alert and
//! closes the connection, as Trow's TLS layer does (Go's servers, distribution among them, answer
//! plain HTTP with a readable 400 instead).

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

/// A fatal `handshake_failure` alert record (TLS 1.2 framing).
const ALERT: [u8; 7] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28];
/// The first byte of a TLS handshake record.
const HANDSHAKE: u8 = 0x16;

/// The front, on loopback until dropped.
pub struct TlsOnly {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    task: tokio::task::JoinHandle<()>,
}

impl TlsOnly {
    /// A front passing TLS connections on to `upstream` (`127.0.0.1:PORT`).
    pub async fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let upstream = upstream.to_owned();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(serve(client, upstream.clone()));
            }
        });
        Self { addr, task }
    }
}

impl Drop for TlsOnly {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(mut client: TcpStream, upstream: String) {
    let mut first = [0u8; 1];
    if client.peek(&mut first).await.unwrap_or(0) == 0 {
        return;
    }
    if first[0] != HANDSHAKE {
        let _ = client.write_all(&ALERT).await;
        return;
    }
    if let Ok(mut server) = TcpStream::connect(&upstream).await {
        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
    }
}

//! A throttling HTTP/1.1 proxy in front of a registry: it passes requests on at a bounded rate,
//! records each request's method and `Content-Range`, and can cut the connection of the first
//! `PATCH` of a chosen range, before passing any of its body on (an upload interrupted between
//! chunks) or after part of it (inside a chunk). It can also hold each upload's commit (`PUT
//! …?digest=`) for a while before passing it on, as distribution on S3 takes its time to move the
//! blob into place before it answers.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One request the proxy saw.
#[derive(Debug, Clone)]
pub struct Seen {
    /// `GET`, `PATCH`, …
    pub method: String,
    /// Its `Content-Range` header, if any.
    pub content_range: Option<String>,
    /// Whether the proxy cut it.
    pub cut: bool,
}

/// How the proxy misbehaves.
#[derive(Debug, Clone, Copy)]
pub struct Behaviour {
    /// Bytes a second passed on towards the registry.
    pub upload_rate: u64,
    /// Cut the connection of the first `PATCH` whose `Content-Range` starts at this byte.
    pub cut_patch_at: Option<u64>,
    /// How many bytes of that `PATCH`'s body to pass on before the cut.
    pub cut_after: u64,
    /// How long each upload's commit (`PUT` with `digest=`) is held before it is passed on.
    pub commit_delay: Duration,
}

/// The proxy, listening on loopback until dropped.
pub struct ThrottlingProxy {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl ThrottlingProxy {
    /// A proxy in front of `upstream` (`127.0.0.1:PORT`).
    pub async fn start(upstream: &str, behaviour: Behaviour) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (log, upstream) = (seen.clone(), upstream.to_owned());
        let cut_done = Arc::new(Mutex::new(false));
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(&upstream).await else {
                    continue;
                };
                let conn = Conn {
                    seen: log.clone(),
                    cut_done: cut_done.clone(),
                    behaviour,
                };
                tokio::spawn(conn.run(client, server));
            }
        });
        Self { addr, seen, task }
    }

    /// The requests seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for ThrottlingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One proxied connection.
struct Conn {
    seen: Arc<Mutex<Vec<Seen>>>,
    cut_done: Arc<Mutex<bool>>,
    behaviour: Behaviour,
}

impl Conn {
    async fn run(self, mut client: TcpStream, server: TcpStream) {
        let (mut from_server, mut to_server) = server.into_split();
        let (mut from_client, mut to_client) = client.split();
        let answers = tokio::io::copy(&mut from_server, &mut to_client);
        let requests = self.requests(&mut from_client, &mut to_server);
        tokio::select! {
            _ = answers => {}
            _ = requests => {}
        }
    }

    /// Passes requests on one by one: headers, then exactly `Content-Length` bytes of body,
    /// throttled; returns when the client closes or a request is cut.
    async fn requests(
        &self,
        from: &mut (impl AsyncReadExt + Unpin),
        to: &mut (impl AsyncWriteExt + Unpin),
    ) -> std::io::Result<()> {
        let mut buffer = Vec::new();
        loop {
            let head = loop {
                if let Some(end) = find(&buffer, b"\r\n\r\n") {
                    break buffer.drain(..end + 4).collect::<Vec<u8>>();
                }
                let mut chunk = [0u8; 16 * 1024];
                let n = from.read(&mut chunk).await?;
                if n == 0 {
                    return Ok(());
                }
                buffer.extend_from_slice(&chunk[..n]);
            };
            let (seen, length, commit) = parse_head(&head);
            if commit {
                tokio::time::sleep(self.behaviour.commit_delay).await;
            }
            let cut = seen.method == "PATCH" && self.cut_this(seen.content_range.as_deref());
            self.seen.lock().unwrap().push(Seen { cut, ..seen });
            if cut && self.behaviour.cut_after == 0 {
                return Ok(());
            }
            to.write_all(&head).await?;
            let mut pace = Pace::new(self.behaviour.upload_rate);
            let mut left = if cut {
                self.behaviour.cut_after.min(length)
            } else {
                length
            };
            while left > 0 {
                if buffer.is_empty() {
                    let mut chunk = vec![0u8; 64 * 1024];
                    let n = from.read(&mut chunk).await?;
                    if n == 0 {
                        return Ok(());
                    }
                    buffer.extend_from_slice(&chunk[..n]);
                }
                let take = buffer.len().min(usize::try_from(left).unwrap());
                let piece: Vec<u8> = buffer.drain(..take).collect();
                pace.wait(piece.len() as u64).await;
                to.write_all(&piece).await?;
                left -= take as u64;
            }
            if cut {
                to.flush().await?;
                tokio::time::sleep(Duration::from_millis(200)).await;
                return Ok(());
            }
        }
    }

    fn cut_this(&self, content_range: Option<&str>) -> bool {
        let start = content_range.and_then(|r| r.split('-').next()?.parse::<u64>().ok());
        let mut done = self.cut_done.lock().unwrap();
        let cut = !*done && start.is_some() && start == self.behaviour.cut_patch_at;
        *done |= cut;
        cut
    }
}

/// Keeps bytes passed on under a rate.
struct Pace {
    rate: u64,
    start: Instant,
    sent: u64,
}

impl Pace {
    fn new(rate: u64) -> Self {
        Self {
            rate,
            start: Instant::now(),
            sent: 0,
        }
    }

    async fn wait(&mut self, bytes: u64) {
        self.sent += bytes;
        let due = Duration::from_secs_f64(self.sent as f64 / self.rate as f64);
        if let Some(ahead) = due.checked_sub(self.start.elapsed()) {
            tokio::time::sleep(ahead).await;
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The request line and the headers the proxy needs; the body's length; whether it commits an
/// upload.
fn parse_head(head: &[u8]) -> (Seen, u64, bool) {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_owned();
    let path = request_line.next().unwrap_or_default();
    let commit = method == "PUT" && path.contains("/blobs/uploads/") && path.contains("digest=");
    let (mut length, mut content_range) = (0, None);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().unwrap_or(0),
            "content-range" => content_range = Some(value.trim().to_owned()),
            _ => {}
        }
    }
    let seen = Seen {
        method,
        content_range,
        cut: false,
    };
    (seen, length, commit)
}

//! Headless Chromium for the page tests, driven over WebDriver by fantoccini.
//!
//! One `chromedriver` serves every test that runs at the same time (it is started by the first and
//! shut down, with its browsers, when the last lets go); each test gets a browser of its own with a
//! fresh profile. Screenshots go to `target/screenshots/` for review.

use std::io::Write as _;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// A script: whether the page scrolls sideways.
pub const SCROLLS_SIDEWAYS: &str =
    "return document.documentElement.scrollWidth > document.documentElement.clientWidth";

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "chromedriver";

struct Driver {
    port: u16,
    child: Mutex<Child>,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // chromedriver's /shutdown quits the browsers it started, then itself.
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) {
            let _ = write!(
                stream,
                "GET /shutdown HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
            );
        }
        let mut child = self.child.lock().unwrap();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

static DRIVER: Mutex<Weak<Driver>> = Mutex::new(Weak::new());

fn driver() -> Arc<Driver> {
    let mut slot = DRIVER.lock().unwrap();
    if let Some(driver) = slot.upgrade() {
        return driver;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver runs (apt-get install chromium-driver)");
    let driver = Arc::new(Driver {
        port,
        child: Mutex::new(child),
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "chromedriver did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    *slot = Arc::downgrade(&driver);
    driver
}

/// A headless Chromium of one test's own.
pub struct Browser {
    pub client: Client,
    _profile: tempfile::TempDir,
    _driver: Arc<Driver>,
}

impl Browser {
    /// A browser whose viewport is `width` × `height` CSS pixels (a phone's, emulated, below 500).
    pub async fn open(width: u32, height: u32) -> Self {
        let driver = driver();
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-quic".to_owned(),
            "--hide-scrollbars".to_owned(),
            "--force-device-scale-factor=1".to_owned(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        let mut options = json!({"binary": CHROMIUM, "args": args});
        if width < 500 {
            // A desktop window is at least 500 px wide: emulate a phone's screen instead.
            options["mobileEmulation"] = json!({"deviceMetrics": {"width": width, "height": height, "pixelRatio": 1.0, "touch": true}});
        }
        caps.insert("goog:chromeOptions".into(), json!(options));
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", driver.port))
            .await
            .expect("a Chromium session");
        Self {
            client,
            _profile: profile,
            _driver: driver,
        }
    }

    /// Goes to `url` and waits for the page.
    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("goto {url}: {e}"));
    }

    /// The element `css` selects (waiting up to 10 s for it).
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        match self
            .client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(e) => panic!("no {css} on {}: {e}", self.url().await),
        }
    }

    /// Whether `css` selects anything now.
    pub async fn has(&self, css: &str) -> bool {
        !self
            .client
            .find_all(Locator::Css(css))
            .await
            .unwrap()
            .is_empty()
    }

    /// The text of `css`.
    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap()
    }

    /// The current value of the input `css`.
    pub async fn value(&self, css: &str) -> String {
        self.find(css)
            .await
            .prop("value")
            .await
            .unwrap()
            .unwrap_or_default()
    }

    /// Types `text` into the input `css`.
    pub async fn fill(&self, css: &str, text: &str) {
        let input = self.find(css).await;
        input.clear().await.unwrap();
        input.send_keys(text).await.unwrap();
    }

    /// Clicks `css`.
    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.unwrap();
    }

    /// Runs `script` (a function body) and returns its value.
    pub async fn js(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap()
    }

    /// The current address.
    pub async fn url(&self) -> url::Url {
        self.client.current_url().await.unwrap()
    }

    /// Waits for `script` to return true (tolerating page loads in between).
    pub async fn wait_until(&self, script: &str) {
        let holds = || async {
            let answer = self.client.execute(script, vec![]).await;
            matches!(answer, Ok(Value::Bool(true)))
        };
        super::wait::until(
            &format!("`{script}` being true"),
            super::wait::nothing,
            holds,
        )
        .await;
    }

    /// Saves a screenshot of the whole page as `target/screenshots/<name>.png`.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let (width, height) = self.client.get_window_size().await.unwrap();
        let full = self
            .js("return document.documentElement.scrollHeight")
            .await
            .as_u64()
            .unwrap_or(height);
        if full > height {
            self.client
                .set_window_size(width as u32, full.min(6000) as u32)
                .await
                .unwrap();
        }
        let png = self.client.screenshot().await.unwrap();
        if full > height {
            self.client
                .set_window_size(width as u32, height as u32)
                .await
                .unwrap();
        }
        let dir = PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../target/screenshots"
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// Ends the session (the profile directory goes with `self`).
    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}

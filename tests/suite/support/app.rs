//! The service under test in-process: a fresh database per test (PostgreSQL unless told
//! otherwise) and the application built on port 0, with a client that speaks its API.

use std::time::Duration;

use manifold::config::Settings;
use manifold::startup::Application;
use serde_json::Value;

use super::stores::{Db, DbGuard};

/// A running service and a client for it.
pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub _db: DbGuard,
    pub token: Option<String>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
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
        let (db, url) = DbGuard::create(store).await;
        let mut args = Settings {
            addr: Some("127.0.0.1:0".parse().unwrap()),
            database_url: Some(url.into()),
            workers: Some(2),
            job_backoff_ms: Some(50),
            job_lease_secs: Some(10),
            ..Settings::default()
        };
        tweak(&mut args);
        let token = args.api_tokens.first().map(|t| t.expose().to_owned());
        let config = Settings::load(args).expect("valid test config");
        let app = Application::build(config)
            .await
            .expect("the service starts");
        let base = format!("http://127.0.0.1:{}", app.port());
        let server = tokio::spawn(async move {
            let _ = app.run_until_stopped().await;
        });
        Self {
            base,
            http: reqwest::Client::new(),
            _db: db,
            token,
            server,
        }
    }

    /// A request with the API token, when the service has one.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let builder = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(t) => builder.bearer_auth(t),
            None => builder,
        }
    }

    /// `POST /lists` with a YAML body.
    pub async fn post_yaml(&self, yaml: &str) -> reqwest::Response {
        self.request(reqwest::Method::POST, "/lists")
            .header("content-type", "application/yaml")
            .body(yaml.to_owned())
            .send()
            .await
            .unwrap()
    }

    /// `POST /lists` with a JSON body.
    pub async fn post_json(&self, body: &Value) -> reqwest::Response {
        self.request(reqwest::Method::POST, "/lists")
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// `GET path` as JSON, asserting 200.
    pub async fn get_json(&self, path: &str) -> Value {
        let r = self
            .request(reqwest::Method::GET, path)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "GET {path}");
        r.json().await.unwrap()
    }

    /// Waits until the list reaches a final status; returns it.
    pub async fn wait_final(&self, id: &str) -> Value {
        self.wait_for(id, |l| {
            matches!(
                l["status"].as_str(),
                Some("succeeded" | "failed" | "canceled")
            )
        })
        .await
    }

    /// Waits until `done` holds for the list (up to 30 s).
    pub async fn wait_for(&self, id: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let list = self.get_json(&format!("/lists/{id}")).await;
            if done(&list) {
                return list;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "list {id} never got there: {list:#}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// The documentation demo as a YAML spec for a registry host.
pub fn demo_yaml(host: &str, target: &str) -> String {
    format!(
        "image: {host}/{target}\nmanifests:\n  - image: {host}/demo-s390x:v0.2\n    platform:\n      architecture: s390x\n      os: linux\n  - image: {host}/demo-amd64:v0.2\n    platform:\n      architecture: amd64\n      os: linux\n"
    )
}

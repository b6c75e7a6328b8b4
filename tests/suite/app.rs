//! The service under test: a fresh PostgreSQL database per test and the application built
//! in-process on port 0, with a client that speaks its API.

use std::time::Duration;

use manifold::config::Settings;
use manifold::startup::Application;
use serde_json::Value;

/// The server every test database is created on.
pub fn admin_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A database of its own for one test, dropped afterwards.
pub struct TestDb {
    pub url: String,
    name: String,
}

impl TestDb {
    pub async fn create() -> Self {
        let name = format!("manifold_test_{}", uuid::Uuid::new_v4().simple());
        let admin = admin_url();
        let mut conn = sqlx_connect(&admin).await;
        sqlx::query(sqlx::AssertSqlSafe(format!("create database {name}")))
            .execute(&mut conn)
            .await
            .expect("create a test database");
        let mut url = url::Url::parse(&admin).expect("DATABASE_URL is a URL");
        url.set_path(&name);
        Self {
            url: url.to_string(),
            name,
        }
    }
}

async fn sqlx_connect(url: &str) -> sqlx::PgConnection {
    use sqlx::Connection as _;
    sqlx::PgConnection::connect(url)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {url} (set DATABASE_URL): {e}"))
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        let admin = admin_url();
        // Drop runs inside a runtime; a thread of its own may block.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let mut conn = sqlx_connect(&admin).await;
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "drop database if exists {name} with (force)"
                )))
                .execute(&mut conn)
                .await;
            });
        })
        .join();
    }
}

/// Which store a test service keeps its data in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    /// A fresh PostgreSQL database.
    Postgres,
    /// A fresh SQLite file.
    Sqlite,
}

/// What keeps a test service's database alive.
#[expect(
    dead_code,
    reason = "held so the database lives as long as the service"
)]
pub enum DbGuard {
    Postgres(TestDb),
    Sqlite(tempfile::TempDir),
}

impl DbGuard {
    async fn create(db: Db) -> (Self, String) {
        match db {
            Db::Postgres => {
                let test_db = TestDb::create().await;
                let url = test_db.url.clone();
                (Self::Postgres(test_db), url)
            }
            Db::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("manifold.db").display());
                (Self::Sqlite(dir), url)
            }
        }
    }
}

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

//! The two stores a test service can keep its data in: a fresh PostgreSQL database per test
//! (created on `DATABASE_URL`'s server, dropped afterwards) or a fresh SQLite file, and
//! [`OnStore`], what [`on_both_stores!`](crate::support::on_both_stores) opens on each.

use std::future::Future;

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
        let db = Self::unborn();
        let mut conn = sqlx_connect(&admin_url()).await;
        sqlx::query(sqlx::AssertSqlSafe(format!("create database {}", db.name)))
            .execute(&mut conn)
            .await
            .expect("create a test database");
        db
    }

    /// The name and URL of a test database that does not exist yet (dropped afterwards if
    /// something created it).
    pub fn unborn() -> Self {
        let name = format!("manifold_test_{}", uuid::Uuid::new_v4().simple());
        let mut url = url::Url::parse(&admin_url()).expect("DATABASE_URL is a URL");
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

/// Which store a test keeps its data in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    /// A fresh PostgreSQL database.
    Postgres,
    /// A fresh SQLite file.
    Sqlite,
}

/// What keeps a test's database alive.
#[expect(dead_code, reason = "held so the database lives as long as the test")]
pub enum DbGuard {
    Postgres(TestDb),
    Sqlite(tempfile::TempDir),
}

impl DbGuard {
    /// A fresh database on `db`, and its URL.
    pub async fn create(db: Db) -> (Self, String) {
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

/// What a test run on both stores takes: made afresh on the store it is given.
pub trait OnStore: Sized {
    /// This, on `db`.
    fn open(db: Db) -> impl Future<Output = Self> + Send;
}

/// A test that opens what it needs itself is given the store's kind.
impl OnStore for Db {
    async fn open(db: Db) -> Self {
        db
    }
}

/// `T` on `db` (the macro's way to call [`OnStore::open`] with `T` inferred).
pub async fn open<T: OnStore>(db: Db) -> T {
    T::open(db).await
}

/// Runs SQL statements (`;`-separated, no parameters) on the database at `url`, PostgreSQL or
/// SQLite, behind the service's back: what an operator's hand edit, or an older release, writes.
pub async fn run_sql(url: &str, sql: &str) {
    use sqlx::Connection as _;
    let statements = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()));
    if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url)
            .await
            .unwrap_or_else(|e| panic!("SQLite at {url}: {e}"));
        statements
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    } else {
        let mut conn = sqlx_connect(url).await;
        statements
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

/// How many deadlocks PostgreSQL detected in the database at `url` (its statistics, which lag a
/// transaction's end by up to a second).
pub async fn deadlocks(url: &str) -> i64 {
    let name = url::Url::parse(url)
        .unwrap()
        .path()
        .trim_start_matches('/')
        .to_owned();
    let mut conn = sqlx_connect(&admin_url()).await;
    sqlx::query_scalar::<_, i64>(
        "select coalesce(sum(deadlocks), 0)::bigint from pg_stat_database where datname = $1",
    )
    .bind(name)
    .fetch_one(&mut conn)
    .await
    .expect("pg_stat_database answers")
}

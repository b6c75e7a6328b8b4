//! The store a phase runs on, made for it and removed after it: a PostgreSQL database of its own
//! (created from the admin `DATABASE_URL`, dropped with `force`), or a fresh SQLite file in the
//! bench's temp dir (deleted with its WAL, shared-memory and lock files).

use std::path::{Path, PathBuf};
use std::str::FromStr as _;
use std::time::{Duration, Instant};

use sqlx::Connection as _;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode};

use crate::PATIENCE;
use crate::cpu::Cpu;

/// Which store.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Postgres,
    Sqlite,
}

impl Kind {
    /// Both, in the order they are measured.
    pub const ALL: [Kind; 2] = [Kind::Postgres, Kind::Sqlite];

    /// Its name in the tables.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Postgres => "PostgreSQL",
            Kind::Sqlite => "SQLite",
        }
    }
}

/// Where the store lives.
enum Place {
    Postgres { admin: String, name: String },
    Sqlite { path: PathBuf },
}

/// A connection to either store.
enum Conn {
    Postgres(sqlx::PgConnection),
    Sqlite(SqliteConnection),
}

/// A store of its own for one phase, removed on drop.
pub struct BenchStore {
    pub kind: Kind,
    /// The `DATABASE_URL` the service is given.
    pub url: String,
    place: Place,
}

impl BenchStore {
    /// A new, empty store: a database on the PostgreSQL server `admin` names, or a file in `dir`.
    pub async fn create(kind: Kind, admin: &str, dir: &Path) -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        match kind {
            Kind::Postgres => {
                let name = format!("manifold_bench_{id}");
                let mut conn = sqlx::PgConnection::connect(admin)
                    .await
                    .unwrap_or_else(|e| panic!("PostgreSQL at {admin} (set DATABASE_URL): {e}"));
                sqlx::query(sqlx::AssertSqlSafe(format!("create database {name}")))
                    .execute(&mut conn)
                    .await
                    .expect("create the bench database");
                let mut url = url::Url::parse(admin).expect("DATABASE_URL is a URL");
                url.set_path(&name);
                Self {
                    kind,
                    url: url.to_string(),
                    place: Place::Postgres {
                        admin: admin.to_owned(),
                        name,
                    },
                }
            }
            Kind::Sqlite => {
                let path = dir.join(format!("bench-{id}.db"));
                Self {
                    kind,
                    url: format!("sqlite://{}", path.display()),
                    place: Place::Sqlite { path },
                }
            }
        }
    }

    /// The CPU counters for the serve process `pid` on this store (PostgreSQL: its backends too).
    pub fn cpu(&self, pid: u32) -> Cpu {
        match &self.place {
            Place::Postgres { name, .. } => Cpu::new(pid, Some(name)),
            Place::Sqlite { .. } => Cpu::new(pid, None),
        }
    }

    /// A connection to the PostgreSQL database (panics on SQLite).
    pub async fn pg(&self) -> sqlx::PgConnection {
        assert_eq!(self.kind, Kind::Postgres);
        sqlx::PgConnection::connect(&self.url)
            .await
            .expect("the bench database")
    }

    /// A connection to the SQLite file, creating it (panics on PostgreSQL).
    pub async fn sqlite(&self) -> SqliteConnection {
        assert_eq!(self.kind, Kind::Sqlite);
        let options = SqliteConnectOptions::from_str(&self.url)
            .expect("a SQLite URL")
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(10));
        SqliteConnection::connect_with(&options)
            .await
            .expect("the bench SQLite file")
    }

    /// Whether a connection made like the service's (sqlx, same URL) uses TLS; none for SQLite.
    pub async fn uses_tls(&self) -> Option<bool> {
        if self.kind == Kind::Sqlite {
            return None;
        }
        let tls = sqlx::query_scalar("select ssl from pg_stat_ssl where pid = pg_backend_pid()")
            .fetch_one(&mut self.pg().await)
            .await
            .expect("pg_stat_ssl");
        Some(tls)
    }

    /// (succeeded, failed, seconds from the first claim to the last finish) over every list.
    async fn progress(conn: &mut Conn) -> (i64, i64, Option<f64>) {
        match conn {
            Conn::Postgres(conn) => sqlx::query_as(
                "select count(*) filter (where status = 'succeeded'), \
                        count(*) filter (where status = 'failed'), \
                        extract(epoch from max(finished_at) - min(started_at))::float8 \
                 from list",
            )
            .fetch_one(conn)
            .await
            .expect("count the lists"),
            Conn::Sqlite(conn) => sqlx::query_as(
                "select coalesce(sum(status = 'succeeded'), 0), \
                        coalesce(sum(status = 'failed'), 0), \
                        (max(finished_at) - min(started_at)) / 1e6 \
                 from list",
            )
            .fetch_one(conn)
            .await
            .expect("count the lists"),
        }
    }

    /// Waits until `n` lists have succeeded (failing on any failed one); the time from the first
    /// claim to the last finish, as the database recorded them.
    pub async fn wait_drained(&self, n: usize) -> Duration {
        let mut conn = match self.kind {
            Kind::Postgres => Conn::Postgres(self.pg().await),
            Kind::Sqlite => Conn::Sqlite(self.sqlite().await),
        };
        let deadline = Instant::now() + PATIENCE;
        loop {
            let (succeeded, failed, span) = Self::progress(&mut conn).await;
            assert_eq!(failed, 0, "lists failed during the drain");
            if succeeded as usize == n {
                return Duration::from_secs_f64(span.expect("finished lists have times"));
            }
            assert!(
                Instant::now() < deadline,
                "{succeeded} of {n} lists drained in {PATIENCE:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for BenchStore {
    fn drop(&mut self) {
        match &self.place {
            Place::Postgres { admin, name } => drop_database(admin.clone(), name.clone()),
            Place::Sqlite { path } => {
                for suffix in ["", "-wal", "-shm", ".lock"] {
                    let mut file = path.as_os_str().to_owned();
                    file.push(suffix);
                    let _ = std::fs::remove_file(file);
                }
            }
        }
    }
}

/// `drop database … with (force)`, from a thread of its own (drop runs inside the runtime, and
/// that thread may block).
fn drop_database(admin: String, name: String) {
    let _ = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        rt.block_on(async move {
            if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "drop database if exists {name} with (force)"
                )))
                .execute(&mut conn)
                .await;
            }
        });
    })
    .join();
}

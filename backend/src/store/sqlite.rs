//! The embedded backend: SQLite in one file (or in memory), for running with nothing else installed.
//!
//! The same schema meaning and the same queue semantics as PostgreSQL: a claim is one short write
//! transaction (SQLite has one writer, so no row locks or `skip locked` are needed), leases and
//! the attempt fence work the same, and workers are woken in-process. WAL mode, foreign keys on,
//! one writer connection; a lock file refuses a second process on the same database. Timestamps
//! are microseconds since the Unix epoch, UUIDs 16-byte blobs, JSON text.

use std::borrow::Cow;
use std::fs::File;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::query::Query;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteQueryResult,
    SqliteRow, SqliteSynchronous,
};
use sqlx::{Row as _, Sqlite};
use tokio::sync::Notify;
use uuid::Uuid;

use super::DbError;
use super::sql::{Driver, Pools, Row, Value, bind_value};
use super::statements::{Dialect, Statements};
use crate::model::Clock;

/// The SQLite migrations, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

/// The current time, in statements: replaced by the process's clock in microseconds as each
/// statement runs (SQLite's own clock counts milliseconds, too coarse to agree with the times the
/// process binds). Not SQL, so a statement that missed the replacement fails loudly.
const NOW: &str = "__now__";

static STATEMENTS: LazyLock<Statements> = LazyLock::new(|| {
    Statements::new(&Dialect {
        now: NOW,
        created_at: "max(__now__, (select coalesce(max(created_at), 0) + 1 from list))",
        next_seq: "(select coalesce(max(seq), 0) + 1 from list)",
        after_secs: "__now__ + cast({} * 1000000 as integer)",
        greatest: "max",
        for_update: "",
        skip_locked: "",
        entries_json: "(select coalesce(json_group_array(json_object('image', e.image, \
            'digest', e.digest, 'media_type', e.media_type, 'size', e.size, \
            'platform', json(e.platform), 'annotations', json(e.annotations), \
            'attestation', json(case when e.attestation then 'true' else 'false' end)) \
            order by e.position), '[]') from list_entry e where e.list_id = l.list_id)",
        key_lock: None,
        target_lock: None,
        insert_with_job: false,
        json_text: "{}",
        publish_json: "(case when l.publish_id is null then null else (select \
            json_group_array(json_object('list_id', lower(hex(g.list_id)), 'target', g.target, \
            'status', g.status, 'digest', g.digest, 'outcome', json(g.publish_outcome))) \
            from (select * from list where owner = l.owner order by seq) g) end)",
        subquery_fence: "",
    })
});

/// A SQLite database: one writer connection, readers beside it, and the workers' wake-up.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pub(super) pools: Pools<Sqlite>,
    wake: Arc<Notify>,
    location: String,
    _lock: Option<Arc<File>>,
}

impl SqliteStore {
    /// Opens (creating) the database at `url` (`sqlite://path`, `sqlite:path` or `sqlite::memory:`)
    /// and migrates it. Refuses a file another process has open.
    pub(super) async fn connect(url: &str, clock: Clock) -> Result<Self, DbError> {
        let memory = url.contains(":memory:") || url.contains("mode=memory");
        let options: SqliteConnectOptions = url
            .parse::<SqliteConnectOptions>()?
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let options = if memory {
            options
        } else {
            options
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
        };
        let location = if memory {
            "in memory".to_owned()
        } else {
            options.get_filename().display().to_string()
        };
        let lock = if memory {
            None
        } else {
            Some(Arc::new(lock_file(options.get_filename())?))
        };
        // One connection writes. An in-memory database lives in its one connection, so it reads
        // there too.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options.clone())
            .await?;
        MIGRATOR.run(&writer).await.map_err(sqlx::Error::from)?;
        let reader = if memory {
            writer.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(options.read_only(true))
                .await?
        };
        let wake = Arc::new(Notify::new());
        Ok(Self {
            pools: Pools {
                reader,
                writer,
                wake: Some(wake.clone()),
                clock,
                kept: Default::default(),
            },
            wake,
            location,
            _lock: lock,
        })
    }

    /// The database file, or "in memory".
    pub(super) fn location(&self) -> &str {
        &self.location
    }

    /// Where idle workers wait to be woken.
    pub(super) fn wake(&self) -> Arc<Notify> {
        self.wake.clone()
    }
}

/// Refuses a database file another process holds.
fn lock_file(db: &std::path::Path) -> Result<File, DbError> {
    let path = {
        let mut p = db.as_os_str().to_owned();
        p.push(".lock");
        std::path::PathBuf::from(p)
    };
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| DbError::Corrupt {
            what: "lock file",
            message: format!("cannot open {}: {e}", path.display()),
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(DbError::InUse(format!(
            "another manifold process is using {}; to run several processes on one queue, use \
             PostgreSQL (DATABASE_URL=postgres://…)",
            db.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(DbError::Corrupt {
            what: "lock file",
            message: format!("cannot lock {}: {e}", path.display()),
        }),
    }
}

impl Driver for Sqlite {
    /// Takes the write lock at once (the one writer connection holds it anyway).
    const BEGIN: &'static str = "begin immediate";

    fn bind(q: Query<'_, Self, SqliteArguments>, value: Value) -> Query<'_, Self, SqliteArguments> {
        bind_value!(q, value,
            time(t) => q.bind(t.map(|t| t.timestamp_micros())),
            json(j) => match j {
                serde_json::Value::Null => q.bind(None::<String>),
                j => q.bind(j.to_string()),
            },
        )
    }

    fn statements() -> &'static Statements {
        &STATEMENTS
    }

    fn prepare(sql: &str, now: DateTime<Utc>) -> Cow<'_, str> {
        if sql.contains(NOW) {
            Cow::Owned(sql.replace(NOW, &now.timestamp_micros().to_string()))
        } else {
            Cow::Borrowed(sql)
        }
    }

    fn rows_affected(done: &SqliteQueryResult) -> u64 {
        done.rows_affected()
    }
}

fn column<T>(row: &SqliteRow, column: &str) -> Result<T, DbError>
where
    T: for<'r> sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite>,
{
    Ok(row.try_get(column)?)
}

impl Row for SqliteRow {
    fn text(&self, c: &str) -> Result<Option<String>, DbError> {
        column(self, c)
    }

    fn int(&self, c: &str) -> Result<Option<i64>, DbError> {
        column(self, c)
    }

    fn bool(&self, c: &str) -> Result<bool, DbError> {
        column(self, c)
    }

    fn uuid(&self, c: &str) -> Result<Uuid, DbError> {
        column(self, c)
    }

    fn uuid_opt(&self, c: &str) -> Result<Option<Uuid>, DbError> {
        column(self, c)
    }

    fn time(&self, c: &str) -> Result<Option<DateTime<Utc>>, DbError> {
        Ok(column::<Option<i64>>(self, c)?
            .map(|us| DateTime::from_timestamp_micros(us).unwrap_or_default()))
    }

    fn json(&self, c: &str) -> Result<Option<serde_json::Value>, DbError> {
        column::<Option<String>>(self, c)?
            .map(|text| {
                serde_json::from_str(&text).map_err(|e| DbError::Corrupt {
                    what: "JSON column",
                    message: format!("{c}: {e}"),
                })
            })
            .transpose()
    }
}

//! The PostgreSQL backend: the production store, shared by any number of service processes.
//!
//! Owns the pool, its dialect (row locks, `skip locked` claims, database time), binding values
//! and reading columns, and `LISTEN` on the channel the `notify_job_ready` trigger signals. The
//! store's logic is in `lists.rs` and `queue.rs`.

use std::str::FromStr as _;
use std::sync::LazyLock;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::{
    PgArguments, PgConnectOptions, PgListener, PgPoolOptions, PgQueryResult, PgRow,
};
use sqlx::query::Query;
use sqlx::{Connection as _, PgConnection, Postgres, Row as _};
use uuid::Uuid;

use super::DbError;
use super::sql::{Driver, Pools, Row, Value, bind_value};
use super::statements::{Dialect, Statements};
use crate::model::Clock;

/// The PostgreSQL migrations, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// The channel workers listen on.
pub const JOBS_CHANNEL: &str = "manifold_jobs";

/// The current time, in statements: the database's own (`now()`, one clock for every process),
/// unless the session says otherwise (`manifold.now`, set for a manual clock).
macro_rules! now {
    () => {
        "coalesce(nullif(current_setting('manifold.now', true), '')::timestamptz, now())"
    };
}

static STATEMENTS: LazyLock<Statements> = LazyLock::new(|| {
    Statements::new(&Dialect {
        now: now!(),
        created_at: now!(),
        next_seq: "nextval('list_seq')",
        after_secs: concat!(now!(), " + make_interval(secs => {})"),
        greatest: "greatest",
        for_update: "for update",
        skip_locked: "for update skip locked",
        entries_json: "(select coalesce(json_agg(json_build_object('image', e.image, \
            'digest', e.digest, 'media_type', e.media_type, 'size', e.size, \
            'platform', e.platform, 'annotations', e.annotations, \
            'attestation', e.attestation) order by e.position), '[]') \
            from list_entry e where e.list_id = l.list_id)",
        key_lock: Some("select pg_advisory_xact_lock(hashtextextended($1, 0))"),
        target_lock: Some("select pg_try_advisory_xact_lock(hashtextextended($1, 1)) as locked"),
        insert_with_job: true,
        json_text: "{}::text",
        publish_json: "(case when l.publish_id is null then null else (select \
            json_agg(json_build_object('list_id', g.list_id, 'target', g.target, \
            'status', g.status, 'digest', g.digest, 'outcome', g.publish_outcome) \
            order by g.seq) from list g where g.owner = l.owner) end)",
        subquery_fence: " offset 0",
    })
});

/// PostgreSQL's code for a database that does not exist, and for one that does already.
const NO_SUCH_DATABASE: &str = "3D000";
const DATABASE_EXISTS: &str = "42P04";

/// Creates the database `options` names when the server answers that it has none of that name
/// (a fresh PostgreSQL has only `postgres`), from the server's `postgres` database, and says so.
/// Any other failure to connect is left for the pool to report.
async fn create_if_missing(options: &PgConnectOptions) -> Result<(), DbError> {
    let code = |e: &sqlx::Error| match e {
        sqlx::Error::Database(e) => e.code().map(|c| c.into_owned()),
        _ => None,
    };
    match PgConnection::connect_with(options).await {
        Ok(connection) => return Ok(connection.close().await?),
        Err(e) if code(&e).as_deref() == Some(NO_SUCH_DATABASE) => {}
        Err(_) => return Ok(()),
    }
    let name = options
        .get_database()
        .unwrap_or_else(|| options.get_username())
        .to_owned();
    let mut admin = PgConnection::connect_with(&options.clone().database("postgres")).await?;
    let create = format!("create database \"{}\"", name.replace('"', "\"\""));
    match sqlx::raw_sql(sqlx::AssertSqlSafe(create))
        .execute(&mut admin)
        .await
    {
        Ok(_) => tracing::info!("created the PostgreSQL database {name}"),
        // Another process created it meanwhile.
        Err(e) if code(&e).as_deref() == Some(DATABASE_EXISTS) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(admin.close().await?)
}

/// A pool of connections to PostgreSQL.
#[derive(Clone, Debug)]
pub struct PgStore {
    pub(super) pools: Pools<Postgres>,
}

impl PgStore {
    /// Connects (creating the database when the server has none of its name) and runs the
    /// migrations. The JIT compiler is off on every connection: the service's statements are
    /// short, and a planner estimate that goes wrong (a table grown since its last ANALYZE) made
    /// PostgreSQL spend 170 ms compiling a page query that runs in 4.
    pub(super) async fn connect(
        url: &str,
        max_connections: u32,
        clock: Clock,
    ) -> Result<Self, DbError> {
        let options = PgConnectOptions::from_str(url)?.options([("jit", "off")]);
        create_if_missing(&options).await?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await.map_err(sqlx::Error::from)?;
        Ok(Self {
            pools: Pools {
                reader: pool.clone(),
                writer: pool,
                wake: None,
                clock,
                kept: Default::default(),
            },
        })
    }

    /// A listener on the jobs channel.
    pub(super) async fn listener(&self) -> Result<PgListener, DbError> {
        let mut listener = PgListener::connect_with(&self.pools.writer).await?;
        listener.listen(JOBS_CHANNEL).await?;
        Ok(listener)
    }
}

impl Driver for Postgres {
    const BEGIN: &'static str = "begin";

    const SET_NOW: Option<&'static str> = Some("select set_config('manifold.now', $1, false)");

    fn bind(q: Query<'_, Self, PgArguments>, value: Value) -> Query<'_, Self, PgArguments> {
        bind_value!(q, value,
            time(t) => q.bind(t),
            json(j) => match j {
                serde_json::Value::Null => q.bind(None::<sqlx::types::Json<serde_json::Value>>),
                j => q.bind(sqlx::types::Json(j)),
            },
        )
    }

    fn statements() -> &'static Statements {
        &STATEMENTS
    }

    fn rows_affected(done: &PgQueryResult) -> u64 {
        done.rows_affected()
    }
}

fn column<T>(row: &PgRow, column: &str) -> Result<T, DbError>
where
    T: for<'r> sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
{
    Ok(row.try_get(column)?)
}

impl Row for PgRow {
    fn text(&self, c: &str) -> Result<Option<String>, DbError> {
        column(self, c)
    }

    fn int(&self, c: &str) -> Result<Option<i64>, DbError> {
        match self.try_get::<Option<i64>, _>(c) {
            Ok(n) => Ok(n),
            Err(sqlx::Error::ColumnDecode { .. }) => {
                Ok(column::<Option<i32>>(self, c)?.map(i64::from))
            }
            Err(e) => Err(e.into()),
        }
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
        column(self, c)
    }

    fn json(&self, c: &str) -> Result<Option<serde_json::Value>, DbError> {
        column(self, c)
    }
}

//! The contract between the store's logic and its two backends.
//!
//! `lists.rs`, `queue.rs` and `watch.rs` hold the logic once, generic over a [`Backend`];
//! `postgres.rs` and `sqlite.rs` each say how to open a session, bind a [`Value`] and read a
//! column. The statements themselves are in `statements.rs`.

use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use sqlx::pool::PoolConnection;
use sqlx::query::Query;
use sqlx::{Database, Pool};
use tokio::sync::Notify;
use uuid::Uuid;

use super::DbError;
use super::statements::Statements;
use crate::model::Clock;

/// A statement parameter, typed so that each backend binds it as its column type.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    /// A boolean.
    Bool(bool),
    /// An integer, or a null one.
    Int(Option<i64>),
    /// A number of seconds (lease lengths).
    Secs(f64),
    /// Text, or a null text.
    Text(Option<String>),
    /// A UUID.
    Uuid(Uuid),
    /// A timestamp, or a null one (timestamptz in PostgreSQL, microseconds in SQLite).
    Time(Option<DateTime<Utc>>),
    /// A JSON document (jsonb in PostgreSQL, text in SQLite).
    Json(serde_json::Value),
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Self::Bool(v)
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Self::Int(Some(v))
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Self::Text(Some(v.to_owned()))
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Self::Text(Some(v.clone()))
    }
}

impl From<Option<&str>> for Value {
    fn from(v: Option<&str>) -> Self {
        Self::Text(v.map(str::to_owned))
    }
}

impl From<&Option<String>> for Value {
    fn from(v: &Option<String>) -> Self {
        Self::Text(v.clone())
    }
}

impl From<Uuid> for Value {
    fn from(v: Uuid) -> Self {
        Self::Uuid(v)
    }
}

impl From<DateTime<Utc>> for Value {
    fn from(v: DateTime<Utc>) -> Self {
        Self::Time(Some(v))
    }
}

impl From<Option<DateTime<Utc>>> for Value {
    fn from(v: Option<DateTime<Utc>>) -> Self {
        Self::Time(v)
    }
}

/// The parameters of a statement, in order: `args![a, b]`.
macro_rules! args {
    ($($value:expr),* $(,)?) => {
        vec![$($crate::store::sql::Value::from($value)),*]
    };
}
pub(crate) use args;

/// A result row, read by column name. `None` is SQL null.
pub(crate) trait Row {
    /// A text column.
    fn text(&self, column: &str) -> Result<Option<String>, DbError>;
    /// An integer column (any width).
    fn int(&self, column: &str) -> Result<Option<i64>, DbError>;
    /// A boolean column.
    fn bool(&self, column: &str) -> Result<bool, DbError>;
    /// A UUID column.
    fn uuid(&self, column: &str) -> Result<Uuid, DbError>;
    /// A UUID column that may be null.
    fn uuid_opt(&self, column: &str) -> Result<Option<Uuid>, DbError>;
    /// A timestamp column.
    fn time(&self, column: &str) -> Result<Option<DateTime<Utc>>, DbError>;
    /// A JSON column (or a JSON expression).
    fn json(&self, column: &str) -> Result<Option<serde_json::Value>, DbError>;
}

/// A connection, or a transaction, that statements run on.
pub(crate) trait Session: Send {
    /// The rows it answers.
    type Row: Row + Send;

    /// Every row a statement answers.
    fn fetch_all(
        &mut self,
        sql: &str,
        args: Vec<Value>,
    ) -> impl Future<Output = Result<Vec<Self::Row>, DbError>> + Send;

    /// Runs a statement; the number of rows it changed.
    fn execute(
        &mut self,
        sql: &str,
        args: Vec<Value>,
    ) -> impl Future<Output = Result<u64, DbError>> + Send;

    /// Commits a transaction (nothing for a plain connection).
    fn commit(self) -> impl Future<Output = Result<(), DbError>> + Send;

    /// The first row a statement answers, if any.
    fn fetch_optional(
        &mut self,
        sql: &str,
        args: Vec<Value>,
    ) -> impl Future<Output = Result<Option<Self::Row>, DbError>> + Send
    where
        Self: Sized,
    {
        async move { Ok(self.fetch_all(sql, args).await?.into_iter().next()) }
    }
}

/// One of the store's databases.
pub(crate) trait Backend: Send + Sync {
    /// Its sessions.
    type Session<'a>: Session
    where
        Self: 'a;

    /// Its statements.
    fn statements(&self) -> &'static Statements;

    /// A session for reads.
    fn read(&self) -> impl Future<Output = Result<Self::Session<'_>, DbError>> + Send;

    /// A session for one write statement, committed as it runs.
    fn write_one(&self) -> impl Future<Output = Result<Self::Session<'_>, DbError>> + Send;

    /// A transaction.
    fn begin(&self) -> impl Future<Output = Result<Self::Session<'_>, DbError>> + Send;

    /// Work was queued or became due: wake this process's idle workers where the database cannot
    /// (PostgreSQL's trigger notifies every process itself).
    fn queued(&self) {}
}

/// Binds a [`Value`] to a query the same way on every driver, but for times and JSON, whose column
/// types differ: `$time` and `$json` bind those.
macro_rules! bind_value {
    ($query:ident, $value:expr, time($t:ident) => $time:expr, json($j:ident) => $json:expr $(,)?) => {
        match $value {
            Value::Bool(b) => $query.bind(b),
            Value::Int(n) => $query.bind(n),
            Value::Secs(s) => $query.bind(s),
            Value::Text(t) => $query.bind(t),
            Value::Uuid(u) => $query.bind(u),
            Value::Time($t) => $time,
            Value::Json($j) => $json,
        }
    };
}
pub(crate) use bind_value;

/// A database sqlx drives, as the store uses it: how a [`Value`] is bound, and its statements.
pub(crate) trait Driver: Database {
    /// Binds the next parameter.
    fn bind(
        query: Query<'_, Self, Self::Arguments>,
        value: Value,
    ) -> Query<'_, Self, Self::Arguments>;

    /// The statements in this database's dialect.
    fn statements() -> &'static Statements;

    /// The rows a statement changed.
    fn rows_affected(done: &Self::QueryResult) -> u64;

    /// The statement that opens a write transaction.
    const BEGIN: &'static str;

    /// The statement that makes a session's "now" the time given ($1, RFC 3339), where the
    /// dialect reads it from the session (for a manual clock).
    const SET_NOW: Option<&'static str> = None;

    /// The text to run for a statement, at time `now` (where a dialect fills in the time as it
    /// runs).
    fn prepare(sql: &str, now: DateTime<Utc>) -> Cow<'_, str> {
        let _ = now;
        Cow::Borrowed(sql)
    }
}

/// The pools of one database: readers, the writer (the same pool where there is no single
/// writer), and the in-process wake-up of idle workers where the database has no notifications.
#[derive(Debug)]
pub(crate) struct Pools<DB: Database> {
    /// Where reads run.
    pub reader: Pool<DB>,
    /// Where writes run.
    pub writer: Pool<DB>,
    /// Woken when work is queued, if the database does not notify.
    pub wake: Option<Arc<Notify>>,
    /// What "now" is in statements.
    pub clock: Clock,
    /// The connection the reads that run one at a time are made on (see [`Pools::fetch_kept`]).
    pub kept: Arc<Kept<DB>>,
}

impl<DB: Database> Clone for Pools<DB> {
    fn clone(&self) -> Self {
        Self {
            reader: self.reader.clone(),
            writer: self.writer.clone(),
            wake: self.wake.clone(),
            clock: self.clock.clone(),
            kept: self.kept.clone(),
        }
    }
}

/// A reader's connection kept between the reads that run one at a time (the shared reads of
/// lists' revisions: `service/rounds.rs` runs one at a time). A connection kept skips what the
/// pool does on each acquire and release of one — a round trip to the database each, to check
/// that it is alive — which on PostgreSQL cost more than the read itself.
pub(crate) struct Kept<DB: Database>(tokio::sync::Mutex<Option<Pooled<DB>>>);

impl<DB: Database> Default for Kept<DB> {
    fn default() -> Self {
        Self(tokio::sync::Mutex::new(None))
    }
}

impl<DB: Database> std::fmt::Debug for Kept<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kept")
    }
}

/// A pooled connection, in a transaction or not. A connection that failed a statement, or is
/// dropped in the middle of a transaction (an early return, a cancelled request), never goes back
/// to the pool as it is: a transaction left open is rolled back first, and a connection that
/// failed, or was dropped while a statement was on its way, is closed, so that the pool opens a
/// fresh one. (SQLite may end a transaction by itself
/// on a full disk; a connection whose idea of its transaction no longer matches the database's
/// would commit nothing it was asked to.)
pub(crate) struct Pooled<DB: Database> {
    conn: Option<PoolConnection<DB>>,
    /// What "now" is in its statements.
    clock: Clock,
    /// Rolls back a transaction left open, off the caller's path.
    rollback: fn(PoolConnection<DB>) -> BoxFuture<'static, ()>,
    /// A transaction is open on it.
    in_transaction: bool,
    /// A statement failed on it.
    failed: bool,
    /// A statement is on its way (true after the caller stopped waiting for it).
    in_flight: bool,
}

impl<DB: Database> Pooled<DB> {
    fn new(
        conn: PoolConnection<DB>,
        clock: Clock,
        rollback: fn(PoolConnection<DB>) -> BoxFuture<'static, ()>,
    ) -> Self {
        Self {
            conn: Some(conn),
            clock,
            rollback,
            in_transaction: false,
            failed: false,
            in_flight: false,
        }
    }

    /// The connection, for one statement, on its way until [`Self::noted`] hears how it went.
    fn connection(&mut self) -> &mut DB::Connection {
        self.in_flight = true;
        self.conn
            .as_mut()
            .expect("a session holds its connection until dropped")
    }

    /// How the statement went: a failure closes the connection rather than reuse it.
    fn noted<T>(&mut self, result: Result<T, sqlx::Error>) -> Result<T, DbError> {
        self.in_flight = false;
        self.failed |= result.is_err();
        Ok(result?)
    }
}

impl<DB: Database> Drop for Pooled<DB> {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        if self.failed || self.in_flight {
            conn.close_on_drop();
        } else if self.in_transaction {
            // Rolled back off the caller's path; closed instead if even that fails.
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => drop(runtime.spawn((self.rollback)(conn))),
                Err(_) => conn.close_on_drop(),
            }
        }
    }
}

/// Rolls back the transaction open on `conn`, then lets it go back to the pool; closes it
/// instead when the rollback fails.
fn roll_back<DB>(conn: PoolConnection<DB>) -> BoxFuture<'static, ()>
where
    DB: Driver,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    Box::pin(async move {
        let mut conn = conn;
        if sqlx::raw_sql("rollback").execute(&mut *conn).await.is_err() {
            conn.close_on_drop();
        }
    })
}

fn bound<DB: Driver>(
    sql: &str,
    args: Vec<Value>,
    now: DateTime<Utc>,
) -> Query<'_, DB, DB::Arguments> {
    let query = match DB::prepare(sql, now) {
        Cow::Borrowed(sql) => sqlx::query(sqlx::AssertSqlSafe(sql)),
        Cow::Owned(sql) => sqlx::query(sqlx::AssertSqlSafe(sql)),
    };
    args.into_iter().fold(query, DB::bind)
}

impl<DB> Session for Pooled<DB>
where
    DB: Driver,
    DB::Row: Row,
    DB::Arguments: sqlx::IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    type Row = DB::Row;

    async fn fetch_all(&mut self, sql: &str, args: Vec<Value>) -> Result<Vec<DB::Row>, DbError> {
        let now = self.clock.now();
        let result = bound::<DB>(sql, args, now)
            .fetch_all(self.connection())
            .await;
        self.noted(result)
    }

    async fn execute(&mut self, sql: &str, args: Vec<Value>) -> Result<u64, DbError> {
        let now = self.clock.now();
        let result = bound::<DB>(sql, args, now).execute(self.connection()).await;
        Ok(DB::rows_affected(&self.noted(result)?))
    }

    async fn commit(mut self) -> Result<(), DbError> {
        if !self.in_transaction {
            return Ok(());
        }
        let result = sqlx::raw_sql("commit").execute(self.connection()).await;
        self.noted(result)?;
        self.in_transaction = false;
        Ok(())
    }
}

impl<DB> Pools<DB>
where
    DB: Driver,
    DB::Row: Row,
    DB::Arguments: sqlx::IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    /// A session on a connection of `pool`, its "now" set where a manual clock stands.
    async fn session(&self, pool: &Pool<DB>) -> Result<Pooled<DB>, DbError> {
        let mut session = Pooled::new(pool.acquire().await?, self.clock.clone(), roll_back::<DB>);
        if let (Some(set), Some(at)) = (DB::SET_NOW, self.clock.frozen()) {
            session
                .execute(set, vec![Value::Text(Some(at.to_rfc3339()))])
                .await?;
        }
        Ok(session)
    }

    /// Runs a read that names no time on the kept connection, one such read at a time: taken
    /// from the readers when none is kept; when a kept one fails (the database ended it since),
    /// the read is made once more on a fresh one — a read is safe to repeat.
    pub(crate) async fn fetch_kept(
        &self,
        sql: &str,
        args: Vec<Value>,
    ) -> Result<Vec<DB::Row>, DbError> {
        let mut kept = self.kept.0.lock().await;
        if let Some(mut session) = kept.take()
            && let Ok(rows) = session.fetch_all(sql, args.clone()).await
        {
            *kept = Some(session);
            return Ok(rows);
        }
        let mut session = self.read().await?;
        let rows = session.fetch_all(sql, args).await?;
        *kept = Some(session);
        Ok(rows)
    }
}

impl<DB> Backend for Pools<DB>
where
    DB: Driver,
    DB::Row: Row,
    DB::Arguments: sqlx::IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    type Session<'a> = Pooled<DB>;

    fn statements(&self) -> &'static Statements {
        DB::statements()
    }

    async fn read(&self) -> Result<Pooled<DB>, DbError> {
        self.session(&self.reader).await
    }

    async fn write_one(&self) -> Result<Pooled<DB>, DbError> {
        self.session(&self.writer).await
    }

    async fn begin(&self) -> Result<Pooled<DB>, DbError> {
        let mut session = self.session(&self.writer).await?;
        let result = sqlx::raw_sql(DB::BEGIN).execute(session.connection()).await;
        session.noted(result)?;
        session.in_transaction = true;
        Ok(session)
    }

    fn queued(&self) {
        if let Some(wake) = &self.wake {
            wake.notify_waiters();
        }
    }
}

//! The contract between the store's logic and its two backends, and every SQL statement.
//!
//! `lists.rs` and `queue.rs` hold the logic once, generic over a [`Backend`]; `postgres.rs` and
//! `sqlite.rs` each say how to open a session, bind a [`Value`] and read a column. The statements
//! are written once, in [`Statements::new`], with the few fragments where the dialects differ
//! (what "now" is, an interval, row locks) taken from a [`Dialect`].

use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::pool::PoolConnection;
use sqlx::query::Query;
use sqlx::{Database, Pool, Transaction};
use tokio::sync::Notify;
use uuid::Uuid;

use super::DbError;

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

    /// The text to run for a statement (where a dialect fills in something as it runs).
    fn prepare(sql: &str) -> Cow<'_, str> {
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
}

impl<DB: Database> Clone for Pools<DB> {
    fn clone(&self) -> Self {
        Self {
            reader: self.reader.clone(),
            writer: self.writer.clone(),
            wake: self.wake.clone(),
        }
    }
}

/// A pooled connection, or a transaction on one.
pub(crate) enum Pooled<DB: Database> {
    /// Statements commit as they run.
    Connection(PoolConnection<DB>),
    /// Statements commit together, or not at all.
    Transaction(Transaction<'static, DB>),
}

impl<DB: Database> Pooled<DB> {
    fn connection(&mut self) -> &mut DB::Connection {
        match self {
            Self::Connection(c) => c,
            Self::Transaction(t) => t,
        }
    }
}

fn bound<DB: Driver>(sql: &str, args: Vec<Value>) -> Query<'_, DB, DB::Arguments> {
    let query = match DB::prepare(sql) {
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
        Ok(bound::<DB>(sql, args).fetch_all(self.connection()).await?)
    }

    async fn execute(&mut self, sql: &str, args: Vec<Value>) -> Result<u64, DbError> {
        let done = bound::<DB>(sql, args).execute(self.connection()).await?;
        Ok(DB::rows_affected(&done))
    }

    async fn commit(self) -> Result<(), DbError> {
        match self {
            Self::Connection(_) => Ok(()),
            Self::Transaction(t) => Ok(t.commit().await?),
        }
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
        Ok(Pooled::Connection(self.reader.acquire().await?))
    }

    async fn write_one(&self) -> Result<Pooled<DB>, DbError> {
        Ok(Pooled::Connection(self.writer.acquire().await?))
    }

    async fn begin(&self) -> Result<Pooled<DB>, DbError> {
        Ok(Pooled::Transaction(self.writer.begin().await?))
    }

    fn queued(&self) {
        if let Some(wake) = &self.wake {
            wake.notify_waiters();
        }
    }
}

/// Where the dialects differ.
pub(crate) struct Dialect {
    /// The current time as an expression of the column type.
    pub now: &'static str,
    /// A new list's `created_at`: the current time, strictly after every list's where the clock
    /// is too coarse to order lists written in one millisecond.
    pub created_at: &'static str,
    /// The current time plus a parameter holding seconds (`{}` is the parameter).
    pub after_secs: &'static str,
    /// The larger of two times (`greatest` or `max`).
    pub greatest: &'static str,
    /// Locks the rows a select reads until the transaction ends (empty where there is one writer).
    pub for_update: &'static str,
    /// Skips rows other claims hold (empty where there is one writer).
    pub skip_locked: &'static str,
    /// The collation that compares text byte by byte, where it must be named.
    pub bytewise: &'static str,
    /// A list's entries as a JSON array, ordered (`l` is the list).
    pub entries_json: &'static str,
    /// Serialises the first uses of one idempotency key ($1) in a transaction, if needed.
    pub key_lock: Option<&'static str>,
    /// A list and its push job inserted by one statement, answering the list, if the dialect can.
    pub insert_with_job: bool,
}

/// Every statement of the store, in one dialect.
pub(crate) struct Statements {
    /// Lists: write, read, page, cancel, retry.
    pub lists: ListStatements,
    /// The queue: claim, lease, record.
    pub queue: QueueStatements,
}

/// The statements of `lists.rs`.
pub(crate) struct ListStatements {
    pub get_list: String,
    pub page_select: String,
    pub bytewise: &'static str,
    pub insert_list: String,
    pub insert_list_with_job: Option<String>,
    pub key_lock: Option<String>,
    pub find_key: String,
    pub cancel_find: String,
    pub cancel_job: String,
    pub cancel_list: String,
    pub retry_find: String,
    pub retry_job: String,
    pub retry_list: String,
}

/// The statements of `queue.rs`.
pub(crate) struct QueueStatements {
    pub insert_job: String,
    pub claim_job: String,
    pub claim_list_running: String,
    pub claim_list_read: String,
    pub extend_lease: String,
    pub reschedule: String,
    pub finish_job: String,
    pub delete_entries: String,
    pub insert_entries_head: String,
    pub succeed_list: String,
    pub fail_list: String,
    pub callback_pending: String,
    pub callback_list: String,
    pub queue_depth: String,
    pub next_due: String,
}

/// The columns of a list read, with its push job's attempts and its entries.
const LIST_COLUMNS: &str = "l.list_id, l.status, l.target, l.tags, l.output_type, \
    l.ignore_missing, l.spec_text, l.spec_format, l.callback_url, l.digest, l.media_type, l.size, \
    l.error_code, l.error_message, l.callback_status, l.callback_attempts, l.callback_error, \
    l.created_at, l.started_at, l.finished_at, l.operation, l.trust_platforms, coalesce(j.attempt, 0) as attempts";

/// Where a list read reads from.
const LIST_FROM: &str = "from list l left join job j on j.list_id = l.list_id and j.kind = 'push'";

/// The columns an `insert into list` writes, in parameter order from $1 ($14: the push job's
/// attempts, where one statement writes both).
const INSERT_COLUMNS: &str = "list_id, target, tags, output_type, ignore_missing, spec, \
    spec_text, spec_format, callback_url, idempotency_key, request_hash, operation, \
    trust_platforms, created_at, updated_at";

/// The columns of `list_entry` a push writes, in parameter order.
pub(crate) const ENTRY_COLUMNS: usize = 9;

impl Statements {
    /// The statements in dialect `d`.
    pub(crate) fn new(d: &Dialect) -> Self {
        Self {
            lists: ListStatements::new(d),
            queue: QueueStatements::new(d),
        }
    }
}

impl ListStatements {
    fn new(d: &Dialect) -> Self {
        let now = d.now;
        let select = format!("select {LIST_COLUMNS}, {} as entries", d.entries_json);
        let values = format!(
            "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, {}, {now}",
            d.created_at
        );
        Self {
            get_list: format!("{select} {LIST_FROM} where l.list_id = $1"),
            page_select: format!("{select} {LIST_FROM}"),
            bytewise: d.bytewise,
            insert_list: format!("insert into list ({INSERT_COLUMNS}) values ({values})"),
            insert_list_with_job: d.insert_with_job.then(|| {
                format!(
                    "with l as (insert into list ({INSERT_COLUMNS}) values ({values}) \
                     returning *), \
                     j as (insert into job (list_id, kind, max_attempts, run_at, created_at) \
                     select list_id, 'push', $14, {now}, {now} from l returning list_id, attempt) \
                     {select} from l left join j on j.list_id = l.list_id"
                )
            }),
            key_lock: d.key_lock.map(str::to_owned),
            find_key: "select list_id, request_hash from list where idempotency_key = $1"
                .to_owned(),
            cancel_find: format!(
                "select l.status, j.locked_until from list l \
                 join job j on j.list_id = l.list_id and j.kind = 'push' \
                 where l.list_id = $1 {}",
                d.for_update
            ),
            cancel_job: format!(
                "update job set state = 'canceled', finished_at = {now} \
                 where list_id = $1 and kind = 'push'"
            ),
            cancel_list: format!(
                "update list set status = 'canceled', finished_at = {now}, updated_at = {now} \
                 where list_id = $1"
            ),
            retry_find: format!(
                "select l.status from list l where l.list_id = $1 {}",
                d.for_update
            ),
            retry_job: format!(
                "update job set state = 'ready', run_at = {now}, locked_until = null, \
                 max_attempts = attempt + $2, finished_at = null \
                 where list_id = $1 and kind = 'push'"
            ),
            retry_list: format!(
                "update list set status = 'queued', error_code = null, error_message = null, \
                 finished_at = null, updated_at = {now} where list_id = $1"
            ),
        }
    }
}

impl QueueStatements {
    fn new(d: &Dialect) -> Self {
        let now = d.now;
        let lease = |param: &str| d.after_secs.replace("{}", param);
        Self {
            insert_job: format!(
                "insert into job (list_id, kind, max_attempts, run_at, created_at) \
                 values ($1, $2, $3, {now}, {now}) \
                 on conflict (list_id, kind) do update set state = 'ready', attempt = 0, \
                 max_attempts = excluded.max_attempts, run_at = excluded.run_at, \
                 locked_until = null, last_error = null, finished_at = null"
            ),
            claim_job: format!(
                "update job set attempt = attempt + 1, locked_until = {}, locked_by = $1 \
                 where job_id = (select job_id from job where state = 'ready' \
                   and run_at <= {now} and (locked_until is null or locked_until < {now}) \
                   order by run_at, job_id limit 1 {}) \
                 returning job_id, list_id, kind, attempt, max_attempts",
                lease("$2"),
                d.skip_locked
            ),
            claim_list_running: format!(
                "update list set status = 'running', started_at = coalesce(started_at, {now}), \
                 updated_at = {now} where list_id = $1 \
                 returning spec, output_type, ignore_missing, callback_url, operation, trust_platforms"
            ),
            claim_list_read:
                "select spec, output_type, ignore_missing, callback_url, operation, trust_platforms from list \
                 where list_id = $1"
                    .to_owned(),
            extend_lease: format!(
                "update job set locked_until = {} \
                 where job_id = $1 and attempt = $2 and state = 'ready'",
                lease("$3")
            ),
            reschedule: "update job set run_at = $3, locked_until = null, last_error = $4 \
                 where job_id = $1 and attempt = $2 and state = 'ready'"
                .to_owned(),
            finish_job: format!(
                "update job set state = $3, locked_until = null, finished_at = {now}, \
                 last_error = coalesce($4, last_error) \
                 where job_id = $1 and attempt = $2 and state = 'ready'"
            ),
            delete_entries: "delete from list_entry where list_id = $1".to_owned(),
            insert_entries_head: "insert into list_entry (list_id, position, image, digest, \
                 media_type, size, platform, annotations, attestation) values "
                .to_owned(),
            succeed_list: format!(
                "update list set status = 'succeeded', digest = $2, media_type = $3, size = $4, \
                 error_code = null, error_message = null, finished_at = {now}, updated_at = {now} \
                 where list_id = $1"
            ),
            fail_list: format!(
                "update list set status = $2, error_code = $3, error_message = $4, \
                 updated_at = {now}, finished_at = case when $2 = 'failed' then {now} else null end \
                 where list_id = $1"
            ),
            callback_pending: "update list set callback_status = 'pending' where list_id = $1"
                .to_owned(),
            callback_list: format!(
                "update list set callback_status = $2, callback_attempts = $3, \
                 callback_error = $4, updated_at = {now} where list_id = $1"
            ),
            queue_depth: "select kind, count(*) as n from job where state = 'ready' \
                 group by kind order by kind"
                .to_owned(),
            next_due: format!(
                "select min({}(run_at, coalesce(locked_until, run_at))) as due from job \
                 where state = 'ready'",
                d.greatest
            ),
        }
    }

    /// `insert into list_entry … values (…), (…)` for `rows` entries.
    pub(crate) fn insert_entries(&self, rows: usize) -> String {
        let mut sql = self.insert_entries_head.clone();
        for row in 0..rows {
            let first = row * ENTRY_COLUMNS + 1;
            let params: Vec<String> = (first..first + ENTRY_COLUMNS)
                .map(|n| format!("${n}"))
                .collect();
            if row > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            sql.push_str(&params.join(", "));
            sql.push(')');
        }
        sql
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_of_entries_numbers_its_parameters_row_by_row() {
        let d = Dialect {
            now: "now()",
            created_at: "now()",
            after_secs: "now() + {}",
            greatest: "greatest",
            bytewise: "",
            for_update: "",
            skip_locked: "",
            entries_json: "'[]'",
            key_lock: None,
            insert_with_job: false,
        };
        let sql = Statements::new(&d).queue.insert_entries(2);
        assert!(
            sql.ends_with("values ($1, $2, $3, $4, $5, $6, $7, $8, $9), ($10, $11, $12, $13, $14, $15, $16, $17, $18)"),
            "{sql}"
        );
    }
}

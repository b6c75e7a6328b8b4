//! A long history, written straight into the service's own schema (`migrations/postgres`,
//! `migrations/sqlite`) with one set-based statement per table, so 200,000 lists take seconds:
//! `generate_series` on PostgreSQL, a recursive CTE on SQLite, each in one transaction.
//!
//! List `i` of the measured repository (counting from 0 over the whole history) is a pushed
//! (`succeeded`) two-entry list with its done push job, target `<host>/hist/app:v<i mod TAGS>`,
//! created `2i` seconds after a start a month ago, so later lists are newer. Every
//! [`NEIGHBOUR_EVERY`]th list also has a neighbour created a second later, alternately in
//! `hist/app/nested` and `hist/app0`: repositories whose names start alike, which the filter must
//! leave out. At each size the measured repository holds exactly that many lists. Ids are
//! time-ordered, as the service makes them (UUIDv7: the creation time's milliseconds first).

use std::time::{Duration, Instant};

use sqlx::AssertSqlSafe;
use sqlx::Connection as _;

use crate::store::{BenchStore, Kind};

/// Tags of the measured repository.
pub const TAGS: u64 = 20;
/// Every `NEIGHBOUR_EVERY`th list of the measured repository has a neighbour.
pub const NEIGHBOUR_EVERY: u64 = 10;

/// The repository the filter asks for: `<host>/hist/app`.
pub fn measured_repository(host: &str) -> String {
    format!("{host}/hist/app")
}

/// The history written so far into one store.
pub struct History {
    /// The registry host the lists name.
    host: String,
    /// List 0's creation time, in seconds since the epoch: 30 days before the bench started.
    start: i64,
    /// Lists written so far.
    pub len: u64,
}

/// The schema, as the service itself would migrate it (its embedded migrators).
pub async fn migrate(store: &BenchStore) {
    match store.kind {
        Kind::Postgres => manifold::store::MIGRATOR
            .run(&mut store.pg().await)
            .await
            .expect("migrate PostgreSQL"),
        Kind::Sqlite => manifold::store::SQLITE_MIGRATOR
            .run(&mut store.sqlite().await)
            .await
            .expect("migrate SQLite"),
    }
}

/// The lists statement's parts that differ between the measured repository and its neighbours,
/// in SQL both stores read alike (`host` is the registry host's parameter): the target of list
/// `i`, which `i` have one, and its second (`2i` or `2i + 1`).
fn shapes(host: &str) -> [(String, String, &'static str); 2] {
    [
        (
            format!("{host} || '/hist/app:v' || (i % {TAGS})"),
            "true".to_owned(),
            "2 * i",
        ),
        (
            format!(
                "{host} || (case when i / {NEIGHBOUR_EVERY} % 2 = 0 then '/hist/app/nested' \
                 else '/hist/app0' end) || ':v' || (i % {TAGS})"
            ),
            format!("i % {NEIGHBOUR_EVERY} = 0"),
            "2 * i + 1",
        ),
    ]
}

/// PostgreSQL: `$1`..`$2` (exclusive) the range of `i`, `$3` the registry host, `$4` the start.
fn pg_statements() -> Vec<String> {
    let spec = "json_build_object('image', target, 'manifests', json_build_array( \
        json_build_object('image', $3 || '/demo-s390x:v0.2', \
            'platform', json_build_object('architecture', 's390x', 'os', 'linux')), \
        json_build_object('image', $3 || '/demo-amd64:v0.2', \
            'platform', json_build_object('architecture', 'amd64', 'os', 'linux'))))::text";
    let lists = shapes("$3").map(|(target, which, second)| {
        format!(
            "insert into list (list_id, status, target, tags, options, operation, spec, \
                 spec_text, spec_format, request_hash, digest, media_type, size, created_at, \
                 started_at, finished_at, updated_at) \
             select (lpad(to_hex((extract(epoch from at) * 1000)::bigint), 12, '0') \
                     || substr(md5(random()::text), 1, 20))::uuid, \
                 'succeeded', target, '[]', '{{\"type\": \"auto\"}}', 'push', spec::jsonb, \
                 spec, 'json', lpad(to_hex(s), 64, '0'), \
                 'sha256:' || lpad(to_hex(s), 64, '0'), \
                 'application/vnd.oci.image.index.v1+json', 743, at, at + interval '40 ms', \
                 at + interval '90 ms', at + interval '90 ms' \
             from (select s, target, {spec} as spec, at \
                   from (select {second} as s, {target} as target, \
                             to_timestamp($4 + {second}) as at \
                         from generate_series($1::bigint, $2::bigint - 1) as i \
                         where {which}) t) u"
        )
    });
    let range = "l.created_at >= to_timestamp($4 + 2 * $1) \
        and l.created_at < to_timestamp($4 + 2 * $2)";
    let entries = format!(
        "insert into list_entry (list_id, position, image, digest, media_type, size, platform, \
             annotations, attestation) \
         select l.list_id, p.position, $3 || '/demo-' || p.arch || ':v0.2', \
             'sha256:' || p.position || substr(l.digest, 9), \
             'application/vnd.oci.image.manifest.v1+json', 1234, \
             jsonb_build_object('architecture', p.arch, 'os', 'linux'), '{{}}', false \
         from list l cross join (values (0, 's390x'), (1, 'amd64')) as p(position, arch) \
         where {range}"
    );
    let jobs = format!(
        "insert into job (list_id, kind, state, attempt, max_attempts, run_at, created_at, \
             finished_at) \
         select l.list_id, 'push', 'done', 1, 5, l.created_at, l.created_at, l.finished_at \
         from list l where {range}"
    );
    lists.into_iter().chain([entries, jobs]).collect()
}

/// SQLite: `?1`..`?2` (exclusive) the range of `i`, `?3` the registry host, `?4` the start;
/// times in microseconds; the list of second `s` is submission `s + 1` (PostgreSQL numbers them
/// itself).
fn sqlite_statements() -> Vec<String> {
    let spec = "json_object('image', target, 'manifests', json_array( \
        json_object('image', ?3 || '/demo-s390x:v0.2', \
            'platform', json_object('architecture', 's390x', 'os', 'linux')), \
        json_object('image', ?3 || '/demo-amd64:v0.2', \
            'platform', json_object('architecture', 'amd64', 'os', 'linux'))))";
    // `||` makes text of the id's two halves: cast back to the blob the service writes and looks
    // lists up by.
    let lists = shapes("?3").map(|(target, which, second)| {
        format!(
            "with recursive n(i) as (select ?1 where ?1 < ?2 \
                                     union all select i + 1 from n where i + 1 < ?2) \
             insert into list (list_id, status, target, tags, options, operation, spec, \
                 spec_text, spec_format, request_hash, digest, media_type, size, created_at, \
                 started_at, finished_at, updated_at, seq) \
             select cast(unhex(printf('%012x', at / 1000)) || randomblob(10) as blob), 'succeeded', target, '[]', '{{\"type\": \"auto\"}}', \
                 'push', spec, spec, 'json', printf('%064x', s), \
                 'sha256:' || printf('%064x', s), 'application/vnd.oci.image.index.v1+json', \
                 743, at, at + 40000, at + 90000, at + 90000, s + 1 \
             from (select s, target, {spec} as spec, at \
                   from (select {second} as s, {target} as target, \
                             (?4 + {second}) * 1000000 as at \
                         from n where {which}) t) u"
        )
    });
    let range = "l.created_at >= (?4 + 2 * ?1) * 1000000 \
        and l.created_at < (?4 + 2 * ?2) * 1000000";
    let entries = format!(
        "insert into list_entry (list_id, position, image, digest, media_type, size, platform, \
             annotations, attestation) \
         select l.list_id, p.position, ?3 || '/demo-' || p.arch || ':v0.2', \
             'sha256:' || p.position || substr(l.digest, 9), \
             'application/vnd.oci.image.manifest.v1+json', 1234, \
             json_object('architecture', p.arch, 'os', 'linux'), '{{}}', 0 \
         from list l cross join (select 0 as position, 's390x' as arch \
                                 union all select 1, 'amd64') p \
         where {range}"
    );
    let jobs = format!(
        "insert into job (list_id, kind, state, attempt, max_attempts, run_at, created_at, \
             finished_at) \
         select l.list_id, 'push', 'done', 1, 5, l.created_at, l.created_at, l.finished_at \
         from list l where {range}"
    );
    lists.into_iter().chain([entries, jobs]).collect()
}

impl History {
    /// No lists yet, pushed to registry `host`.
    pub fn new(host: &str) -> Self {
        Self {
            host: host.to_owned(),
            start: chrono::Utc::now().timestamp() - 30 * 86_400,
            len: 0,
        }
    }

    /// Adds lists until the measured repository holds `to`; the time it took. PostgreSQL is then
    /// vacuumed and analysed, as autovacuum would soon do (rather than during the measurement);
    /// SQLite, which gathers no statistics unless asked (and the service never asks), is left as
    /// it is.
    pub async fn grow(&mut self, store: &BenchStore, to: u64) -> Duration {
        let started = Instant::now();
        let statements = match store.kind {
            Kind::Postgres => pg_statements(),
            Kind::Sqlite => sqlite_statements(),
        };
        let params = (self.len as i64, to as i64, self.host.as_str(), self.start);
        match store.kind {
            Kind::Postgres => {
                let mut conn = store.pg().await;
                let mut tx = conn.begin().await.expect("a transaction");
                for sql in statements {
                    bind(sqlx::query(AssertSqlSafe(sql)), params)
                        .execute(&mut *tx)
                        .await
                        .expect("insert the history");
                }
                tx.commit().await.expect("commit the history");
                sqlx::query("vacuum analyze list, list_entry, job")
                    .execute(&mut conn)
                    .await
                    .expect("analyze");
            }
            Kind::Sqlite => {
                let mut conn = store.sqlite().await;
                let mut tx = conn.begin().await.expect("a transaction");
                for sql in statements {
                    bind(sqlx::query(AssertSqlSafe(sql)), params)
                        .execute(&mut *tx)
                        .await
                        .expect("insert the history");
                }
                tx.commit().await.expect("commit the history");
                conn.close().await.expect("close the SQLite file");
            }
        }
        self.len = to;
        started.elapsed()
    }
}

/// Binds (from, to, host, start) as the statements' parameters 1 to 4.
fn bind<'q, DB>(
    query: sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>,
    (from, to, host, start): (i64, i64, &'q str, i64),
) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>
where
    DB: sqlx::Database,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    query.bind(from).bind(to).bind(host).bind(start)
}

/// How many lists the store holds, and how many of them the measured repository (`host`).
pub async fn count(store: &BenchStore, host: &str) -> (i64, i64) {
    let repository = measured_repository(host);
    let sql = sqlx::AssertSqlSafe(format!(
        "select count(*), count(*) filter (where target like '{repository}:%') from list"
    ));
    match store.kind {
        Kind::Postgres => sqlx::query_as(sql).fetch_one(&mut store.pg().await).await,
        Kind::Sqlite => {
            sqlx::query_as(sql)
                .fetch_one(&mut store.sqlite().await)
                .await
        }
    }
    .expect("count the lists")
}

//! An upgrade: the current binary started on a database that the previous release's schema holds,
//! with lists in every state written the way that release wrote them (its stored formats, taken
//! from its rows, are literal here). The migrations convert what they must; every list reads back
//! as it was; every list that was waiting, or running when the old process stopped, ends in a
//! final state; a pending callback is delivered.

use manifold_testkit::TestRegistry;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::cli::{manifold, seed_demo};
use crate::support::demo::demo_spec;
use crate::support::on_both_stores;
use crate::support::serve::Serve;
use crate::support::stores::{Db, DbGuard, run_sql};

/// The last migration of the previous release.
const PREVIOUS: i64 = 20261202000004;

/// How the two stores spell a value in SQL.
#[derive(Clone, Copy)]
struct Sql(Db);

impl Sql {
    fn uuid(self, id: &uuid::Uuid) -> String {
        match self.0 {
            Db::Postgres => format!("'{id}'"),
            Db::Sqlite => format!("X'{}'", id.simple()),
        }
    }

    fn opt_uuid(self, id: Option<&uuid::Uuid>) -> String {
        id.map_or("null".to_owned(), |id| self.uuid(id))
    }

    /// Minutes before the test ran (negative: after).
    fn ago(self, minutes: i64) -> String {
        let t = chrono::Utc::now() - chrono::Duration::minutes(minutes);
        match self.0 {
            Db::Postgres => format!("'{}'", t.to_rfc3339()),
            Db::Sqlite => t.timestamp_micros().to_string(),
        }
    }

    fn bool(self, b: bool) -> &'static str {
        match (self.0, b) {
            (Db::Postgres, true) => "true",
            (Db::Postgres, false) => "false",
            (Db::Sqlite, true) => "1",
            (Db::Sqlite, false) => "0",
        }
    }
}

/// Text as an SQL string literal.
fn text(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// One list as the previous release stored it, with its push job.
struct OldList {
    id: uuid::Uuid,
    seq: i64,
    status: &'static str,
    operation: &'static str,
    target: String,
    tags: Value,
    spec: Value,
    spec_text: String,
    /// `digest`, `media_type`, `size`, entries (image, digest, media type, size, platform).
    pushed: Option<(String, String, i64, Vec<Value>)>,
    error: Option<(&'static str, &'static str)>,
    superseded_by: Option<uuid::Uuid>,
    /// The push job: state, attempt, lease end (minutes ago).
    job: (&'static str, i64, Option<i64>),
    callback: Option<String>,
    /// `output_type`, and `ignore_missing`, `trust_platforms`, `referrers` all at once.
    flags: (&'static str, bool),
}

impl OldList {
    fn new(seq: i64, status: &'static str, operation: &'static str, target: &str) -> Self {
        Self {
            id: uuid::Uuid::new_v4(),
            seq,
            status,
            operation,
            target: target.to_owned(),
            tags: json!([]),
            spec: json!({}),
            spec_text: String::new(),
            pushed: None,
            error: None,
            superseded_by: None,
            job: ("ready", 0, None),
            callback: None,
            flags: ("auto", false),
        }
    }

    /// A push or an append of `spec` (the API's JSON), stored as that release stored it.
    fn spec(mut self, spec: &Value) -> Self {
        let mut stored = spec.clone();
        stored["tags"] = stored.get("tags").cloned().unwrap_or(json!([]));
        stored["annotations"] = json!({});
        for m in stored["manifests"].as_array_mut().unwrap() {
            m["annotations"] = json!({});
        }
        self.tags = stored["tags"].clone();
        self.spec_text = spec.to_string();
        self.spec = stored;
        self
    }

    fn insert(&self, sql: Sql) -> String {
        let (digest, media_type, size) = match &self.pushed {
            Some((d, m, s, _)) => (text(d), text(m), s.to_string()),
            None => ("null".into(), "null".into(), "null".into()),
        };
        let (code, message) = self
            .error
            .map_or(("null".into(), "null".into()), |(c, m)| (text(c), text(m)));
        let succeeded = self.status == "succeeded";
        let (drift, next) = if succeeded {
            ("'in_sync'".to_owned(), sql.ago(-60))
        } else {
            ("null".to_owned(), "null".to_owned())
        };
        let finished = ["succeeded", "failed", "canceled", "superseded"].contains(&self.status);
        let callback_status = if self.callback.is_some() {
            "'pending'"
        } else {
            "null"
        };
        let mut out = format!(
            "insert into list (list_id, status, target, tags, output_type, ignore_missing, spec, \
             spec_text, spec_format, callback_url, request_hash, digest, media_type, size, \
             error_code, error_message, callback_status, callback_attempts, created_at, \
             started_at, finished_at, updated_at, operation, trust_platforms, seq, \
             superseded_by, follow, drift_status, drift_checked_at, drift_reasons, \
             drift_next_at, sources, callback_event, referrers) values ({id}, '{status}', \
             {target}, {tags}, '{output}', {on}, {spec}, {spec_text}, 'json', {callback}, \
             'old-{seq}', {digest}, {media_type}, {size}, {code}, {message}, {callback_status}, \
             0, {created}, {started}, {finished_at}, {created}, '{op}', {on}, {seq}, {superseded}, \
             {f}, {drift}, {checked}, {reasons}, {next}, {sources}, {event}, {on});\n",
            output = self.flags.0,
            on = sql.bool(self.flags.1),
            id = sql.uuid(&self.id),
            status = self.status,
            target = text(&self.target),
            tags = text(&self.tags.to_string()),
            f = sql.bool(false),
            spec = text(&self.spec.to_string()),
            spec_text = text(&self.spec_text),
            callback = self.callback.as_deref().map_or("null".into(), text),
            seq = self.seq,
            created = sql.ago(100 - self.seq),
            started = if self.job.1 > 0 {
                sql.ago(30)
            } else {
                "null".into()
            },
            finished_at = if finished { sql.ago(20) } else { "null".into() },
            op = self.operation,
            superseded = sql.opt_uuid(self.superseded_by.as_ref()),
            checked = if succeeded {
                sql.ago(10)
            } else {
                "null".into()
            },
            reasons = if succeeded { "'[]'" } else { "null" },
            sources = if succeeded { "'[]'" } else { "null" },
            event = if self.callback.is_some() {
                "'list.finished'"
            } else {
                "null"
            },
        );
        for (position, e) in self.pushed.iter().flat_map(|p| &p.3).enumerate() {
            out.push_str(&format!(
                "insert into list_entry (list_id, position, image, digest, media_type, size, \
                 platform, annotations, attestation) values ({}, {position}, {}, {}, {}, {}, {}, \
                 '{{}}', {});\n",
                sql.uuid(&self.id),
                text(e["image"].as_str().unwrap()),
                text(e["digest"].as_str().unwrap()),
                text(e["media_type"].as_str().unwrap()),
                e["size"],
                text(&e["platform"].to_string()),
                sql.bool(false),
            ));
        }
        let (state, attempt, lease) = self.job;
        out.push_str(&format!(
            "insert into job (list_id, kind, state, attempt, max_attempts, run_at, locked_until, \
             created_at, finished_at) values ({}, 'push', '{state}', {attempt}, 5, {}, {}, {}, {});\n",
            sql.uuid(&self.id),
            sql.ago(50),
            lease.map_or("null".into(), |m| sql.ago(m)),
            sql.ago(50),
            if state == "ready" { "null".into() } else { sql.ago(20) },
        ));
        if self.callback.is_some() {
            out.push_str(&format!(
                "insert into job (list_id, kind, state, attempt, max_attempts, run_at, \
                 created_at) values ({}, 'callback', 'ready', 0, 5, {}, {});\n",
                sql.uuid(&self.id),
                sql.ago(20),
                sql.ago(20),
            ));
        }
        out
    }
}

/// The migrations of the previous release: the current binary's, up to [`PREVIOUS`].
#[derive(Debug)]
struct Previous(Vec<sqlx::migrate::Migration>);

impl<'s> sqlx::migrate::MigrationSource<'s> for Previous {
    fn resolve(
        self,
    ) -> futures::future::BoxFuture<
        's,
        Result<Vec<sqlx::migrate::Migration>, sqlx::error::BoxDynError>,
    > {
        Box::pin(async move { Ok(self.0) })
    }
}

/// Creates the previous release's schema in the database at `url`.
async fn previous_schema(db: Db, url: &str) {
    let all = match db {
        Db::Postgres => &manifold::store::MIGRATOR,
        Db::Sqlite => &manifold::store::SQLITE_MIGRATOR,
    };
    let old = all
        .iter()
        .filter(|m| m.version <= PREVIOUS)
        .cloned()
        .collect();
    let previous = sqlx::migrate::Migrator::new(Previous(old)).await.unwrap();
    match db {
        Db::Postgres => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            previous.run(&pool).await.unwrap();
            pool.close().await;
        }
        Db::Sqlite => {
            let options = url
                .parse::<sqlx::sqlite::SqliteConnectOptions>()
                .unwrap()
                .create_if_missing(true);
            let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
            previous.run(&pool).await.unwrap();
            pool.close().await;
        }
    }
}

/// The lists the old process left: every state, every operation.
fn old_lists(host: &str, pushed: &Value, receiver: &str) -> Vec<OldList> {
    let v02 = demo_spec(host).json();
    let entries = pushed["entries"].as_array().unwrap().clone();
    let landed = (
        pushed["digest"].as_str().unwrap().to_owned(),
        pushed["media_type"].as_str().unwrap().to_owned(),
        pushed["size"].as_i64().unwrap(),
        entries,
    );
    let target = |tag: &str| format!("{host}/demo:{tag}");
    let mut succeeded = OldList::new(1, "succeeded", "push", &target("v0.2")).spec(&v02);
    succeeded.pushed = Some(landed);
    succeeded.job = ("done", 1, None);
    succeeded.callback = Some(format!("{receiver}/hook"));
    let mut failed = OldList::new(2, "failed", "push", &target("v0.1"))
        .spec(&demo_spec(host).target("demo:v0.1").json());
    failed.error = Some(("MANIFEST_UNKNOWN", "127.0.0.1: manifest unknown"));
    failed.job = ("failed", 5, None);
    let mut canceled = OldList::new(3, "canceled", "push", &target("v0.1"))
        .spec(&demo_spec(host).target("demo:v0.1").json());
    canceled.job = ("canceled", 0, None);
    canceled.flags = ("oci", true);
    let mut superseded = OldList::new(4, "superseded", "push", &target("v0.2")).spec(&v02);
    superseded.superseded_by = Some(succeeded.id);
    superseded.job = ("done", 1, None);
    let queued = OldList::new(5, "queued", "push", &target("v0.3"))
        .spec(&demo_spec(host).target("demo:v0.3").json());
    let mut running = OldList::new(6, "running", "push", &target("v0.4"))
        .spec(&demo_spec(host).target("demo:v0.4").json());
    // Its worker stopped with the old process; its lease ran out a minute ago.
    running.job = ("ready", 1, Some(1));
    let mut one = demo_spec(host).target("demo:v0.3").json();
    one["manifests"].as_array_mut().unwrap().truncate(1);
    let append = OldList::new(7, "queued", "append", &target("v0.3")).spec(&one);
    // (A queued append keeps appending: its options say so, converted from its operation.)
    let mut removal = OldList::new(8, "queued", "remove", &target("v0.2"));
    removal.spec = json!({"image": target("v0.2"),
        "platforms": [{"architecture": "s390x", "os": "linux"}], "digests": []});
    removal.spec_text = json!({"target": target("v0.2"), "platforms": ["linux/s390x"]}).to_string();
    let mut copy = OldList::new(9, "queued", "copy", &format!("{host}/prod:v0.2"));
    copy.spec = json!({"source": target("v0.2"), "image": format!("{host}/prod:v0.2"),
        "tags": ["stable"]});
    copy.tags = json!(["stable"]);
    copy.spec_text = json!({"source": target("v0.2"), "target": format!("{host}/prod:v0.2"),
        "tags": ["stable"]})
    .to_string();
    vec![
        succeeded, failed, canceled, superseded, queued, running, append, removal, copy,
    ]
}

async fn the_current_binary_takes_over_a_database_of_the_previous_release(db: Db) {
    let registry = TestRegistry::plain().await;
    seed_demo(&registry).await;
    let host = registry.host();
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&receiver)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let spec = demo_spec(&host).write(dir.path(), "demo.yaml");
    let pushed = manifold(&[
        "--plain-http",
        "push",
        "--json",
        "from-spec",
        spec.to_str().unwrap(),
    ])
    .await
    .ok();
    let pushed: Value = serde_json::from_str(&pushed.stdout).unwrap();
    let (_keep, url) = DbGuard::create(db).await;
    previous_schema(db, &url).await;
    let lists = old_lists(&host, &pushed, &receiver.uri());
    let sql = Sql(db);
    let mut fixture: String = lists.iter().map(|l| l.insert(sql)).collect();
    if db == Db::Postgres {
        fixture.push_str("select setval('list_seq', 10, false);");
    }
    run_sql(&url, &fixture).await;

    let serve = Serve::start_in(
        dir.path(),
        &[
            ("DATABASE_URL", url.as_str()),
            // One worker: the jobs run in the order the old process queued them.
            ("MANIFOLD_WORKERS", "1"),
            ("MANIFOLD_REGISTRIES", host.as_str()),
            ("MANIFOLD_CALLBACK_HOSTS", "127.0.0.1"),
        ],
    )
    .await;

    let [
        succeeded,
        failed,
        canceled,
        superseded,
        queued,
        running,
        append,
        removal,
        copy,
    ] = &lists[..]
    else {
        unreachable!()
    };
    let read = serve.get_json(&format!("/lists/{}", succeeded.id)).await;
    assert_eq!(read["digest"], pushed["digest"], "{read:#}");
    assert_eq!(read["type"], "auto");
    assert_eq!(read["trust_platforms"], false);
    assert_eq!(read["callback"]["url"], format!("{}/hook", receiver.uri()));
    assert_eq!(read["entries"], pushed["entries"], "{read:#}");
    assert_eq!(read["tags"], json!([]));
    let read = serve.get_json(&format!("/lists/{}", failed.id)).await;
    assert_eq!(read["status"], "failed");
    assert_eq!(read["error"]["code"], "MANIFEST_UNKNOWN");
    assert_eq!(read["attempts"], 5);
    let read = serve.get_json(&format!("/lists/{}", canceled.id)).await;
    assert_eq!(read["status"], "canceled");
    // Options kept one column each before are read back from the document they became.
    assert_eq!(read["type"], "oci", "{read:#}");
    for option in ["ignore_missing", "trust_platforms", "referrers"] {
        assert_eq!(read[option], true, "{option}: {read:#}");
    }
    let read = serve.get_json(&format!("/lists/{}", superseded.id)).await;
    assert_eq!(read["status"], "superseded");
    assert_eq!(read["superseded_by"], succeeded.id.to_string());
    for (list, status) in [
        (queued, "succeeded"),
        (running, "succeeded"),
        (append, "succeeded"),
    ] {
        let done = serve.wait_final(&list.id.to_string()).await;
        assert_eq!(done["status"], status, "{done:#}");
    }
    let removed = serve.wait_final(&removal.id.to_string()).await;
    assert_eq!(removed["status"], "succeeded", "{removed:#}");
    assert_eq!(
        removed["entries"].as_array().unwrap().len(),
        1,
        "{removed:#}"
    );
    let copied = serve.wait_final(&copy.id.to_string()).await;
    assert_eq!(copied["status"], "succeeded", "{copied:#}");
    assert_eq!(copied["tags"], json!(["stable"]));
    let delivered = serve
        .wait_for(&succeeded.id.to_string(), |l| {
            l["callback"]["status"] == "delivered"
        })
        .await;
    assert_eq!(delivered["callback"]["attempts"], 1);
    let page = serve.get_json("/lists?limit=50").await;
    assert_eq!(page["items"].as_array().unwrap().len(), lists.len());
    let repository = serve
        .get_json(&format!("/lists?target={host}/demo&limit=50"))
        .await;
    assert_eq!(repository["items"].as_array().unwrap().len(), 8);
}

on_both_stores!(the_current_binary_takes_over_a_database_of_the_previous_release);

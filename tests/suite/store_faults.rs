//! The store under faults, as they happen: SQLite on a disk that fills up and is freed again,
//! PostgreSQL turned read-only under a running service, retries, cancels and follows storming
//! busy workers, jobs whose stored submission cannot be read. Every acknowledged list must be
//! readable afterwards and end in a final state; no request may answer a 5xx other than the
//! store's `503 STORE_UNAVAILABLE`.

use std::collections::BTreeSet;
use std::time::Duration;

use manifold_testkit::TestRegistry;
use serde_json::Value;

use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::app::TestApp;
use crate::support::cli::seed_demo;
use crate::support::demo::demo_spec;
use crate::support::disk::SmallDisk;
use crate::support::on_both_stores;
use crate::support::serve::Serve;
use crate::support::stores::{Db, DbGuard, deadlocks, run_sql};
use crate::support::wait;

/// What `POST /lists` answered: an id, or the store's refusal.
enum Answer {
    Accepted(String),
    Unavailable,
}

/// `POST /lists`, which must answer 202 with an id or 503 `STORE_UNAVAILABLE` in the envelope.
async fn post(serve: &Serve, spec: &Value) -> Answer {
    let response = serve.post_json(spec).await;
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    match status {
        202 => Answer::Accepted(body["id"].as_str().unwrap().to_owned()),
        503 => {
            assert_eq!(body["error"]["code"], "STORE_UNAVAILABLE", "{body}");
            Answer::Unavailable
        }
        other => panic!("POST /lists answered {other}: {body}\n{}", serve.log()),
    }
}

/// The status `/readyz` answers.
async fn ready(serve: &Serve) -> u16 {
    serve.get("/readyz").await.status().as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_on_a_full_disk_refuses_with_503_loses_nothing_it_acknowledged_and_drains_once_freed()
 {
    let registry = TestRegistry::plain().await;
    seed_demo(&registry).await;
    let host = registry.host();
    let spec = demo_spec(&host).json();
    let disk = SmallDisk::mount(8);
    let work = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", disk.path().join("manifold.db").display());
    let serve = Serve::start_in(
        work.path(),
        &[
            ("DATABASE_URL", url.as_str()),
            ("MANIFOLD_WORKERS", "2"),
            ("MANIFOLD_REGISTRIES", host.as_str()),
        ],
    )
    .await;
    let mut accepted = BTreeSet::new();
    for _ in 0..5 {
        if let Answer::Accepted(id) = post(&serve, &spec).await {
            accepted.insert(id);
        }
    }
    assert_eq!(accepted.len(), 5, "{}", serve.log());

    // The disk fills up: every answer is a 202 that stored its list, or a 503.
    disk.fill();
    let mut refused = 0;
    for _ in 0..300 {
        match post(&serve, &spec).await {
            Answer::Accepted(id) => {
                accepted.insert(id);
            }
            Answer::Unavailable => refused += 1,
        }
    }
    assert!(refused > 0, "a full disk refused nothing:\n{}", serve.log());
    eprintln!(
        "disk full: {} of 300 posts stored (202), {refused} refused (503)",
        accepted.len() - 5
    );
    assert_eq!(ready(&serve).await, 503, "/readyz while the disk is full");

    // Space comes back: the service recovers by itself, without a restart.
    disk.free();
    let ready_again = || async { ready(&serve).await == 200 };
    wait::until("ready again", || serve.log(), ready_again).await;
    for _ in 0..5 {
        match post(&serve, &spec).await {
            Answer::Accepted(id) => {
                accepted.insert(id);
            }
            Answer::Unavailable => panic!("refused after space was freed:\n{}", serve.log()),
        }
    }

    // Nothing acknowledged is lost; everything drains.
    for id in &accepted {
        let list = serve.wait_final(id).await;
        assert!(
            matches!(list["status"].as_str(), Some("succeeded" | "superseded")),
            "{list:#}"
        );
    }
    eprintln!(
        "{} lists acknowledged in all: each read back, each drained",
        accepted.len()
    );
}

/// What the storm sends: a transition, a follow switch, or a read, at a list.
const STORM: [(&str, &str); 5] = [
    ("POST", "retry"),
    ("POST", "cancel"),
    ("POST", "follow"),
    ("POST", "unfollow"),
    ("GET", ""),
];

#[tokio::test(flavor = "multi_thread")]
async fn a_storm_of_retries_cancels_and_follows_beside_busy_workers_answers_no_5xx_and_leaves_nothing_running()
 {
    let registry = TestRegistry::plain().await;
    seed_demo(&registry).await;
    let host = registry.host();
    // A lease far longer than the test: an outcome that was not recorded would leave its list
    // running to the end.
    let app = TestApp::spawn_with(|s| {
        s.workers = Some(4);
        s.job_lease_secs = Some(600);
        s.job_backoff_ms = Some(10);
    })
    .await;
    let mut ids = Vec::new();
    for i in 0..24 {
        let target = format!("storm-{}:v1", i % 6);
        let mut spec = demo_spec(&host).target(&target).json();
        if i % 2 == 1 {
            // A source that does not exist: it fails at once, and a retry queues it again.
            spec["manifests"][0]["image"] = format!("{host}/no-such-image:v1").into();
        }
        ids.push(app.submit(&spec).await);
    }

    let storms = (0..12).map(|seed| {
        let (app, ids) = (&app, &ids);
        async move {
            let mut failures = Vec::new();
            for n in 0..100usize {
                // Half the time a retry of a failing list, which a worker is claiming or
                // failing again at that moment.
                let (id, (method, action)) = if n % 2 == 0 {
                    (&ids[((n + seed * 2) % ids.len()) | 1], STORM[0])
                } else {
                    (
                        &ids[(n * 7 + seed * 5) % ids.len()],
                        STORM[(n + seed) % STORM.len()],
                    )
                };
                let path = match action {
                    "" => format!("/lists/{id}"),
                    action => format!("/lists/{id}/{action}"),
                };
                let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
                let response = app.request(method, &path).send().await.unwrap();
                if response.status().is_server_error() {
                    failures.push(format!("{path}: {}", response.text().await.unwrap()));
                }
            }
            failures
        }
    });
    let failures: Vec<String> = futures::future::join_all(storms)
        .await
        .into_iter()
        .flatten()
        .collect();

    assert!(failures.is_empty(), "5xx answers: {failures:#?}");
    for id in &ids {
        let list = app.wait_final(id).await;
        assert_ne!(list["status"], "running", "{list:#}");
    }
    // One lock order: not even a deadlock that a retry would have hidden.
    assert_eq!(deadlocks(app.database_url()).await, 0);
}

/// A spec from a release that stored it otherwise: nothing this release can read.
const UNREADABLE_SPEC: &str = r#"{"format": "from a later release", "manifests": 7}"#;

/// Submits three lists the test then makes unreadable and two good ones, with no workers running;
/// the ids, unreadable ones first.
async fn queue_poison_and_good(serve: &Serve, host: &str, url: &str) -> (Vec<String>, Vec<String>) {
    let mut poison = Vec::new();
    let mut good = Vec::new();
    for i in 0..3 {
        let spec = demo_spec(host).target(&format!("poison-{i}:v1")).json();
        poison.push(serve.submit(&spec).await);
    }
    for i in 0..2 {
        let spec = demo_spec(host).target(&format!("good-{i}:v1")).json();
        good.push(serve.submit(&spec).await);
    }
    run_sql(
        url,
        &format!("update list set spec = '{UNREADABLE_SPEC}' where target like '%/poison-%'"),
    )
    .await;
    (poison, good)
}

async fn unreadable_jobs_fail_alone_and_the_queue_drains(db: Db) {
    let registry = TestRegistry::plain().await;
    seed_demo(&registry).await;
    let host = registry.host();
    let (_keep, url) = DbGuard::create(db).await;
    let work = tempfile::tempdir().unwrap();
    let env = |workers: &'static str| {
        [
            ("DATABASE_URL", url.clone()),
            ("MANIFOLD_WORKERS", workers.to_owned()),
            ("MANIFOLD_REGISTRIES", host.clone()),
        ]
    };
    let mut first = Serve::start_in(work.path(), &env("0")).await;
    let (poison, good) = queue_poison_and_good(&first, &host, &url).await;
    first.kill().await;

    // More unreadable jobs than workers.
    let serve = Serve::start_in(work.path(), &env("2")).await;

    for id in &good {
        serve.wait_status(id, "succeeded").await;
    }
    for id in &poison {
        let list = serve.wait_status(id, "failed").await;
        assert_eq!(list["error"]["code"], "UNREADABLE_JOB", "{list:#}");
        let message = list["error"]["message"].as_str().unwrap();
        assert!(message.contains("cannot be read"), "{message}");
        assert_eq!(list["attempts"], 1, "{list:#}");
    }
    assert!(
        !serve.log().contains("cannot claim a job"),
        "{}",
        serve.log()
    );
}

on_both_stores!(unreadable_jobs_fail_alone_and_the_queue_drains);

/// `manifold_store_write_errors_total` in `/metrics`.
async fn write_errors(app: &TestApp) -> u64 {
    let text = app.get("/metrics").await.text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("manifold_store_write_errors_total "))
        .and_then(|n| n.parse().ok())
        .expect("the metric is exposed")
}

/// Makes the test database refuse (or take again) every write, as a read-only standby does, and
/// ends the service's connections so that its pool reconnects under the new rule.
async fn set_read_only(url: &str, on: bool) {
    let name = url::Url::parse(url)
        .unwrap()
        .path()
        .trim_start_matches('/')
        .to_owned();
    run_sql(
        &crate::support::stores::admin_url(),
        &format!(
            "alter database {name} set default_transaction_read_only = {on};
             select pg_terminate_backend(pid) from pg_stat_activity
             where datname = '{name}' and pid <> pg_backend_pid()"
        ),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_postgresql_that_takes_no_writes_answers_503_and_an_outcome_waits_until_it_lands() {
    let registry = TestRegistry::plain().await;
    seed_demo(&registry).await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(204).set_delay(Duration::from_millis(1500)))
        .mount(&receiver)
        .await;
    let app = TestApp::spawn().await;
    let body = format!(
        "{}callback_url: {}/hook\n",
        demo_spec(&registry.host()).target("demo:ro").yaml(),
        receiver.uri()
    );
    let queued: Value = app.post_yaml(&body).await.json().await.unwrap();
    let id = queued["id"].as_str().unwrap().to_owned();
    let sent = || async { !receiver.received_requests().await.unwrap().is_empty() };
    wait::until("the callback going out", wait::nothing, sent).await;

    // The callback is in flight; its outcome will find the database taking no writes.
    set_read_only(app.database_url(), true).await;
    let refused = app.post_yaml(&demo_spec(&registry.host()).yaml()).await;
    let status = refused.status();
    let error: Value = refused.json().await.unwrap();
    let not_ready = app.get("/readyz").await;
    let refused_so_far = write_errors(&app).await;
    // The callback's answer comes back; recording it fails, and is tried again, and again.
    let tried_again = || async { write_errors(&app).await >= refused_so_far + 2 };
    wait::until("the outcome tried again", wait::nothing, tried_again).await;
    let waiting = app.get_json(&format!("/lists/{id}")).await;
    set_read_only(app.database_url(), false).await;

    assert_eq!(status, 503, "{error}");
    assert_eq!(error["error"]["code"], "STORE_UNAVAILABLE");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("takes no writes"),
        "{error}"
    );
    assert_eq!(not_ready.status(), 503);
    assert_eq!(waiting["callback"]["status"], "pending", "{waiting:#}");
    let delivered = app
        .wait_for(&id, |l| l["callback"]["status"] == "delivered")
        .await;
    assert_eq!(delivered["callback"]["attempts"], 1, "{delivered:#}");
    assert_eq!(receiver.received_requests().await.unwrap().len(), 1);
    assert_eq!(app.get("/readyz").await.status(), 200);
}

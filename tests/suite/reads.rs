//! Reads of lists served from the answers the service keeps in memory, over real HTTP on both
//! stores: a finished list's `ETag` is the same on every read and from every process, a matching
//! `If-None-Match` answers `304`, and every change to a finished list — a retry, following, the
//! watch's finding, its callback's delivery, a write by another process or behind the service's
//! back — changes its body and its `ETag` on the very next read. The kept bytes stay within
//! their bound.

use std::time::Duration;

use manifold::model::Clock;
use manifold_testkit::TestRegistry;
use serde_json::Value;

use crate::support::app::TestApp;
use crate::support::cli::seed_demo;
use crate::support::client::ServiceClient;
use crate::support::demo::demo_spec;
use crate::support::mocks::receiver_failing_once;
use crate::support::on_both_stores;
use crate::support::serve::Serve;
use crate::support::stores::{Db, run_sql};

on_both_stores!(
    a_finished_list_keeps_its_etag_and_a_matching_if_none_match_answers_304,
    every_change_to_a_finished_list_changes_its_body_and_etag_at_once,
    a_page_is_served_with_an_etag_that_changes_with_its_lists,
    the_kept_answers_stay_within_their_bound,
);

/// One read of a list or page: status, `ETag`, `Cache-Control` and body.
struct Read {
    status: u16,
    etag: String,
    cache_control: String,
    body: Vec<u8>,
}

impl Read {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// `GET path`, with `If-None-Match` when given.
async fn read(api: &ServiceClient, path: &str, if_none_match: Option<&str>) -> Read {
    let mut request = api.request(reqwest::Method::GET, path);
    if let Some(tags) = if_none_match {
        request = request.header("if-none-match", tags);
    }
    let response = request.send().await.unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let (status, etag, cache_control) = (
        response.status().as_u16(),
        header("etag"),
        header("cache-control"),
    );
    let body = response.bytes().await.unwrap().to_vec();
    Read {
        status,
        etag,
        cache_control,
        body,
    }
}

/// A list queued (no workers take it) and canceled: finished without a registry.
async fn canceled_list(api: &ServiceClient, target: &str) -> String {
    let id = api
        .submit(&demo_spec("127.0.0.1:9").target(target).json())
        .await;
    let canceled = api.post(&format!("/lists/{id}/cancel")).await;
    assert_eq!(canceled.status(), 202);
    id
}

/// A value of the service's metrics.
async fn metric(api: &ServiceClient, name: &str) -> f64 {
    let text = api.get("/metrics").await.text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} is not in the metrics:\n{text}"))
}

async fn a_finished_list_keeps_its_etag_and_a_matching_if_none_match_answers_304(db: Db) {
    let app = TestApp::spawn_on(db, |s| s.workers = Some(0)).await;
    let id = canceled_list(&app, "demo:etag").await;
    let at = format!("/lists/{id}");

    let first = read(&app, &at, None).await;
    let second = read(&app, &at, None).await;

    assert_eq!((first.status, second.status), (200, 200));
    assert_eq!(first.json()["status"], "canceled");
    assert!(
        first.etag.starts_with('"') && first.etag.len() == 34,
        "{}",
        first.etag
    );
    assert_eq!(first.etag, second.etag);
    assert_eq!(first.body, second.body);
    assert_eq!(first.cache_control, "no-cache");
    assert!(metric(&app, "manifold_list_cache_reads_total{result=\"hit\"}").await >= 1.0);
    let tag = first.etag.trim_matches('"');
    for matching in [
        first.etag.clone(),
        format!("W/{}", first.etag),
        format!("\"other\", {}", first.etag),
        "*".to_owned(),
    ] {
        let again = read(&app, &at, Some(&matching)).await;
        assert_eq!(again.status, 304, "If-None-Match: {matching}");
        assert!(again.body.is_empty());
        assert_eq!(again.etag, first.etag);
        assert_eq!(again.cache_control, "no-cache");
    }
    let other = read(&app, &at, Some(&format!("\"{tag}x\""))).await;
    assert_eq!((other.status, other.body), (200, first.body.clone()));

    let retried = app.post(&format!("/lists/{id}/retry")).await;
    assert_eq!(retried.status(), 202);
    let queued = read(&app, &at, Some(&first.etag)).await;
    assert_eq!(queued.status, 200, "the old ETag no longer matches");
    assert_eq!(queued.json()["status"], "queued");
    assert_ne!(queued.etag, first.etag);
    let missing = read(&app, &format!("/lists/{}", uuid::Uuid::now_v7()), Some("*")).await;
    assert_eq!(missing.status, 404);
}

async fn every_change_to_a_finished_list_changes_its_body_and_etag_at_once(db: Db) {
    let registry = TestRegistry::plain().await;
    seed_demo(&registry).await;
    // The first delivery fails: the callback waits for its retry while the list is read.
    let receiver = receiver_failing_once().await;
    let app = TestApp::spawn_at(db, Clock::manual(), |s| s.workers = Some(0)).await;
    let mut spec = demo_spec(&registry.host()).target("demo:changes").json();
    spec["callback_url"] = format!("{}/hook", receiver.uri()).into();
    let id = app.submit(&spec).await;
    app.run_pending_jobs().await;
    let at = format!("/lists/{id}");
    let pushed = read(&app, &at, None).await;
    assert_eq!(pushed.json()["status"], "succeeded");
    assert_eq!(pushed.json()["callback"]["status"], "retrying");
    assert_eq!(read(&app, &at, None).await.etag, pushed.etag, "kept");
    let mut seen = vec![pushed.etag.clone()];
    let mut changed = async |what: &str, check: &dyn Fn(&Value) -> bool| {
        let now = read(&app, &at, Some(seen.last().unwrap())).await;
        assert_eq!(now.status, 200, "{what}: the old ETag no longer matches");
        assert!(check(&now.json()), "{what}: {:#}", now.json());
        assert!(!seen.contains(&now.etag), "{what}: a new ETag");
        seen.push(now.etag);
    };

    app.clock().advance(Duration::from_secs(60));
    app.run_pending_jobs().await;
    changed("the callback delivered", &|l| {
        l["callback"]["status"] == "delivered"
    })
    .await;
    let follow = app.post(&format!("/lists/{id}/follow")).await;
    assert_eq!(follow.status(), 200);
    changed("followed", &|l| l["follow"] == true).await;
    // What another process's watch writes, behind this service's back.
    run_sql(
        app.database_url(),
        &format!(
            "update list set drift_status = 'unknown', drift_error = 'the registry is down' \
             where {}",
            where_id(db, &id)
        ),
    )
    .await;
    changed("the watch's finding", &|l| {
        l["drift"]["status"] == "unknown" && l["drift"]["error"] == "the registry is down"
    })
    .await;
    let unfollow = app.post(&format!("/lists/{id}/unfollow")).await;
    assert_eq!(unfollow.status(), 200);
    changed("unfollowed", &|l| l["follow"] == false).await;
}

/// `list_id = <id>` as the store spells an id.
fn where_id(db: Db, id: &str) -> String {
    let id: uuid::Uuid = id.parse().unwrap();
    match db {
        Db::Postgres => format!("list_id = '{id}'"),
        Db::Sqlite => format!("list_id = X'{}'", id.simple()),
    }
}

async fn a_page_is_served_with_an_etag_that_changes_with_its_lists(db: Db) {
    let app = TestApp::spawn_on(db, |s| s.workers = Some(0)).await;
    let ids = [
        canceled_list(&app, "demo:p1").await,
        canceled_list(&app, "demo:p2").await,
        canceled_list(&app, "demo:p3").await,
    ];
    let at = "/lists?limit=2";

    let first = read(&app, at, None).await;
    let second = read(&app, at, None).await;

    assert_eq!(first.status, 200);
    assert_eq!(first.body, second.body);
    assert_eq!(first.etag, second.etag);
    let page = first.json();
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["id"], ids[2].as_str(), "newest first");
    let one = read(&app, &format!("/lists/{}", ids[2]), None).await;
    assert_eq!(
        items[0],
        one.json(),
        "a page's item is the list's own answer"
    );
    assert!(page["next_cursor"].is_string());
    assert_eq!(read(&app, at, Some(&first.etag)).await.status, 304);
    let follow = app.post(&format!("/lists/{}/follow", ids[1])).await;
    assert_eq!(follow.status(), 200);
    let after = read(&app, at, Some(&first.etag)).await;
    assert_eq!(after.status, 200);
    assert_ne!(after.etag, first.etag);
    assert_eq!(after.json()["items"][1]["follow"], true);
    let canceled = read(&app, "/lists?status=canceled&limit=10", None).await;
    assert_eq!(canceled.json()["items"].as_array().unwrap().len(), 3);
    assert!(canceled.json()["next_cursor"].is_null());
}

async fn the_kept_answers_stay_within_their_bound(db: Db) {
    let none = TestApp::spawn_on(db, |s| {
        s.workers = Some(0);
        s.list_cache_mib = Some(0);
    })
    .await;
    let id = canceled_list(&none, "demo:none").await;
    let at = format!("/lists/{id}");
    let first = read(&none, &at, None).await;

    assert_eq!(read(&none, &at, Some(&first.etag)).await.status, 304);
    assert_eq!(read(&none, &at, None).await.body, first.body);
    assert_eq!(metric(&none, "manifold_list_cache_entries").await, 0.0);
    assert_eq!(metric(&none, "manifold_list_cache_bytes").await, 0.0);

    let kept = TestApp::spawn_on(db, |s| s.workers = Some(0)).await;
    let mut sizes = 0;
    for n in 0..5 {
        let id = canceled_list(&kept, &format!("demo:k{n}")).await;
        sizes += read(&kept, &format!("/lists/{id}"), None).await.body.len();
    }
    let queued = kept
        .submit(&demo_spec("127.0.0.1:9").target("demo:q").json())
        .await;
    read(&kept, &format!("/lists/{queued}"), None).await;
    assert_eq!(
        metric(&kept, "manifold_list_cache_entries").await,
        5.0,
        "finished lists only"
    );
    let bytes = metric(&kept, "manifold_list_cache_bytes").await as usize;
    assert!(bytes > sizes && bytes <= 16 << 20, "{bytes} for {sizes}");
}

/// Two processes on one PostgreSQL database: the same list has the same `ETag` from each, and a
/// change made through one is read from the other at once, though the other kept the answer.
#[tokio::test(flavor = "multi_thread")]
async fn a_change_made_by_another_process_is_read_at_once_on_postgres() {
    let app = TestApp::spawn_on(Db::Postgres, |s| s.workers = Some(0)).await;
    let dir = tempfile::tempdir().unwrap();
    let other = Serve::start_in(
        dir.path(),
        &[
            ("DATABASE_URL", app.database_url()),
            ("MANIFOLD_WORKERS", "0"),
        ],
    )
    .await;
    let id = canceled_list(&app, "demo:two").await;
    let at = format!("/lists/{id}");
    let here = read(&app, &at, None).await;
    let there = read(&other, &at, None).await;
    assert_eq!(here.etag, there.etag, "one ETag from every process");
    assert_eq!(here.body, there.body);
    assert_eq!(read(&other, &at, Some(&here.etag)).await.status, 304);

    let follow = other.post(&format!("/lists/{id}/follow")).await;
    assert_eq!(follow.status(), 200);
    let after = read(&app, &at, Some(&here.etag)).await;
    assert_eq!(after.status, 200, "the change is read at once");
    assert_eq!(after.json()["follow"], true);

    let retried = app.post(&format!("/lists/{id}/retry")).await;
    assert_eq!(retried.status(), 202);
    let there = read(&other, &at, Some(&after.etag)).await;
    assert_eq!(there.status, 200);
    assert_eq!(there.json()["status"], "queued");
}

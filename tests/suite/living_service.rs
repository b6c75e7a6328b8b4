//! Living lists through real `manifold serve` processes — two on one PostgreSQL database, or the
//! one SQLite allows — against the real registry, checked with skopeo: a stale retry never
//! overwrites a newer list (it ends superseded), twenty replacing lists at once leave the newest,
//! eight concurrent appends leave eight entries, drift (a source moved, a child deleted, the tag
//! moved) is reported within a few intervals with its callback and metric, and a followed list is
//! re-pushed when its source moves, until unfollowed.

use futures::future::join_all;
use manifold_testkit::media_types::ACCEPT_ALL;
use manifold_testkit::{BuiltImage, ImageFixture, Pusher, TestRegistry};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::cli::{assert_pulls, manifest_puts, seed};
use crate::support::on_both_stores;
use crate::support::serve::Serve;
use crate::support::stores::{Db, DbGuard};
use crate::support::wait;

on_both_stores!(
    a_stale_retry_never_overwrites_a_newer_list_and_ends_superseded,
    twenty_replacing_lists_submitted_at_once_leave_the_newest,
    eight_concurrent_appends_leave_eight_entries_that_skopeo_resolves,
    drift_is_reported_within_a_few_intervals_with_its_callback_and_metric,
    a_followed_list_is_re_pushed_when_its_source_moves_until_unfollowed,
);

/// The service processes of one test: two sharing a PostgreSQL database, or one on SQLite.
struct Fleet {
    servers: Vec<Serve>,
    _db: DbGuard,
}

impl Fleet {
    /// Starts the fleet on `db` with the watch every second and quick job retries.
    async fn start(db: Db) -> Self {
        let (guard, url) = DbGuard::create(db).await;
        let env = [
            ("DATABASE_URL", url),
            ("MANIFOLD_WORKERS", "4".to_owned()),
            ("MANIFOLD_JOB_BACKOFF_MS", "200".to_owned()),
            ("MANIFOLD_JOB_MAX_ATTEMPTS", "50".to_owned()),
            ("MANIFOLD_WATCH_INTERVAL_SECS", "1".to_owned()),
        ];
        let processes = if db == Db::Postgres { 2 } else { 1 };
        let dirs: Vec<_> = (0..processes)
            .map(|_| tempfile::tempdir().unwrap())
            .collect();
        let servers = join_all(dirs.iter().map(|d| Serve::start_in(d.path(), &env))).await;
        std::mem::forget(dirs);
        Self {
            servers,
            _db: guard,
        }
    }

    /// The `i`th process, round robin.
    fn at(&self, i: usize) -> &Serve {
        &self.servers[i % self.servers.len()]
    }
}

/// A list of one source per `(image, os/arch/variant)`, as JSON, with `extra` keys.
fn spec(target: &str, sources: &[(&str, &str)], extra: Value) -> Value {
    let manifests: Vec<Value> = sources
        .iter()
        .map(|(image, platform)| json!({"image": image, "platform": platform_json(platform)}))
        .collect();
    let mut spec = json!({"image": target, "manifests": manifests});
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        spec.extend(extra.clone());
    }
    spec
}

fn platform_json(text: &str) -> Value {
    let mut parts = text.split('/');
    let (os, arch) = (parts.next().unwrap(), parts.next().unwrap());
    match parts.next() {
        Some(variant) => json!({"os": os, "architecture": arch, "variant": variant}),
        None => json!({"os": os, "architecture": arch}),
    }
}

/// Seeds a one-layer `repo:tag` image of `os/arch[/variant]`, different for each `seed`.
async fn seed_image(
    registry: &TestRegistry,
    repo: &str,
    tag: &str,
    platform: &str,
    n: u64,
) -> BuiltImage {
    let parts: Vec<&str> = platform.split('/').collect();
    let fixture = ImageFixture::new(parts[0], parts[1], parts.get(2).copied())
        .layers(1)
        .seed(n);
    seed(registry, repo, tag, fixture).await
}

/// The digest the registry stores under `repo:tag`.
async fn stored(registry: &TestRegistry, repo: &str, tag: &str) -> Option<String> {
    let found = Pusher::new(registry)
        .get_manifest(repo, tag, ACCEPT_ALL)
        .await;
    found.ok().and_then(|m| m.digest)
}

/// Waits until `done` holds for what `/metrics` of the fleet says, summed (up to [`PATIENCE`]).
async fn wait_metrics(fleet: &Fleet, what: &str, done: impl Fn(&[String]) -> bool) -> Vec<String> {
    let what = format!("the metrics showing {what}");
    wait::until_some(&what, wait::nothing, || async {
        let mut texts = Vec::new();
        for server in &fleet.servers {
            texts.push(server.get("/metrics").await.text().await.unwrap());
        }
        done(&texts).then_some(texts)
    })
    .await
}

/// The value of a metric line `name` (with its labels) in one exposition.
pub(crate) fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

async fn a_stale_retry_never_overwrites_a_newer_list_and_ends_superseded(db: Db) {
    let registry = TestRegistry::plain().await;
    let mut sources = TestRegistry::plain().await;
    let old = seed_image(&sources, "app-amd64", "a", "linux/amd64", 1).await;
    let new = seed_image(&registry, "app-amd64", "b", "linux/amd64", 2).await;
    sources.stop();
    let fleet = Fleet::start(db).await;
    let target = registry.reference("app", "v1");
    let stale_source = sources.reference("app-amd64", "a");

    let stale = fleet
        .at(0)
        .submit(&spec(&target, &[(&stale_source, "linux/amd64")], json!({})))
        .await;
    fleet
        .at(0)
        .wait_for(&stale, |l| l["error"]["code"] == "REGISTRY_UNREACHABLE")
        .await;
    let newer_source = registry.reference("app-amd64", "b");
    let newer = fleet
        .at(1)
        .submit(&spec(&target, &[(&newer_source, "linux/amd64")], json!({})))
        .await;
    let landed = fleet.at(1).wait_status(&newer, "succeeded").await;
    sources.restart().await.unwrap();
    let overtaken = fleet.at(0).wait_final(&stale).await;

    assert_eq!(overtaken["status"], "superseded", "{overtaken:#}");
    assert_eq!(overtaken["superseded_by"], newer.as_str());
    assert!(overtaken["sequence"].as_i64() < landed["sequence"].as_i64());
    assert_eq!(overtaken["digest"], Value::Null, "it was not pushed");
    assert_eq!(
        stored(&registry, "app", "v1").await,
        landed["digest"].as_str().map(str::to_owned)
    );
    assert_eq!(
        manifest_puts(&registry, "app", "v1"),
        1,
        "only the newer list was PUT"
    );
    assert_pulls(
        &registry,
        "app:v1",
        &[("linux", "amd64", None, &new.manifest_digest)],
    )
    .await;

    let retried: Value = fleet
        .at(0)
        .post(&format!("/lists/{stale}/retry"))
        .await
        .json()
        .await
        .unwrap();
    let pushed = fleet.at(0).wait_status(&stale, "succeeded").await;

    assert!(
        retried["sequence"].as_i64() > landed["sequence"].as_i64(),
        "{retried:#}"
    );
    assert_eq!(
        stored(&registry, "app", "v1").await,
        pushed["digest"].as_str().map(str::to_owned)
    );
    assert_pulls(
        &registry,
        "app:v1",
        &[("linux", "amd64", None, &old.manifest_digest)],
    )
    .await;
}

async fn twenty_replacing_lists_submitted_at_once_leave_the_newest(db: Db) {
    const LISTS: usize = 20;
    let registry = TestRegistry::plain().await;
    for i in 0..LISTS {
        seed_image(
            &registry,
            "many-amd64",
            &format!("v{i}"),
            "linux/amd64",
            i as u64,
        )
        .await;
    }
    let fleet = Fleet::start(db).await;
    let target = registry.reference("many", "latest");
    let fleet = &fleet;

    let submitted = join_all((0..LISTS).map(|i| {
        let source = registry.reference("many-amd64", &format!("v{i}"));
        let body = spec(&target, &[(&source, "linux/amd64")], json!({}));
        async move {
            fleet
                .at(i)
                .post_json(&body)
                .await
                .json::<Value>()
                .await
                .unwrap()
        }
    }))
    .await;
    let mut lists = Vec::new();
    for (i, queued) in submitted.iter().enumerate() {
        lists.push(fleet.at(i).wait_final(queued["id"].as_str().unwrap()).await);
    }

    let newest = crate::support::client::assert_newest_landed(&lists);
    assert_eq!(
        stored(&registry, "many", "latest").await,
        newest["digest"].as_str().map(str::to_owned)
    );
    let succeeded = lists.iter().filter(|l| l["status"] == "succeeded").count();
    assert_eq!(
        manifest_puts(&registry, "many", "latest"),
        succeeded,
        "one PUT per list pushed"
    );
}

async fn eight_concurrent_appends_leave_eight_entries_that_skopeo_resolves(db: Db) {
    const PLATFORMS: [&str; 8] = [
        "linux/amd64",
        "linux/arm64/v8",
        "linux/arm/v7",
        "linux/arm/v6",
        "linux/s390x",
        "linux/ppc64le",
        "linux/386",
        "linux/riscv64",
    ];
    let registry = TestRegistry::plain().await;
    let mut images = Vec::new();
    for (i, platform) in PLATFORMS.iter().enumerate() {
        let repo = format!("ci-{}", platform.replace('/', "-"));
        images.push(seed_image(&registry, &repo, "build", platform, i as u64).await);
    }
    let fleet = Fleet::start(db).await;
    let target = registry.reference("ci", "v1");
    let fleet = &fleet;

    let ids = join_all(PLATFORMS.iter().enumerate().map(|(i, platform)| {
        let source = registry.reference(&format!("ci-{}", platform.replace('/', "-")), "build");
        let body = spec(&target, &[(&source, platform)], json!({"append": true}));
        async move { fleet.at(i).submit(&body).await }
    }))
    .await;
    for (i, id) in ids.iter().enumerate() {
        fleet.at(i + 1).wait_status(id, "succeeded").await;
    }

    let list = Pusher::new(&registry)
        .get_manifest("ci", "v1", ACCEPT_ALL)
        .await
        .unwrap()
        .json()
        .unwrap();
    let children: Vec<&str> = list["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap())
        .collect();
    assert_eq!(children.len(), PLATFORMS.len(), "{list:#}");
    let expected: Vec<(&str, &str, Option<&str>, &str)> = PLATFORMS
        .iter()
        .zip(&images)
        .map(|(platform, image)| {
            let parts: Vec<&str> = platform.split('/').collect();
            assert!(
                children.contains(&image.manifest_digest.as_str()),
                "{platform}"
            );
            (
                parts[0],
                parts[1],
                parts.get(2).copied(),
                image.manifest_digest.as_str(),
            )
        })
        .collect();
    assert_pulls(&registry, "ci:v1", &expected).await;
}

async fn drift_is_reported_within_a_few_intervals_with_its_callback_and_metric(db: Db) {
    let mut registry = TestRegistry::plain().await;
    seed_image(&registry, "w-amd64", "v1", "linux/amd64", 1).await;
    let arm64 = seed_image(&registry, "w-arm64", "v1", "linux/arm64/v8", 2).await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&receiver)
        .await;
    let fleet = Fleet::start(db).await;
    let (amd64_source, arm64_source) = (
        registry.reference("w-amd64", "v1"),
        registry.reference("w-arm64", "v1"),
    );
    let callback = json!({"callback_url": format!("{}/hook", receiver.uri())});
    let body = spec(
        &registry.reference("w", "v1"),
        &[
            (&amd64_source, "linux/amd64"),
            (&arm64_source, "linux/arm64/v8"),
        ],
        callback,
    );
    let id = fleet.at(0).submit(&body).await;
    let pushed = fleet.at(0).wait_status(&id, "succeeded").await;
    assert_eq!(pushed["drift"]["status"], "in_sync", "{pushed:#}");
    let texts = wait_metrics(&fleet, "an in-sync check", |t| {
        t.iter()
            .map(|t| metric(t, "manifold_drift_checks_total{status=\"in_sync\"}"))
            .sum::<f64>()
            >= 1.0
    })
    .await;
    let checks: f64 = texts
        .iter()
        .map(|t| metric(t, "manifold_drift_checks_total{status=\"in_sync\"}"))
        .sum();
    let requests: f64 = texts
        .iter()
        .map(|t| metric(t, "manifold_drift_check_requests_total"))
        .sum();
    assert_eq!(
        requests / checks,
        5.0,
        "a HEAD of the tag, of each child and of each source"
    );

    let moved = seed_image(&registry, "w-amd64", "v1", "linux/amd64", 3).await;
    let drifted = fleet
        .at(1)
        .wait_for(&id, |l| l["drift"]["status"] == "drifted")
        .await;
    let reasons = &drifted["drift"]["reasons"];
    assert_eq!(reasons[0]["kind"], "source_moved", "{drifted:#}");
    assert_eq!(reasons[0]["image"], amd64_source.as_str());
    assert_eq!(reasons[0]["found"], moved.manifest_digest.as_str());
    Pusher::new(&registry)
        .delete_manifest("w", &arm64.manifest_digest)
        .await
        .unwrap();
    let missing = fleet
        .at(0)
        .wait_for(&id, |l| has_reason(l, "child_missing"))
        .await;
    let child = missing["drift"]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "child_missing")
        .unwrap();
    assert_eq!(child["digest"], arm64.manifest_digest.as_str());
    seed_image(&registry, "w", "v1", "linux/amd64", 4).await;
    let tag = fleet
        .at(1)
        .wait_for(&id, |l| has_reason(l, "tag_moved"))
        .await;
    assert!(tag["drift"]["checked_at"].is_string(), "{tag:#}");

    wait_metrics(&fleet, "one drifted list", |t| {
        t.iter().all(|t| metric(t, "manifold_lists_drifted") == 1.0)
    })
    .await;
    let deliveries = receiver.received_requests().await.unwrap();
    let events: Vec<&str> = deliveries
        .iter()
        .map(|r| r.headers["x-manifold-event"].to_str().unwrap())
        .collect();
    assert_eq!(
        events,
        ["list.finished", "list.drifted"],
        "one callback when it became drifted"
    );
    let payload: Value = serde_json::from_slice(&deliveries[1].body).unwrap();
    assert_eq!(payload["drift"]["status"], "drifted");

    registry.stop();
    let unknown = fleet
        .at(0)
        .wait_for(&id, |l| l["drift"]["status"] == "unknown")
        .await;
    let error = unknown["drift"]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains(&registry.host()),
        "the error names the registry: {unknown:#}"
    );
    registry.restart().await.unwrap();
    fleet
        .at(1)
        .wait_for(&id, |l| l["drift"]["status"] == "drifted")
        .await;
    let again = receiver.received_requests().await.unwrap().len();
    assert_eq!(
        again, 2,
        "no second drifted callback after the registry came back"
    );
}

fn has_reason(list: &Value, kind: &str) -> bool {
    list["drift"]["reasons"]
        .as_array()
        .is_some_and(|r| r.iter().any(|r| r["kind"] == kind))
}

async fn a_followed_list_is_re_pushed_when_its_source_moves_until_unfollowed(db: Db) {
    let registry = TestRegistry::plain().await;
    seed_image(&registry, "f-amd64", "latest", "linux/amd64", 1).await;
    let arm64 = seed_image(&registry, "f-arm64", "latest", "linux/arm64/v8", 2).await;
    let fleet = Fleet::start(db).await;
    let sources = [
        (registry.reference("f-amd64", "latest"), "linux/amd64"),
        (registry.reference("f-arm64", "latest"), "linux/arm64/v8"),
    ];
    let sources: Vec<(&str, &str)> = sources.iter().map(|(s, p)| (s.as_str(), *p)).collect();
    let first = fleet
        .at(0)
        .submit(&spec(
            &registry.reference("f", "latest"),
            &sources,
            json!({"follow": true}),
        ))
        .await;
    let pushed = fleet.at(0).wait_status(&first, "succeeded").await;
    assert_eq!(pushed["follow"], true);

    let rebuilt = seed_image(&registry, "f-amd64", "latest", "linux/amd64", 3).await;
    let handed = fleet
        .at(1)
        .wait_for(&first, |l| l["followed_by"].is_string())
        .await;
    let next = handed["followed_by"].as_str().unwrap().to_owned();
    let follow_up = fleet.at(0).wait_status(&next, "succeeded").await;

    assert_eq!(
        handed["follow"], false,
        "the following moved to the follow-up"
    );
    assert_eq!(
        (&follow_up["follows"], &follow_up["follow"]),
        (&json!(first), &json!(true))
    );
    assert_eq!(
        stored(&registry, "f", "latest").await,
        follow_up["digest"].as_str().map(str::to_owned)
    );
    assert_pulls(
        &registry,
        "f:latest",
        &[
            ("linux", "amd64", None, &rebuilt.manifest_digest),
            ("linux", "arm64", Some("v8"), &arm64.manifest_digest),
        ],
    )
    .await;

    let stopped: Value = fleet
        .at(1)
        .post(&format!("/lists/{next}/unfollow"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stopped["follow"], false, "{stopped:#}");
    seed_image(&registry, "f-amd64", "latest", "linux/amd64", 4).await;
    let seen = fleet
        .at(0)
        .wait_for(&next, |l| has_reason(l, "source_moved"))
        .await;
    // A follow-up would be queued in the transaction that records the move; one more check of
    // the unfollowed list, whichever process makes it, queues none either.
    let first_check = seen["drift"]["checked_at"].clone();
    fleet
        .at(1)
        .wait_for(&next, |l| l["drift"]["checked_at"] != first_check)
        .await;
    let page = fleet
        .at(0)
        .get_json(&format!(
            "/lists?target={}",
            registry.reference("f", "latest")
        ))
        .await;
    assert_eq!(
        page["items"].as_array().unwrap().len(),
        2,
        "no list after unfollowing: {page:#}"
    );
}

//! From a registry's event to a living list's follow-up, measured: `manifold serve` (SQLite, the
//! watch's interval at an hour, so polling plays no part) and a `docker-registry` that notifies
//! it of pushes; 20 followed lists, each over its own source; for each source in turn a new build
//! is pushed, and the time from the end of that push to the follow-up having landed (and to its
//! having been queued) is taken. Prints p50, p99 and the worst beside the goal (p99 ≤ 2 s).
//!
//! `cargo bench -p manifold --bench events`

#[path = "service/serve.rs"]
#[expect(
    dead_code,
    reason = "the service bench's own module: this bench uses part of it"
)]
mod serve;

use std::time::{Duration, Instant};

use manifold_testkit::{ImageFixture, Pusher, TestRegistry};
use serde_json::{Value, json};

/// How long anything may take before the bench gives up.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// How many followed lists, and events.
const LISTS: usize = 20;

const SECRET: &str = "bench-event-secret";

/// The goal: a follow-up landed within this long of its source's push, p99.
const GOAL: Duration = Duration::from_secs(2);

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let db = format!("sqlite://{}", dir.path().join("events.db").display());
    let env = [
        ("MANIFOLD_WATCH_INTERVAL_SECS", "3600"),
        ("MANIFOLD_EVENT_SECRET", SECRET),
    ];
    let service = serve::Serve::start_with(&db, 2, dir.path(), "events", &env).await;
    let registry = TestRegistry::builder()
        .log_level("error")
        .notify(
            &format!("{}/events/distribution", service.base),
            "Authorization",
            &format!("Bearer {SECRET}"),
        )
        .start()
        .await;
    let http = manifold_testkit::http_client().build().unwrap();
    let api = Api {
        http: &http,
        base: &service.base,
    };
    let mut firsts = Vec::new();
    for i in 0..LISTS {
        push_source(&registry, i, "1").await;
        let host = registry.host();
        let spec = json!({
            "image": format!("{host}/followed-{i}:latest"),
            "manifests": [{"image": format!("{host}/source-{i}:v1")}],
            "follow": true,
        });
        let id = api.submit(&spec).await;
        api.until(&id, |l| l["status"] == "succeeded").await;
        firsts.push(id);
    }
    let (mut queued, mut landed) = (Vec::new(), Vec::new());
    for (i, first) in firsts.iter().enumerate() {
        push_source(&registry, i, "2").await;
        let pushed = Instant::now();
        let handed = api.until(first, |l| l["followed_by"].is_string()).await;
        queued.push(pushed.elapsed());
        let next = handed["followed_by"].as_str().unwrap().to_owned();
        api.until(&next, |l| l["status"] == "succeeded").await;
        landed.push(pushed.elapsed());
    }
    report("queued", &mut queued);
    report("landed", &mut landed);
    service.stop().await;
}

/// Pushes build `build` of `source-<i>:v1` (linux/amd64).
async fn push_source(registry: &TestRegistry, i: usize, build: &str) {
    let image = ImageFixture::new("linux", "amd64", None)
        .label("build", build)
        .label("source", &i.to_string())
        .build();
    Pusher::new(registry)
        .push_image(&format!("source-{i}"), "v1", &image)
        .await
        .expect("a source push");
}

fn report(what: &str, times: &mut [Duration]) {
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1];
    let (p50, p99, worst) = (at(0.5), at(0.99), times[times.len() - 1]);
    let verdict = if p99 <= GOAL { "met" } else { "MISSED" };
    println!(
        "source push → follow-up {what}: p50 {} ms, p99 {} ms, worst {} ms ({} events, watch \
         interval 3600 s; goal p99 ≤ {} ms: {verdict})",
        p50.as_millis(),
        p99.as_millis(),
        worst.as_millis(),
        times.len(),
        GOAL.as_millis()
    );
}

/// The service's API, as the bench drives it.
struct Api<'a> {
    http: &'a reqwest::Client,
    base: &'a str,
}

impl Api<'_> {
    async fn submit(&self, spec: &Value) -> String {
        let answer = self
            .http
            .post(format!("{}/lists", self.base))
            .json(spec)
            .send()
            .await
            .expect("the service answers");
        let list: Value = answer.json().await.expect("a list");
        list["id"].as_str().expect("an id").to_owned()
    }

    /// Asks for list `id` every 5 ms until `done` says so.
    async fn until(&self, id: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let list: Value = self
                .http
                .get(format!("{}/lists/{id}", self.base))
                .send()
                .await
                .expect("the service answers")
                .json()
                .await
                .expect("a list");
            if done(&list) {
                return list;
            }
            assert!(
                Instant::now() < deadline,
                "list {id} never got there: {list:#}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

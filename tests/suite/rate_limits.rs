//! Registries that limit the rate: a real registry behind a limit of a few requests a second,
//! refusing the rest as Docker Hub, GHCR and distribution-based registries do
//! (`manifold_testkit::rate_limit`). A push with default settings keeps to the limit's pace
//! without failing; the service's workers share one budget per registry and say how long they
//! were held back in `/metrics`.

use manifold_testkit::rate_limit::{RateLimited, RateProfile};
use manifold_testkit::{ImageFixture, Pusher, TestRegistry};

use serde_json::{Value, json};

use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::cli::{manifold, push_spec, write_spec};
use crate::support::serve::Serve;

/// Pushes `n` one-layer images for `n` distinct platforms (`arch00`, …), each in its own
/// repository of `registry`: their references at `source_host`, with their architectures.
async fn sources(registry: &TestRegistry, n: usize, source_host: &str) -> Vec<(String, String)> {
    let pusher = Pusher::new(registry);
    let mut out = Vec::new();
    for i in 0..n {
        let arch = format!("arch{i:02}");
        let image = ImageFixture::new("linux", &arch, None)
            .layers(1)
            .seed(7)
            .build();
        let repo = format!("src{i:02}");
        pusher.push_image(&repo, "v1", &image).await.unwrap();
        out.push((format!("{source_host}/{repo}:v1"), arch));
    }
    out
}

/// A list spec of `sources` at `target`, in JSON.
fn spec(target: &str, sources: &[(String, String)]) -> Value {
    let manifests: Vec<Value> = sources
        .iter()
        .map(|(image, arch)| json!({"image": image, "platform": {"architecture": arch, "os": "linux"}}))
        .collect();
    json!({"image": target, "manifests": manifests})
}

/// The platforms of the list stored at `repo:tag`.
async fn stored_platforms(registry: &TestRegistry, repo: &str, tag: &str) -> Vec<String> {
    let list = Pusher::new(registry)
        .get_manifest(repo, tag, manifold_testkit::media_types::ACCEPT_ALL)
        .await
        .unwrap()
        .json()
        .unwrap();
    list["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cross_registry_push_behind_five_requests_a_second_keeps_the_pace_with_defaults() {
    let (pushed, _, limited) = push_behind(24, 5.0, RateProfile::RetryAfter).await;

    let (passed, refused) = (limited.passed(), limited.refused());
    let pace = limited.pace().unwrap();
    eprintln!("behind 5 requests a second: {passed} passed, {refused} refused, pace {pace:.2}x");
    assert!(
        passed > 100,
        "a cross-registry push of 24 children: {passed}"
    );
    assert!(
        refused * 5 < passed,
        "the budget learns the pace instead of being refused (the first time it is met, the \
         requests in flight are): {refused} of {passed}"
    );
    assert!(pace >= 0.8, "{pace:.2}x of the limit's pace");
    assert!(
        pushed.stderr.matches("limits the rate").count() <= refused as usize,
        "one warning for each time the registry limits us, not one per request: {}",
        pushed.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_services_workers_share_one_budget_per_registry_and_count_the_time_held_back() {
    let (sources_registry, target_registry) =
        (TestRegistry::plain().await, TestRegistry::plain().await);
    let limited = RateLimited::start(&target_registry.host(), 5.0, RateProfile::Ghcr);
    let listed = sources(&sources_registry, 4, &sources_registry.host()).await;
    let dir = tempfile::tempdir().unwrap();
    let allowed = format!("{},{}", sources_registry.host(), limited.addr);
    let serve = Serve::start_in(dir.path(), &[("MANIFOLD_REGISTRIES", allowed.as_str())]).await;

    let mut ids = Vec::new();
    for name in ["one", "two", "three"] {
        let target = format!("{}/{name}:v1", limited.addr);
        ids.push(serve.submit(&spec(&target, &listed)).await);
    }
    for id in &ids {
        serve.wait_status(id, "succeeded").await;
    }

    for name in ["one", "two", "three"] {
        assert_eq!(
            stored_platforms(&target_registry, name, "v1").await.len(),
            4
        );
    }
    let (passed, refused) = (limited.passed(), limited.refused());
    let pace = limited.pace().unwrap();
    eprintln!(
        "three pushes behind 5 a second: {passed} passed, {refused} refused, pace {pace:.2}x"
    );
    assert!(pace >= 0.8, "{pace:.2}x of the limit's pace");
    assert!(
        refused * 5 < passed,
        "three pushes at once learn one pace: {refused} refused of {passed}"
    );
    let metrics = serve.get("/metrics").await.text().await.unwrap();
    let held = |host: &str| -> Option<f64> {
        let prefix = format!("manifold_registry_throttled_seconds_total{{host=\"{host}\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&prefix)?.parse().ok())
    };
    let limited_held = held(&limited.addr).unwrap_or_else(|| panic!("{metrics}"));
    assert!(
        limited_held > 1.0,
        "three pushes shared 5 a second: {limited_held} s held back"
    );
    assert_eq!(
        held(&sources_registry.host()),
        Some(0.0),
        "the registry without a limit was never held back"
    );
    let registries = serve.get_json("/registries").await;
    let shown = registries
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["registry"] == limited.addr.as_str())
        .unwrap();
    assert!(
        shown["throttled_seconds"].as_f64().unwrap() >= limited_held - 0.001,
        "the registries page says it too: {shown}"
    );
}

/// Pushes a list of `n` sources into a registry behind `profile` at `per_second`, and asserts
/// that the push succeeded with every child; the push's run, the registry behind, and the limit.
async fn push_behind(
    n: usize,
    per_second: f64,
    profile: RateProfile,
) -> (crate::support::cli::Run, TestRegistry, RateLimited) {
    let (sources_registry, target_registry) =
        (TestRegistry::plain().await, TestRegistry::plain().await);
    let limited = RateLimited::start(&target_registry.host(), per_second, profile);
    let listed = sources(&sources_registry, n, &sources_registry.host()).await;
    let dir = tempfile::tempdir().unwrap();
    let target = format!("{}/rated:v1", limited.addr);
    let spec = write_spec(
        dir.path(),
        "rated.json",
        &spec(&target, &listed).to_string(),
    );
    let pushed = push_spec(&[], &spec).await;
    assert!(
        pushed.stdout.starts_with("Digest: sha256:"),
        "{}",
        pushed.stderr
    );
    assert_eq!(
        stored_platforms(&target_registry, "rated", "v1")
            .await
            .len(),
        n
    );
    (pushed, target_registry, limited)
}

#[tokio::test(flavor = "multi_thread")]
async fn githubs_secondary_rate_limit_a_403_is_waited_out_and_the_push_succeeds() {
    let (_, _, limited) = push_behind(6, 4.0, RateProfile::GhcrSecondary).await;

    assert!(
        limited.refused() > 0,
        "the limit was met: {}",
        limited.passed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_hubs_limit_headers_and_refusals_are_kept_to() {
    let (_, _, limited) = push_behind(6, 4.0, RateProfile::DockerHub).await;

    assert!(
        limited.refused() * 5 < limited.passed(),
        "{} refused of {}",
        limited.refused(),
        limited.passed()
    );
}

#[tokio::test]
async fn a_wait_longer_than_a_request_waits_fails_at_once_saying_how_long() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "3600")
                .set_body_json(
                    json!({"errors": [{"code": "TOOMANYREQUESTS", "message": "slow down"}]}),
                ),
        )
        .mount(&server)
        .await;
    let reference = format!("{}/app:v1", server.address());

    let run = manifold(&["inspect", &reference]).await.failed();

    assert!(run.stderr.contains("asks to wait 3600 s"), "{}", run.stderr);
    let asked = server.received_requests().await.unwrap().len();
    assert!(asked <= 2, "no request is sent into the wait: {asked}");
}

#[tokio::test]
async fn docker_hubs_spent_pull_limit_fails_at_once_naming_its_window() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("RateLimit-Limit", "100;w=21600")
                .insert_header("RateLimit-Remaining", "0;w=21600")
                .set_body_json(json!({"errors": [{
                    "code": "TOOMANYREQUESTS",
                    "message": "You have reached your pull rate limit."
                }]})),
        )
        .mount(&server)
        .await;
    let reference = format!("{}/library/app:v1", server.address());

    let run = manifold(&["inspect", &reference]).await.failed();

    assert!(
        run.stderr.contains("asks to wait 21600 s"),
        "{}",
        run.stderr
    );
    let asked = server.received_requests().await.unwrap().len();
    assert!(
        asked <= 2,
        "not asked again into a six-hour window: {asked}"
    );
}

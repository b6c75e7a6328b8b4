//! `manifold submit`: the command line as a client of a running service — the spec and the push
//! flags merged as `push` merges them, the list followed to its end, manifest-tool's `Digest:`
//! line and exit 0 on success, the service's error code and exit 1 otherwise.

use manifold::model::Secret;
use manifold_testkit::TestRegistry;
use serde_json::Value;

use crate::support::app::TestApp;
use crate::support::cli::{assert_demo_pulls, manifold, manifold_env, seed_demo, write_spec};
use crate::support::demo::demo_spec;
use crate::support::stores::Db;

async fn service(registry: &TestRegistry) -> TestApp {
    let host = registry.host();
    TestApp::spawn_on(Db::Sqlite, |s| s.registries = vec![host.clone()]).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_submitted_spec_is_pushed_by_the_service_and_its_digest_line_printed() {
    let registry = TestRegistry::plain().await;
    let (s390x, amd64) = seed_demo(&registry).await;
    let app = service(&registry).await;
    let dir = tempfile::tempdir().unwrap();
    let spec = demo_spec(&registry.host()).write(dir.path(), "demo.yaml");

    let run = manifold(&[
        "submit",
        "--server",
        &app.base,
        "from-spec",
        spec.to_str().unwrap(),
    ])
    .await
    .ok();

    let (digest, size) = run.digest_line();
    let lists = app.get_json("/lists").await;
    let list = &lists["items"][0];
    assert_eq!(list["digest"], digest.as_str(), "{list}");
    assert_eq!(list["size"], size);
    assert!(run.stderr.contains(": succeeded"), "{}", run.stderr);
    assert_demo_pulls(&registry, "demo:v0.2", &s390x, &amd64).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn from_args_and_flags_reach_the_service_and_no_wait_prints_the_id() {
    let registry = TestRegistry::plain().await;
    seed_demo(&registry).await;
    let app = service(&registry).await;
    let host = registry.host();
    let template = format!("{host}/demo-ARCH:v0.2");
    let target = format!("{host}/demo:oci");

    let run = manifold(&[
        "submit",
        "--server",
        &app.base,
        "--no-wait",
        "--type",
        "oci",
        "from-args",
        "--platforms",
        "linux/s390x,linux/amd64",
        "--template",
        &template,
        "--target",
        &target,
    ])
    .await
    .ok();

    let id = run.stdout.trim();
    let list = app.wait_status(id, "succeeded").await;
    assert_eq!(list["type"], "oci", "{list}");
    assert_eq!(
        list["media_type"],
        "application/vnd.oci.image.index.v1+json"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_list_exits_non_zero_with_the_services_error_code() {
    let registry = TestRegistry::plain().await;
    let app = service(&registry).await;
    let dir = tempfile::tempdir().unwrap();
    let host = registry.host();
    let spec = write_spec(
        dir.path(),
        "gone.yaml",
        &format!("image: {host}/app:v1\nmanifests:\n  - image: {host}/nothing-here:v1\n"),
    );

    let run = manifold(&[
        "submit",
        "--server",
        &app.base,
        "--json",
        "from-spec",
        spec.to_str().unwrap(),
    ])
    .await
    .failed();

    let list: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(list["status"], "failed");
    let code = list["error"]["code"].as_str().unwrap();
    assert!(run.stderr.contains(code), "{code}: {}", run.stderr);
    assert_eq!(run.code, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_token_comes_from_manifold_token_and_without_it_the_refusal_is_said() {
    let registry = TestRegistry::plain().await;
    seed_demo(&registry).await;
    let host = registry.host();
    let app = TestApp::spawn_on(Db::Sqlite, |s| {
        s.registries = vec![host.clone()];
        s.api_tokens = vec![Secret::new("ci-token-0123456789abcdef")];
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let spec = demo_spec(&host).write(dir.path(), "demo.yaml");
    let file = spec.to_str().unwrap();

    let refused = manifold(&["submit", "--server", &app.base, "from-spec", file])
        .await
        .failed();
    let taken = manifold_env(
        &["submit", "--server", &app.base, "from-spec", file],
        &[("MANIFOLD_TOKEN", "ci-token-0123456789abcdef")],
    )
    .await
    .ok();

    assert!(refused.stderr.contains("401"), "{}", refused.stderr);
    assert!(
        taken.stdout.starts_with("Digest: sha256:"),
        "{}",
        taken.stderr
    );
    assert!(
        !taken.stderr.contains("ci-token-0123456789abcdef") && !refused.stderr.contains("ci-token"),
        "the token is never printed"
    );
}

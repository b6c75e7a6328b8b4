//! The durable queue. Drained here and now, with no workers, on either store; and across real
//! `manifold serve` processes sharing one PostgreSQL database: a process killed with SIGKILL
//! mid-push loses nothing, and two processes drain one queue with every list pushed exactly once.
//! A list whose token realm never answers is tried again by the queue, not failed at once.

use manifold_testkit::{TestRegistry, TokenServer};
use serde_json::Value;

use crate::support::app::TestApp;
use crate::support::cli::{assert_demo_pulls, assert_stored_digest, manifest_puts, seed_demo};
use crate::support::demo::demo_spec;
use crate::support::on_both_stores;
use crate::support::serve::Serve;
use crate::support::stalled::StalledRegistry;
use crate::support::stores::{Db, TestDb};
use crate::support::wait;

#[tokio::test(flavor = "multi_thread")]
async fn a_server_killed_mid_push_loses_nothing_and_another_process_pushes_the_list_exactly_once() {
    let registry = TestRegistry::plain().await;
    seed_demo(&registry).await;
    let port = registry.port();
    // The list names the registry by host name: the first process resolves it to a registry that
    // has stopped answering (on 127.0.0.2), the second to the real one (on 127.0.0.1).
    let host = format!("registry.test:{port}");
    let stalled = StalledRegistry::start(&format!("127.0.0.2:{port}")).await;
    let db = TestDb::create().await;
    let settings = |ip: &str| {
        [
            ("MANIFOLD_RESOLVE", format!("registry.test:{ip}")),
            ("MANIFOLD_REGISTRIES", host.clone()),
            ("MANIFOLD_INSECURE_REGISTRIES", host.clone()),
            ("MANIFOLD_JOB_LEASE_SECS", "2".to_owned()),
            ("MANIFOLD_WORKERS", "1".to_owned()),
        ]
    };

    let mut first = Serve::start(&db, &settings("127.0.0.2")).await;
    let id = first
        .submit(&demo_spec(&host).target("demo:killed").json())
        .await;
    let running = first.wait_status(&id, "running").await;
    assert_eq!(running["attempts"], 1, "{running:#}");
    let reached = || async { stalled.connections() > 0 };
    wait::until(
        "the first process reaching the registry",
        || first.log(),
        reached,
    )
    .await;
    first.kill().await;
    assert_eq!(
        manifest_puts(&registry, "demo", "killed"),
        0,
        "{}",
        registry.log()
    );
    let second = Serve::start(&db, &settings("127.0.0.1")).await;
    let list = second.wait_status(&id, "succeeded").await;

    assert_eq!(list["attempts"], 2, "{list:#}");
    assert_stored_digest(&registry, "demo", "killed", &list).await;
    assert_eq!(list["entries"].as_array().unwrap().len(), 2, "{list:#}");
    assert_eq!(
        manifest_puts(&registry, "demo", "killed"),
        1,
        "{}",
        registry.log()
    );
    let first_claims = first.claims();
    assert_eq!(first_claims.len(), 1, "{}", first.log());
    assert!(first_claims[0].contains("attempt=1"), "{first_claims:?}");
    let second_claims = second.claims();
    assert_eq!(second_claims.len(), 1, "{}", second.log());
    assert!(second_claims[0].contains("attempt=2"), "{second_claims:?}");
    assert!(
        second_claims[0].contains(&format!("worker={}-", second.pid)),
        "{second_claims:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_server_processes_on_one_database_drain_fifty_lists_each_pushed_exactly_once() {
    const LISTS: usize = 50;
    let registry = TestRegistry::plain().await;
    seed_demo(&registry).await;
    let host = registry.host();
    let db = TestDb::create().await;
    let settings = [("MANIFOLD_WORKERS", "2"), ("MANIFOLD_JOB_LEASE_SECS", "10")];
    let (a, b) = tokio::join!(Serve::start(&db, &settings), Serve::start(&db, &settings));
    let servers = [&a, &b];

    let ids = futures::future::join_all((0..LISTS).map(|i| {
        let spec = demo_spec(&host)
            .target(&format!("drain-{i:02}:v{i}"))
            .json();
        async move { servers[i % 2].submit(&spec).await }
    }))
    .await;
    let logs = || format!("\n--- a ---\n{}\n--- b ---\n{}", a.log(), b.log());
    wait::until(&format!("all {LISTS} lists pushed"), logs, || async {
        let failed = a.get_json("/lists?status=failed&limit=200").await;
        assert_eq!(failed["items"].as_array().unwrap().len(), 0, "{failed:#}");
        let page = a.get_json("/lists?status=succeeded&limit=200").await;
        page["items"].as_array().unwrap().len() == LISTS
    })
    .await;

    for (i, id) in ids.iter().enumerate() {
        let list = servers[(i + 1) % 2].get_json(&format!("/lists/{id}")).await;
        assert_eq!(list["status"], "succeeded", "{list:#}");
        assert_eq!(list["attempts"], 1, "{list:#}");
        let (repo, tag) = (format!("drain-{i:02}"), format!("v{i}"));
        assert_stored_digest(&registry, &repo, &tag, &list).await;
        assert_eq!(
            manifest_puts(&registry, &repo, &tag),
            1,
            "PUT of {repo}:{tag}"
        );
    }
    let (claims_a, claims_b) = (a.claims(), b.claims());
    assert_eq!(
        claims_a.len() + claims_b.len(),
        LISTS,
        "every list claimed once"
    );
    assert!(!claims_a.is_empty(), "process a did no work:\n{}", a.log());
    assert!(!claims_b.is_empty(), "process b did no work:\n{}", b.log());
    for (server, claims) in [(&a, &claims_a), (&b, &claims_b)] {
        let worker = format!("worker={}-", server.pid);
        assert!(claims.iter().all(|c| c.contains(&worker)), "{claims:#?}");
    }
}

on_both_stores!(the_demo_queued_with_no_workers_is_pushed_when_the_test_drains_the_queue);

async fn the_demo_queued_with_no_workers_is_pushed_when_the_test_drains_the_queue(db: Db) {
    let registry = TestRegistry::plain().await;
    let (s390x, amd64) = seed_demo(&registry).await;
    let app = TestApp::spawn_on(db, |a| a.workers = Some(0)).await;
    let response = app.post_yaml(&demo_spec(&registry.host()).yaml()).await;
    assert_eq!(response.status(), 202);
    let queued: Value = response.json().await.unwrap();
    let id = queued["id"].as_str().unwrap();
    let waiting = app.get_json(&format!("/lists/{id}")).await;

    let ran = app.run_pending_jobs().await;
    let again = app.run_pending_jobs().await;

    assert_eq!(
        waiting["status"], "queued",
        "no worker took it: {waiting:#}"
    );
    assert_eq!(ran, 1, "the push, and no callback");
    assert_eq!(again, 0, "nothing is left to run");
    let list = app.get_json(&format!("/lists/{id}")).await;
    assert_eq!(list["status"], "succeeded", "{list:#}");
    assert_eq!(list["attempts"], 1, "{list:#}");
    assert_stored_digest(&registry, "demo", "v0.2", &list).await;
    assert_eq!(list["entries"][0]["digest"], s390x.manifest_digest.as_str());
    assert_eq!(list["entries"][1]["digest"], amd64.manifest_digest.as_str());
    assert_demo_pulls(&registry, "demo:v0.2", &s390x, &amd64).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_list_whose_token_realm_never_answers_is_tried_again_by_the_queue_before_it_fails() {
    let server = TokenServer::builder()
        .grant_anonymous("*", &["pull", "push"])
        .start();
    let registry = TestRegistry::token(&server).await;
    seed_demo(&registry).await;
    let app = TestApp::spawn_with(|a| {
        a.workers = Some(1);
        a.job_max_attempts = Some(2);
        a.timeouts.answer_timeout = Some(1.0);
    })
    .await;
    server.stall(u64::MAX);

    let id = app.submit(&demo_spec(&registry.host()).json()).await;
    let list = app.wait_final(&id).await;

    assert_eq!(list["status"], "failed", "{list:#}");
    assert_eq!(list["attempts"], 2, "retried, not failed at once: {list:#}");
    assert_eq!(list["error"]["code"], "REGISTRY_UNREACHABLE", "{list:#}");
    let message = list["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("the token realm does not answer"),
        "{message}"
    );
    assert!(message.contains(&server.realm()), "{message}");
    assert_eq!(server.stalled(), 8, "4 requests an attempt: {list:#}");
}

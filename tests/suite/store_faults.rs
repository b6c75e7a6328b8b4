//! The store under faults, as they happen: SQLite on a disk that fills up and is freed again.
//! Every acknowledged list must be readable afterwards and end in a final state; no request may
//! answer a 5xx other than the store's `503 STORE_UNAVAILABLE`.

use std::collections::BTreeSet;
use std::time::Duration;

use manifold_testkit::TestRegistry;
use serde_json::Value;
use tokio::time::Instant;

use crate::support::cli::seed_demo;
use crate::support::client::PATIENCE;
use crate::support::demo::demo_spec;
use crate::support::disk::SmallDisk;
use crate::support::serve::Serve;

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
    assert_eq!(ready(&serve).await, 503, "/readyz while the disk is full");

    // Space comes back: the service recovers by itself, without a restart.
    disk.free();
    let deadline = Instant::now() + PATIENCE;
    while ready(&serve).await != 200 {
        assert!(
            Instant::now() < deadline,
            "never ready again:\n{}",
            serve.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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
}

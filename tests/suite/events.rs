//! Registry events: Debian's `docker-registry` configured to notify the service of pushes; a new
//! build of a followed list's source pushed → the follow-up lands with the watch's interval at an
//! hour (polling played no part). A forged event (no secret, a wrong one) and an unknown receiver
//! change nothing and are counted; a repeated event is taken once.

use manifold_testkit::{ImageFixture, RegistryBuilder};
use serde_json::{Value, json};

use crate::support::app::TestApp;
use crate::support::cli::seed;
use crate::support::on_both_stores;
use crate::support::stores::Db;

const SECRET: &str = "event-secret-for-tests";

on_both_stores!(a_registry_push_event_makes_a_followed_list_follow_at_once);

async fn a_registry_push_event_makes_a_followed_list_follow_at_once(db: Db) {
    let app = TestApp::spawn_on(db, |s| {
        s.watch_interval_secs = Some(3600);
        s.event_secret = Some(manifold::model::Secret::new(SECRET));
    })
    .await;
    let registry = RegistryBuilder::default()
        .notify(
            &format!("{}/events/distribution", app.base),
            "Authorization",
            &format!("Bearer {SECRET}"),
        )
        .start()
        .await;
    let host = registry.host();
    seed(
        &registry,
        "demo-amd64",
        "v0.2",
        ImageFixture::new("linux", "amd64", None),
    )
    .await;
    let spec = json!({
        "image": format!("{host}/demo:latest"),
        "manifests": [{"image": format!("{host}/demo-amd64:v0.2")}],
        "follow": true,
    });
    let first = app.submit(&spec).await;
    app.wait_status(&first, "succeeded").await;

    let rebuilt = ImageFixture::new("linux", "amd64", None).label("build", "2");
    let rebuilt = seed(&registry, "demo-amd64", "v0.2", rebuilt).await;

    let handed = app.wait_for(&first, |l| l["followed_by"].is_string()).await;
    let next = handed["followed_by"].as_str().unwrap();
    let follow_up = app.wait_status(next, "succeeded").await;
    assert_eq!(
        follow_up["entries"][0]["digest"],
        rebuilt.manifest_digest.as_str()
    );
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(
            r#"manifold_registry_events_total{source="distribution",outcome="accepted"}"#
        ),
        "{metrics}"
    );

    let forged = event(&host, "forged-1");
    for (header, value) in [("Authorization", "Bearer not-the-secret"), ("X-Other", "x")] {
        let answer = app
            .request(reqwest::Method::POST, "/events/distribution")
            .header(header, value)
            .json(&forged)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 403, "{header}");
    }
    let unknown = app
        .request(reqwest::Method::POST, "/events/nowhere")
        .header("X-Manifold-Secret", SECRET)
        .json(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let lists = app.get_json("/lists").await;
    assert_eq!(
        lists["items"].as_array().unwrap().len(),
        2,
        "nothing acted on: {lists:#}"
    );

    let twice = event(&host, "repeat-1");
    let mut taken = Vec::new();
    for _ in 0..2 {
        let answer = app
            .request(reqwest::Method::POST, "/events/distribution")
            .header("X-Manifold-Secret", SECRET)
            .json(&twice)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 202);
        taken.push(answer.json::<Value>().await.unwrap());
    }
    assert_eq!(taken[0]["accepted"], 1, "{taken:?}");
    assert_eq!(taken[1]["duplicate"], 1, "{taken:?}");
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(
            r#"manifold_registry_events_total{source="distribution",outcome="unauthenticated"} 2"#
        ),
        "{metrics}"
    );
    assert!(!metrics.contains(SECRET), "the secret never shows");
}

/// Distribution's envelope of one manifest push to `demo-amd64:v0.2`.
fn event(host: &str, id: &str) -> Value {
    json!({"events": [{
        "id": id,
        "action": "push",
        "target": {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": "sha256:0000000000000000000000000000000000000000000000000000000000000000",
            "repository": "demo-amd64",
            "tag": "v0.2"
        },
        "request": {"host": host, "method": "PUT"}
    }]})
}

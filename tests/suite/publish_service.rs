//! The service publishes one submission to several registries (`image:` a list in `POST /lists`,
//! `target` a list in `POST /copies`): a list per destination, each answered, paged and kept in
//! its own target's history, all moved by one job in two phases — every tag flips together, or a
//! refusal puts back the tags moved and every destination's list says what became of it. On both
//! stores, against real `docker-registry` instances (one behind a double that refuses tag PUTs),
//! checked with skopeo.

use manifold_testkit::{ImageFixture, Profile, Pusher, QuirkProxy, TestRegistry};
use serde_json::{Value, json};

use crate::support::app::TestApp;
use crate::support::cli::{assert_demo_pulls, seed, seed_demo, seed_two_arch_index};
use crate::support::forms::{csrf, post_form};
use crate::support::on_both_stores;
use crate::support::stores::Db;

on_both_stores!(
    a_list_submitted_to_three_registries_lands_at_each_as_a_list_of_its_own,
    a_tag_put_refused_at_one_registry_fails_every_destination_and_puts_the_moved_tags_back,
    a_copy_to_two_registries_lands_at_both_with_the_source_digest,
);

/// The demo's spec (the two sources in `sources`) onto `demo:v1` at each host, and `latest`.
fn spec_to(sources: &TestRegistry, hosts: &[String]) -> Value {
    let host = sources.host();
    let manifests: Vec<Value> = ["s390x", "amd64"]
        .iter()
        .map(|a| json!({"image": format!("{host}/demo-{a}:v0.2"), "platform": {"os": "linux", "architecture": a}}))
        .collect();
    let targets: Vec<String> = hosts.iter().map(|h| format!("{h}/demo:v1")).collect();
    json!({"image": targets, "tags": ["latest"], "manifests": manifests})
}

/// The digest of what `repo:tag` holds in `registry` (`None`: nothing).
async fn held(registry: &TestRegistry, reference: &str) -> Option<String> {
    manifold_testkit::skopeo_inspect_raw(registry, reference)
        .await
        .ok()
        .map(|bytes| manifold_testkit::sha256_digest(&bytes))
}

/// Each destination's list id, target, status and outcome, as `list` shows them.
fn destinations(list: &Value) -> Vec<(String, String, String, String)> {
    list["destinations"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|d| {
            let text = |k: &str| d[k].as_str().unwrap_or("-").to_owned();
            (
                text("list_id"),
                text("target"),
                text("status"),
                text("outcome"),
            )
        })
        .collect()
}

async fn a_list_submitted_to_three_registries_lands_at_each_as_a_list_of_its_own(db: Db) {
    let (one, two, three) = (
        TestRegistry::plain().await,
        TestRegistry::plain().await,
        TestRegistry::plain().await,
    );
    let (s390x, amd64) = seed_demo(&one).await;
    let hosts = [one.host(), two.host(), three.host()];
    let allowed = hosts.to_vec();
    let app = TestApp::spawn_on(db, |s| s.registries = allowed).await;

    let queued = app.post_json(&spec_to(&one, &hosts)).await;
    assert_eq!(queued.status(), 202);
    let queued: Value = queued.json().await.unwrap();
    let lists = destinations(&queued);
    let targets: Vec<String> = hosts.iter().map(|h| format!("{h}/demo:v1")).collect();
    assert_eq!(
        lists.iter().map(|d| d.1.clone()).collect::<Vec<_>>(),
        targets,
        "{queued:#}"
    );
    assert_eq!(
        lists[0].0,
        queued["id"].as_str().unwrap(),
        "the first is the one answered"
    );
    let first = app.wait_status(&lists[0].0, "succeeded").await;
    let digest = first["digest"].as_str().unwrap().to_owned();

    for (i, (id, target, _, _)) in lists.iter().enumerate() {
        let list = app.get_json(&format!("/lists/{id}")).await;
        assert_eq!(list["status"], "succeeded", "{list:#}");
        assert_eq!(list["target"], target.as_str());
        assert_eq!(list["digest"], digest.as_str(), "one digest everywhere");
        assert_eq!(list["current"], true, "each is what its target holds");
        for (_, _, status, outcome) in destinations(&list) {
            assert_eq!(
                (status.as_str(), outcome.as_str()),
                ("succeeded", "published")
            );
        }
        let history = app.get_json(&format!("/targets/{target}/history")).await;
        assert_eq!(
            history["current"],
            id.as_str(),
            "destination {i}: {history:#}"
        );
    }
    for registry in [&one, &two, &three] {
        for tag in ["demo:v1", "demo:latest"] {
            assert_eq!(
                held(registry, tag).await.as_deref(),
                Some(digest.as_str()),
                "{tag}"
            );
        }
    }
    assert_demo_pulls(&three, "demo:v1", &s390x, &amd64).await;
    let page = app.get_text(&format!("/ui/lists/{}", lists[1].0)).await;
    assert!(page.contains(r#"id="destinations""#), "{page}");
    assert_eq!(
        page.matches(r#"data-outcome="published""#).count(),
        3,
        "{page}"
    );
    assert!(
        page.contains(&format!(r#"href="/ui/lists/{}""#, lists[2].0)),
        "{page}"
    );

    // The new-list form takes several targets in its target field.
    let (cookie, token) = csrf(&app, "/ui/lists/new").await;
    let targets_v2 = format!("{}/demo:v2, {}/demo:v2", hosts[1], hosts[2]);
    let source = format!("{}/demo-amd64:v0.2", hosts[0]);
    let form = [
        ("target", targets_v2.as_str()),
        ("source", source.as_str()),
        ("platform", "linux/amd64"),
        ("action", "push"),
        ("csrf", token.as_str()),
    ];
    let posted = post_form(&app, "/ui/lists", Some(&cookie), &form).await;
    assert_eq!(posted.status(), 303);
    let location = posted.headers()["location"].to_str().unwrap().to_owned();
    let from_form = location.trim_start_matches("/ui/lists/");
    let landed = app.wait_status(from_form, "succeeded").await;
    assert_eq!(destinations(&landed).len(), 2, "{landed:#}");
    for registry in [&two, &three] {
        assert_eq!(
            held(registry, "demo:v2").await.as_ref(),
            landed["digest"].as_str().map(str::to_owned).as_ref()
        );
    }

    let mut refused = spec_to(&one, &hosts[..1]);
    refused["image"] = json!([format!("{}/demo:v2", hosts[0]), "127.0.0.1:9/demo:v2"]);
    let answer = app.post_json(&refused).await;
    assert_eq!(answer.status(), 403);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["error"]["field"], "targets[1]", "{body:#}");
}

async fn a_tag_put_refused_at_one_registry_fails_every_destination_and_puts_the_moved_tags_back(
    db: Db,
) {
    let (one, two, three) = (
        TestRegistry::plain().await,
        TestRegistry::plain().await,
        TestRegistry::plain().await,
    );
    let double = QuirkProxy::start(&three.host(), Profile::DeniedPuts { tags: true }).await;
    seed_demo(&one).await;
    let mut before = Vec::new();
    for (i, registry) in [&one, &two, &three].into_iter().enumerate() {
        let old = ImageFixture::new("linux", "amd64", None).seed(200 + i as u64);
        let image = seed(registry, "demo", "v1", old).await;
        Pusher::new(registry)
            .push_image("demo", "latest", &image)
            .await
            .expect("seed latest");
        before.push(image.manifest_digest);
    }
    let hosts = [one.host(), two.host(), double.host.clone()];
    let allowed = hosts.to_vec();
    let app = TestApp::spawn_on(db, |s| s.registries = allowed).await;

    let id = app.submit(&spec_to(&one, &hosts)).await;
    let failed = app.wait_status(&id, "failed").await;

    assert_eq!(failed["error"]["code"], "DENIED", "{failed:#}");
    let message = failed["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("{}/demo:v1", hosts[2])),
        "{message}"
    );
    let outcomes: Vec<String> = destinations(&failed).into_iter().map(|d| d.3).collect();
    assert_eq!(
        outcomes,
        ["put_back", "put_back", "untouched"],
        "{failed:#}"
    );
    for (i, registry) in [&one, &two, &three].into_iter().enumerate() {
        for tag in ["demo:v1", "demo:latest"] {
            assert_eq!(
                held(registry, tag).await.as_deref(),
                Some(before[i].as_str()),
                "{tag} at destination {i}"
            );
        }
        assert_eq!(
            failed["destinations"][i]["digest"],
            before[i].as_str(),
            "what its tag holds: what it held before"
        );
    }
    let third = failed["destinations"][2]["list_id"].as_str().unwrap();
    let third = app.get_json(&format!("/lists/{third}")).await;
    assert_eq!(third["status"], "failed", "{third:#}");
    assert_eq!(third["error"]["code"], "DENIED");
    let page = app
        .get_text(&format!("/ui/lists/{}", third["id"].as_str().unwrap()))
        .await;
    assert_eq!(
        page.matches(r#"data-outcome="put back""#).count(),
        2,
        "{page}"
    );

    let retried = app
        .post(&format!("/lists/{}/retry", third["id"].as_str().unwrap()))
        .await;
    assert_eq!(retried.status(), 202, "a retry of any destination's list");
    let again = app.wait_status(&id, "failed").await;
    assert!(
        again["attempts"].as_i64() > failed["attempts"].as_i64(),
        "{again:#}"
    );
    assert!(
        double.count("PUT /v2/demo/manifests/v1") >= 2,
        "{:?}",
        double.seen()
    );
}

async fn a_copy_to_two_registries_lands_at_both_with_the_source_digest(db: Db) {
    let (source, one, two) = (
        TestRegistry::plain().await,
        TestRegistry::plain().await,
        TestRegistry::plain().await,
    );
    let (index, _, _) = seed_two_arch_index(&source, "app", "v2").await;
    let allowed = vec![source.host(), one.host(), two.host()];
    let app = TestApp::spawn_on(db, |s| s.registries = allowed).await;
    let to = |registry: &TestRegistry, tag: &str| format!("{}/app:{tag}", registry.host());

    let body = json!({"source": to(&source, "v2"), "target": [to(&one, "v1"), to(&two, "v1")]});
    let id = app.submit_to("/copies", &body).await;
    let copied = app.wait_status(&id, "succeeded").await;

    assert_eq!(copied["operation"], "copy");
    assert_eq!(copied["digest"], index.digest.as_str(), "{copied:#}");
    for registry in [&one, &two] {
        assert_eq!(
            held(registry, "app:v1").await.as_deref(),
            Some(index.digest.as_str())
        );
    }
    let second = app
        .get_json(&format!("/lists/{}", destinations(&copied)[1].0))
        .await;
    assert_eq!(
        (second["status"].as_str(), second["operation"].as_str()),
        (Some("succeeded"), Some("copy"))
    );

    let same_repository =
        json!({"source": to(&source, "v2"), "target": [to(&one, "v1"), to(&one, "v3")]});
    let answer = app.post_json_to("/copies", &same_repository).await;
    assert_eq!(answer.status(), 400);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["error"]["field"], "target[1]", "{body:#}");
}

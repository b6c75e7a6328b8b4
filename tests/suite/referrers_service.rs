//! Signatures and SBOMs travel with the images through the service, on PostgreSQL and on SQLite,
//! against the real registry: a list submitted with `"referrers": true` brings its children's
//! cosign signature and tag-schema SBOM into the target and says so in its resource, one without
//! brings nothing; a copy to another registry brings them by default and none with
//! `"referrers": false`. A dry run, through the API and the CLI, lists what would come along and
//! writes nothing. What a push learnt of a registry (ECR's double: mounts refused, no referrers
//! API) is what the service's next push chooses by: neither is asked again, and `GET /registries`
//! shows it.

use manifold_testkit::{Profile, QuirkProxy, TestRegistry};
use serde_json::{Value, json};

use crate::support::app::TestApp;
use crate::support::cli::{manifold, write_spec};
use crate::support::on_both_stores;
use crate::support::referrers::{signed_json, signed_sources, signed_yaml};
use crate::support::stores::Db;

on_both_stores!(
    a_dry_run_with_referrers_lists_what_would_come_and_writes_nothing,
    a_list_submitted_with_referrers_brings_them_and_one_without_brings_none,
    a_copy_brings_the_referrers_unless_told_not_to,
);

async fn a_list_submitted_with_referrers_brings_them_and_one_without_brings_none(db: Db) {
    let registry = TestRegistry::plain().await;
    let signed = signed_sources(&registry).await;
    let host = registry.host();
    let app = TestApp::spawn_on(db, |_| {}).await;
    let mut with = signed_json(&host, "demo");
    with["referrers"] = true.into();

    let plain = app.submit(&signed_json(&host, "plain")).await;
    let carried = app.submit(&with).await;

    let plain = app.wait_status(&plain, "succeeded").await;
    assert_eq!(plain["referrers"], false, "{plain:#}");
    signed.assert_not_carried(&registry, "plain").await;
    app.wait_status(&carried, "succeeded").await;
    let shown = app.get_json(&format!("/lists/{carried}")).await;
    assert_eq!(shown["referrers"], true, "{shown:#}");
    signed.assert_carried(&registry, "demo").await;
}

async fn a_copy_brings_the_referrers_unless_told_not_to(db: Db) {
    let (staging, production) = (TestRegistry::plain().await, TestRegistry::plain().await);
    let signed = signed_sources(&staging).await;
    let app = TestApp::spawn_on(db, |_| {}).await;
    let mut spec = signed_json(&staging.host(), "demo");
    spec["referrers"] = true.into();
    let pushed = app.submit(&spec).await;
    app.wait_status(&pushed, "succeeded").await;
    let source = format!("{}/demo:v1", staging.host());
    let to = |repo: &str| format!("{}/{repo}:v1", production.host());

    let by_default = app
        .submit_to("/copies", &json!({"source": source, "target": to("demo")}))
        .await;
    let without = app
        .submit_to(
            "/copies",
            &json!({"source": source, "target": to("bare"), "referrers": false}),
        )
        .await;

    let by_default = app.wait_status(&by_default, "succeeded").await;
    assert_eq!(by_default["referrers"], true, "{by_default:#}");
    signed.assert_carried(&production, "demo").await;
    let without = app.wait_status(&without, "succeeded").await;
    assert_eq!(without["referrers"], false, "{without:#}");
    signed.assert_not_carried(&production, "bare").await;
}

async fn a_dry_run_with_referrers_lists_what_would_come_and_writes_nothing(db: Db) {
    let registry = TestRegistry::plain().await;
    let signed = signed_sources(&registry).await;
    let host = registry.host();
    let app = TestApp::spawn_on(db, |_| {}).await;
    let mut spec = signed_json(&host, "demo");
    spec["referrers"] = true.into();

    let response = app.post_json_to("/lists?dry_run=true", &spec).await;
    assert_eq!(response.status(), 200);
    let dry: serde_json::Value = response.json().await.unwrap();
    let kinds: Vec<(&str, &str)> = dry["referrers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["kind"].as_str().unwrap(), r["digest"].as_str().unwrap()))
        .collect();
    assert!(
        kinds.contains(&("signature", signed.signature.as_str())),
        "{kinds:?}"
    );
    assert!(kinds.contains(&("sbom", signed.sbom.as_str())), "{kinds:?}");
    let plain = app
        .post_json_to("/lists?dry_run=true", &signed_json(&host, "demo"))
        .await;
    let plain: serde_json::Value = plain.json().await.unwrap();
    assert_eq!(
        plain["referrers"],
        json!([]),
        "none looked for without the flag"
    );

    let dir = tempfile::tempdir().unwrap();
    let path = write_spec(dir.path(), "s.yaml", &signed_yaml(&host, "demo", true));
    let run = manifold(&["push", "--dry-run", "from-spec", path.to_str().unwrap()])
        .await
        .ok();
    assert!(
        run.stderr
            .contains("would bring what refers to its children: 1 signature, 1 SBOM"),
        "{}",
        run.stderr
    );
    let tags = manifold_testkit::Pusher::new(&registry)
        .get_tags("demo")
        .await
        .unwrap_or_default();
    assert!(tags.is_empty(), "a dry run writes nothing: {tags:?}");
}

#[tokio::test]
async fn what_a_push_learnt_of_a_registry_spares_the_next_push_its_mounts_and_referrers_api() {
    let registry = TestRegistry::plain().await;
    let signed = signed_sources(&registry).await;
    let ecr = QuirkProxy::start(&registry.host(), Profile::Ecr { immutable: false }).await;
    let app = TestApp::spawn_on(Db::Sqlite, |_| {}).await;
    let spec = |target: &str| {
        let mut spec = signed_json(&ecr.host, target);
        spec["referrers"] = true.into();
        spec
    };
    let first = app.submit(&spec("first")).await;
    app.wait_status(&first, "succeeded").await;
    let learnt_after = ecr.seen().len();

    let second = app.submit(&spec("second")).await;
    app.wait_status(&second, "succeeded").await;

    let seen = ecr.seen();
    let (before, after) = seen.split_at(learnt_after);
    let count = |lines: &[String], what: &str| lines.iter().filter(|l| l.contains(what)).count();
    assert!(
        count(before, "?mount=") > 0,
        "the first push tried: {before:?}"
    );
    assert!(
        count(before, "/referrers/") > 0,
        "the first push asked: {before:?}"
    );
    assert_eq!(count(after, "?mount="), 0, "{after:?}");
    assert_eq!(count(after, "/referrers/"), 0, "{after:?}");
    assert!(
        after.len() < before.len(),
        "{} then {}",
        before.len(),
        after.len()
    );
    signed.assert_carried(&registry, "first").await;
    signed.assert_carried(&registry, "second").await;
    let all = app.get_json("/registries").await;
    let shown: Vec<&Value> = all
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["registry"] == ecr.host.as_str())
        .collect();
    assert_eq!(shown.len(), 1, "{all:#}");
    assert_eq!(
        shown[0]["learnt"],
        json!({"referrers_api": false, "mounts": false})
    );
}

//! `--inherit-annotations` (spec key and API field `inherit_annotations`): the index takes the
//! `org.opencontainers.image.*` annotations its image children agree on — from their manifests'
//! annotations, else their configs' labels — and the spec's own annotations win. Checked in the
//! index bytes the registry stores.

use manifold_testkit::media_types::ACCEPT_ALL;
use manifold_testkit::{BuiltImage, ImageFixture, Pusher, TestRegistry};
use serde_json::{Value, json};

use crate::support::app::TestApp;
use crate::support::cli::{manifold, seed, write_spec};
use crate::support::stores::Db;

const DESCRIPTION: &str = "org.opencontainers.image.description";
const SOURCE: &str = "org.opencontainers.image.source";
const VERSION: &str = "org.opencontainers.image.version";
const TITLE: &str = "org.opencontainers.image.title";
const URL: &str = "org.opencontainers.image.url";

/// Two children built with labels as a Dockerfile's `LABEL`s make them: the same description
/// and source, different versions; the title a label on one and a manifest annotation on the
/// other (the annotation is what the child says).
async fn children(registry: &TestRegistry) -> (BuiltImage, BuiltImage) {
    let amd64 = ImageFixture::new("linux", "amd64", None)
        .label(DESCRIPTION, "A demo")
        .label(SOURCE, "https://example.org/demo")
        .label(VERSION, "1.0-amd64")
        .label(TITLE, "old title")
        .annotation(TITLE, "demo");
    let arm64 = ImageFixture::new("linux", "arm64", Some("v8"))
        .label(DESCRIPTION, "A demo")
        .label(SOURCE, "https://example.org/demo")
        .label(VERSION, "1.0-arm64")
        .label(TITLE, "demo");
    (
        seed(registry, "app-amd64", "v1", amd64).await,
        seed(registry, "app-arm64", "v1", arm64).await,
    )
}

fn spec(host: &str, target: &str, extra: &str) -> String {
    format!(
        "image: {host}/{target}\n{extra}manifests:\n  - image: {host}/app-amd64:v1\n  - image: {host}/app-arm64:v1\n"
    )
}

/// The index stored under `repo:tag`.
async fn stored(registry: &TestRegistry, repo: &str, tag: &str) -> Value {
    Pusher::new(registry)
        .get_manifest(repo, tag, ACCEPT_ALL)
        .await
        .unwrap()
        .json()
        .unwrap()
}

#[tokio::test]
async fn the_index_takes_what_every_child_agrees_on_and_the_spec_wins() {
    let registry = TestRegistry::plain().await;
    children(&registry).await;
    let dir = tempfile::tempdir().unwrap();
    let host = registry.host();
    let extra = format!("annotations:\n  {URL}: https://example.org/\n  {DESCRIPTION}: Ours\n");
    let file = write_spec(dir.path(), "app.yaml", &spec(&host, "app:v1", &extra));

    let run = manifold(&[
        "push",
        "--inherit-annotations",
        "--json",
        "from-spec",
        file.to_str().unwrap(),
    ])
    .await
    .ok();

    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        report["inherited_annotations"],
        json!({SOURCE: "https://example.org/demo", TITLE: "demo"}),
        "what it took, said: {report:#}"
    );
    let index = stored(&registry, "app", "v1").await;
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    assert_eq!(
        index["annotations"],
        json!({
            DESCRIPTION: "Ours",
            SOURCE: "https://example.org/demo",
            TITLE: "demo",
            URL: "https://example.org/",
        }),
        "the spec's own win; versions differ and are left out"
    );
}

#[tokio::test]
async fn without_it_nothing_is_taken_and_the_list_stays_a_docker_list() {
    let registry = TestRegistry::plain().await;
    children(&registry).await;
    let dir = tempfile::tempdir().unwrap();
    let file = write_spec(
        dir.path(),
        "app.yaml",
        &spec(&registry.host(), "plain:v1", ""),
    );

    manifold(&["push", "from-spec", file.to_str().unwrap()])
        .await
        .ok();

    let list = stored(&registry, "plain", "v1").await;
    assert_eq!(
        list["mediaType"],
        "application/vnd.docker.distribution.manifest.list.v2+json"
    );
    assert!(list["annotations"].is_null(), "{list}");
}

#[tokio::test]
async fn the_service_takes_the_spec_key_and_shows_it_on_the_list() {
    let registry = TestRegistry::plain().await;
    children(&registry).await;
    let app = TestApp::spawn_on(Db::Sqlite, |_| {}).await;
    let host = registry.host();
    let body = json!({
        "image": format!("{host}/served:v1"),
        "inherit_annotations": true,
        "manifests": [
            {"image": format!("{host}/app-amd64:v1")},
            {"image": format!("{host}/app-arm64:v1")}
        ]
    });

    let id = app.submit(&body).await;
    let list = app.wait_status(&id, "succeeded").await;

    assert_eq!(list["inherit_annotations"], true, "{list:#}");
    let index = stored(&registry, "served", "v1").await;
    assert_eq!(index["annotations"][DESCRIPTION], "A demo");
    assert_eq!(index["annotations"][TITLE], "demo");
    assert!(index["annotations"][VERSION].is_null(), "{index}");
}

#[tokio::test]
async fn an_append_takes_what_the_merged_list_agrees_on() {
    let registry = TestRegistry::plain().await;
    children(&registry).await;
    let dir = tempfile::tempdir().unwrap();
    let host = registry.host();
    let one = write_spec(
        dir.path(),
        "one.yaml",
        &format!("image: {host}/grown:v1\nmanifests:\n  - image: {host}/app-amd64:v1\n"),
    );
    let other = write_spec(
        dir.path(),
        "other.yaml",
        &format!("image: {host}/grown:v1\nmanifests:\n  - image: {host}/app-arm64:v1\n"),
    );

    manifold(&[
        "push",
        "--inherit-annotations",
        "from-spec",
        one.to_str().unwrap(),
    ])
    .await
    .ok();
    let alone = stored(&registry, "grown", "v1").await;
    manifold(&[
        "push",
        "--append",
        "--inherit-annotations",
        "from-spec",
        other.to_str().unwrap(),
    ])
    .await
    .ok();
    let grown = stored(&registry, "grown", "v1").await;

    assert_eq!(alone["annotations"][VERSION], "1.0-amd64", "{alone}");
    assert_eq!(grown["manifests"].as_array().unwrap().len(), 2);
    assert_eq!(grown["annotations"][DESCRIPTION], "A demo", "{grown}");
    assert!(
        grown["annotations"][VERSION].is_null(),
        "the children differ once merged: {grown}"
    );
}

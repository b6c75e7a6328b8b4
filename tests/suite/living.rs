//! Lists over time, against the real registry and checked with skopeo: a re-push writes only what
//! changed (nothing when nothing did), a tag moved away is restored, a spec platform must be the
//! image's, every platform resolves to its own entry, entries are appended and removed, and a
//! list is copied to another registry byte for byte.

use manifold_testkit::media_types::ACCEPT_ALL;
use manifold_testkit::{BuiltImage, ImageFixture, Pusher, TestRegistry, sha256_digest};
use serde_json::{Value, json};

use crate::support::app::TestApp;
use crate::support::cli::{
    assert_demo_copied, assert_pulls, manifest_puts, manifold, seed, seed_demo, write_spec,
};
use crate::support::demo::demo_spec;

/// `push --json from-spec` of this spec; the report.
async fn push(spec: &str, extra: &[&str]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let file = write_spec(dir.path(), "spec.yaml", spec);
    let mut args = vec!["push", "--json"];
    args.extend(extra);
    args.extend(["from-spec", file.to_str().unwrap()]);
    let run = manifold(&args).await.ok();
    serde_json::from_str(&run.stdout).unwrap()
}

/// The demo's third source, `demo-arm64:v0.2` (linux/arm64/v8).
async fn seed_arm64(registry: &TestRegistry) -> BuiltImage {
    let fixture = ImageFixture::new("linux", "arm64", Some("v8"));
    seed(registry, "demo-arm64", "v0.2", fixture).await
}

/// Three single-layer sources, `app-ARCH:v1`, and the spec of their list at `app:v1`.
async fn three_sources(registry: &TestRegistry) -> (String, Vec<BuiltImage>) {
    let host = registry.host();
    let mut spec = format!("image: {host}/app:v1\nmanifests:\n");
    let mut images = Vec::new();
    for arch in ["amd64", "arm64", "s390x"] {
        let fixture = ImageFixture::new("linux", arch, None).layers(1);
        images.push(seed(registry, &format!("app-{arch}"), "v1", fixture).await);
        spec.push_str(&format!(
            "  - image: {host}/app-{arch}:v1\n    platform: {{os: linux, architecture: {arch}}}\n"
        ));
    }
    (spec, images)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unchanged_re_push_reads_the_sources_and_the_target_and_writes_nothing() {
    let registry = TestRegistry::plain().await;
    let (spec, _) = three_sources(&registry).await;
    let first = push(&spec, &[]).await;
    let puts = manifest_puts(&registry, "app", "v1");

    let again = push(&spec, &[]).await;

    assert_eq!(again["unchanged"], true, "{again:#}");
    assert_eq!(again["digest"], first["digest"]);
    assert_eq!(
        again["requests"],
        3 + 1 + 3,
        "the sources, the target, and each child asked for in it"
    );
    assert!(again.get("restored").is_none(), "{again:#}");
    assert_eq!(puts, 1);
    assert_eq!(
        manifest_puts(&registry, "app", "v1"),
        puts,
        "nothing was PUT again"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rebuilt_source_costs_only_its_own_copy_and_a_moved_tag_is_restored() {
    let registry = TestRegistry::plain().await;
    let (spec, images) = three_sources(&registry).await;
    push(&spec, &[]).await;
    let rebuilt = seed(
        &registry,
        "app-arm64",
        "v1",
        ImageFixture::new("linux", "arm64", None).layers(1).seed(9),
    )
    .await;

    let partial = push(&spec, &[]).await;

    // Three sources, the target; the two children it holds asked for; the new child's config
    // (its platform is checked), its two mounts and its PUT; the list.
    assert_eq!(
        partial["requests"],
        3 + 1 + 2 + 1 + 2 + 1 + 1,
        "{partial:#}"
    );
    assert_eq!(partial["unchanged"], false);
    assert_pulls(
        &registry,
        "app:v1",
        &[
            ("linux", "amd64", None, &images[0].manifest_digest),
            ("linux", "arm64", None, &rebuilt.manifest_digest),
        ],
    )
    .await;
    let other = ImageFixture::new("linux", "riscv64", None)
        .layers(1)
        .build();
    Pusher::new(&registry)
        .push_image("app", "v1", &other)
        .await
        .unwrap();
    let restored = push(&spec, &[]).await;
    let stored = Pusher::new(&registry)
        .get_manifest("app", "v1", ACCEPT_ALL)
        .await
        .unwrap();
    assert_eq!(stored.digest.as_deref(), restored["digest"].as_str());
    assert_eq!(restored["digest"], partial["digest"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spec_platform_that_is_not_the_image_s_is_refused_before_anything_is_written() {
    let registry = TestRegistry::plain().await;
    seed_demo(&registry).await;
    let host = registry.host();
    let spec = format!(
        "image: {host}/demo:wrong\nmanifests:\n  - image: {host}/demo-s390x:v0.2\n    platform: {{os: linux, architecture: amd64}}\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = write_spec(dir.path(), "wrong.yaml", &spec);

    let refused = manifold(&["push", "from-spec", file.to_str().unwrap()])
        .await
        .failed();
    let puts = manifest_puts(&registry, "demo", "wrong");

    assert!(
        refused.stderr.contains(&format!(
            "manifests[0].platform: the spec says linux/amd64 but {host}/demo-s390x:v0.2 is linux/s390x"
        )),
        "{}",
        refused.stderr
    );
    let stored = Pusher::new(&registry)
        .manifest_exists("demo", "wrong")
        .await
        .unwrap();
    assert!(!stored, "nothing was written");
    let trusted = manifold(&[
        "push",
        "--trust-platforms",
        "from-spec",
        file.to_str().unwrap(),
    ])
    .await
    .ok();
    assert!(trusted.stdout.starts_with("Digest: sha256:"));
    assert_eq!(puts, 0);
    assert_eq!(manifest_puts(&registry, "demo", "wrong"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_and_inspect_resolve_platforms_the_way_consumers_do() {
    let registry = TestRegistry::plain().await;
    let (s390x, amd64) = seed_demo(&registry).await;
    let host = registry.host();
    push(&demo_spec(&host).target("demo:v0.2").yaml(), &[]).await;

    let good = manifold(&["verify", &format!("{host}/demo:v0.2")])
        .await
        .ok();
    let child = manifold(&[
        "inspect",
        "--platform",
        "linux/s390x",
        "--raw-bytes",
        &format!("{host}/demo:v0.2"),
    ])
    .await
    .ok();
    let raw = manifold(&[
        "--debug",
        "inspect",
        "--raw-bytes",
        &format!("{host}/demo:v0.2"),
    ])
    .await
    .ok();

    assert!(
        good.stdout
            .contains(&format!("linux/s390x → {}: ok", s390x.manifest_digest))
    );
    assert!(
        good.stdout
            .contains(&format!("linux/amd64 → {}: ok", amd64.manifest_digest))
    );
    assert_eq!(sha256_digest(&child.raw_stdout), s390x.manifest_digest);
    assert_eq!(
        raw.stderr.matches("registry request").count(),
        1,
        "{}",
        raw.stderr
    );

    let bad = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
        "manifests": [
            {"mediaType": amd64.media_type, "digest": amd64.manifest_digest, "size": amd64.manifest.len(),
             "platform": {"os": "Linux", "architecture": "x86_64"}},
            {"mediaType": s390x.media_type, "digest": s390x.manifest_digest, "size": s390x.manifest.len(),
             "platform": {"os": "linux", "architecture": "s390x"}},
            {"mediaType": amd64.media_type, "digest": amd64.manifest_digest, "size": amd64.manifest.len(),
             "platform": {"os": "linux", "architecture": "s390x"}}
        ]
    });
    let pusher = Pusher::new(&registry);
    for image in [&amd64, &s390x] {
        pusher
            .push_image("odd", &image.manifest_digest, image)
            .await
            .unwrap();
    }
    let bytes = serde_json::to_vec(&bad).unwrap();
    pusher
        .push_manifest("odd", "v1", &bytes, bad["mediaType"].as_str().unwrap())
        .await
        .unwrap();
    let odd = manifold(&["verify", &format!("{host}/odd:v1")])
        .await
        .failed();
    assert!(odd.stdout.contains("[1] Linux/x86_64"), "{}", odd.stdout);
    assert!(
        odd.stdout
            .contains("which consumers do not match: write linux/amd64")
    );
    assert!(odd.stdout.contains("[3] linux/s390x"), "{}", odd.stdout);
    assert!(odd.stdout.contains("pulls entry 1"), "{}", odd.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn append_adds_and_replaces_in_place_keeping_the_list_type_and_remove_drops_entries() {
    let registry = TestRegistry::plain().await;
    let (s390x, amd64) = seed_demo(&registry).await;
    let host = registry.host();
    let arm = seed_arm64(&registry).await;
    let first = push(&demo_spec(&host).target("demo:v0.2").yaml(), &[]).await;
    let one = |repo: &str, arch: &str| {
        format!(
            "image: {host}/demo:v0.2\nmanifests:\n  - image: {host}/{repo}:v0.2\n    platform: {{os: linux, architecture: {arch}}}\n"
        )
    };

    let added = push(&one("demo-arm64", "arm64"), &["--append"]).await;
    let amd64_v2 = seed(
        &registry,
        "demo-amd64",
        "v0.2",
        ImageFixture::new("linux", "amd64", None).seed(5),
    )
    .await;
    let replaced = push(&one("demo-amd64", "amd64"), &["--append"]).await;

    let digests = |report: &Value| -> Vec<String> {
        report["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["digest"].as_str().unwrap().to_owned())
            .collect()
    };
    let of = |images: &[&BuiltImage]| -> Vec<String> {
        images.iter().map(|i| i.manifest_digest.clone()).collect()
    };
    assert_eq!(added["media_type"], first["media_type"], "the type is kept");
    assert_eq!(digests(&added), of(&[&s390x, &amd64, &arm]));
    assert_eq!(
        digests(&replaced),
        of(&[&s390x, &amd64_v2, &arm]),
        "replaced in place"
    );
    assert_pulls(
        &registry,
        "demo:v0.2",
        &[
            ("linux", "arm64", Some("v8"), &arm.manifest_digest),
            ("linux", "amd64", None, &amd64_v2.manifest_digest),
        ],
    )
    .await;
    let name = format!("{host}/demo:v0.2");
    let removed = manifold(&["remove", "--json", "--platform", "linux/s390x", &name])
        .await
        .ok();
    let removed: Value = serde_json::from_str(&removed.stdout).unwrap();
    assert_eq!(digests(&removed), of(&[&amd64_v2, &arm]));
    assert_eq!(removed["requests"], 2, "read the list, PUT it");
    let last = manifold(&[
        "remove",
        "--platform",
        "linux/amd64",
        "--platform",
        "linux/arm64",
        &name,
    ])
    .await
    .failed();
    assert!(
        last.stderr.contains("would remove every image"),
        "{}",
        last.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn copy_takes_a_list_to_another_registry_byte_for_byte() {
    let (staging, production) = (TestRegistry::plain().await, TestRegistry::plain().await);
    let (s390x, amd64) = seed_demo(&staging).await;
    let pushed = push(&demo_spec(&staging.host()).target("demo:v0.2").yaml(), &[]).await;
    let (from, to) = (
        format!("{}/demo:v0.2", staging.host()),
        format!("{}/release/demo:v0.2", production.host()),
    );

    let copied = manifold(&["copy", "--json", "--tags", "stable", &from, &to])
        .await
        .ok();
    let again = manifold(&["copy", "--json", &from, &to]).await.ok();
    let bare = manifold(&["copy", "--json", "--no-referrers", &from, &to])
        .await
        .ok();

    let copied: Value = serde_json::from_str(&copied.stdout).unwrap();
    let again: Value = serde_json::from_str(&again.stdout).unwrap();
    let bare: Value = serde_json::from_str(&bare.stdout).unwrap();
    assert_eq!(copied["digest"], pushed["digest"]);
    assert_demo_copied(&production, pushed["digest"].as_str(), &s390x, &amd64).await;
    assert_eq!(again["unchanged"], true);
    assert_eq!(
        again["requests"],
        4 + 2,
        "the source, the destination, the source's tags and referrers, each child asked for"
    );
    assert_eq!(
        bare["requests"],
        2 + 2,
        "the source, the destination, each child asked for"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_service_fails_a_mislabelled_spec_naming_the_entry_unless_told_to_trust_it() {
    let registry = TestRegistry::plain().await;
    seed_demo(&registry).await;
    let host = registry.host();
    let app = TestApp::spawn().await;
    let spec = |tag: &str, trust: Option<bool>| {
        let mut spec = json!({
            "image": format!("{host}/demo:{tag}"),
            "manifests": [{"image": format!("{host}/demo-s390x:v0.2"),
                           "platform": {"os": "linux", "architecture": "amd64"}}]
        });
        if let Some(trust) = trust {
            spec["trust_platforms"] = trust.into();
        }
        spec
    };

    let refused = app.submit(&spec("wrong", None)).await;
    let trusted = app.submit(&spec("trusted", Some(true))).await;

    let refused = app.wait_status(&refused, "failed").await;
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "manifests[0].platform: the spec says linux/amd64 but {host}/demo-s390x:v0.2 is linux/s390x"
        )),
        "{refused:#}"
    );
    assert_eq!(refused["attempts"], 1, "a contradiction is not retried");
    assert_eq!(refused["trust_platforms"], false);
    assert_eq!(manifest_puts(&registry, "demo", "wrong"), 0);
    let trusted = app.wait_status(&trusted, "succeeded").await;
    assert_eq!(trusted["trust_platforms"], true);
    assert_eq!(trusted["entries"][0]["platform"]["architecture"], "amd64");
    assert_eq!(manifest_puts(&registry, "demo", "trusted"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_append_submitted_to_the_service_merges_into_what_the_target_holds() {
    let registry = TestRegistry::plain().await;
    let (s390x, amd64) = seed_demo(&registry).await;
    let host = registry.host();
    let arm = seed_arm64(&registry).await;
    let app = TestApp::spawn().await;
    let first = app
        .submit(&demo_spec(&host).target("demo:v0.2").json())
        .await;
    app.wait_status(&first, "succeeded").await;

    let appended = app
        .submit(&json!({
            "image": format!("{host}/demo:v0.2"),
            "append": true,
            "manifests": [{"image": format!("{host}/demo-arm64:v0.2"),
                           "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}}]
        }))
        .await;
    let list = app.wait_status(&appended, "succeeded").await;

    assert_eq!(list["operation"], "append");
    assert_eq!(list["entries"].as_array().unwrap().len(), 3, "{list:#}");
    assert_pulls(
        &registry,
        "demo:v0.2",
        &[
            ("linux", "s390x", None, &s390x.manifest_digest),
            ("linux", "amd64", None, &amd64.manifest_digest),
            ("linux", "arm64", Some("v8"), &arm.manifest_digest),
        ],
    )
    .await;
}

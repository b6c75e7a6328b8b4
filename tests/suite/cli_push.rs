//! `manifold push` end to end against a real registry, checked with skopeo.

use manifold_testkit::media_types::{DOCKER_LIST, OCI_INDEX};
use manifold_testkit::{ImageFixture, IndexFixture, Pusher, TestRegistry};
use serde_json::Value;

use crate::support::cli::{assert_demo_pulls, assert_pulls, manifold, seed, seed_demo, write_spec};
use crate::support::credentials::cred_args;
use crate::support::demo::demo_spec;

#[tokio::test]
async fn the_documentation_demo_becomes_a_docker_list_that_pulls_the_right_child() {
    let registry = TestRegistry::plain().await;
    let (s390x, amd64) = seed_demo(&registry).await;
    let dir = tempfile::tempdir().unwrap();
    let spec = demo_spec(&registry.host())
        .manifest_tool()
        .write(dir.path(), "demo.yaml");

    let run = manifold(&["push", "from-spec", spec.to_str().unwrap()])
        .await
        .ok();

    let (digest, size) = run.digest_line();
    let stored = Pusher::new(&registry)
        .get_manifest("demo", "v0.2", manifold_testkit::media_types::ACCEPT_ALL)
        .await
        .unwrap();
    assert_eq!(stored.digest.as_deref(), Some(digest.as_str()));
    assert_eq!(stored.bytes.len() as u64, size);
    assert_eq!(stored.media_type, DOCKER_LIST);
    assert_eq!(manifold_testkit::sha256_digest(&stored.bytes), digest);
    let doc = stored.json().unwrap();
    assert_eq!(
        doc["manifests"][0]["digest"],
        s390x.manifest_digest.as_str()
    );
    assert_eq!(
        doc["manifests"][1]["digest"],
        amd64.manifest_digest.as_str()
    );
    assert_demo_pulls(&registry, "demo:v0.2", &s390x, &amd64).await;
}

#[tokio::test]
async fn the_documentation_demo_as_an_oci_index_pulls_the_right_child() {
    let registry = TestRegistry::plain().await;
    let (s390x, amd64) = seed_demo(&registry).await;
    let dir = tempfile::tempdir().unwrap();
    let spec = demo_spec(&registry.host())
        .manifest_tool()
        .write(dir.path(), "demo.yaml");

    let run = manifold(&["push", "--type", "oci", "from-spec", spec.to_str().unwrap()])
        .await
        .ok();

    let (digest, _) = run.digest_line();
    let stored = Pusher::new(&registry)
        .get_manifest("demo", "v0.2", manifold_testkit::media_types::ACCEPT_ALL)
        .await
        .unwrap();
    assert_eq!(stored.media_type, OCI_INDEX);
    assert_eq!(stored.digest.as_deref(), Some(digest.as_str()));
    assert_demo_pulls(&registry, "demo:v0.2", &s390x, &amd64).await;
}

#[tokio::test]
async fn a_cold_push_of_cross_repository_sources_takes_five_requests_per_source_and_two() {
    let registry = TestRegistry::plain().await;
    let host = registry.host();
    let mut spec = format!("image: {host}/fleet:v1\nmanifests:\n");
    let arches = ["amd64", "arm64", "s390x", "ppc64le", "riscv64"];
    for arch in arches {
        seed(
            &registry,
            &format!("fleet-{arch}"),
            "v1",
            ImageFixture::new("linux", arch, None).layers(1),
        )
        .await;
        spec.push_str(&format!(
            "  - image: {host}/fleet-{arch}:v1\n    platform: {{os: linux, architecture: {arch}}}\n"
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = write_spec(dir.path(), "fleet.yaml", &spec);

    let run = manifold(&["push", "--json", "from-spec", path.to_str().unwrap()])
        .await
        .ok();

    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    // The target read; per source its manifest, its config (the spec's platform is checked),
    // a mount of the config and of the layer, the child PUT; the list PUT.
    assert_eq!(
        report["requests"],
        5 * arches.len() as u64 + 2,
        "{report:#}"
    );
    assert_eq!(report["entries"].as_array().unwrap().len(), arches.len());
}

#[tokio::test]
async fn sources_already_in_the_target_repository_need_no_copy() {
    let registry = TestRegistry::plain().await;
    let host = registry.host();
    let arm = seed(
        &registry,
        "app",
        "arm64",
        ImageFixture::new("linux", "arm64", Some("v8")),
    )
    .await;
    let ppc = seed(
        &registry,
        "app",
        "ppc64le",
        ImageFixture::new("linux", "ppc64le", None),
    )
    .await;
    let spec = format!(
        "image: {host}/app:latest\ntags: [v1, v1.0]\nmanifests:\n  - image: {host}/app:arm64\n    platform: {{os: linux, architecture: arm64, variant: v8}}\n  - image: {host}/app@{}\n    platform: {{os: linux, architecture: ppc64le}}\n",
        ppc.manifest_digest
    );
    let dir = tempfile::tempdir().unwrap();
    let path = write_spec(dir.path(), "app.yaml", &spec);

    let run = manifold(&["push", "--json", "from-spec", path.to_str().unwrap()])
        .await
        .ok();

    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    // The target read, the manifest and config of each source (the spec's platforms are
    // checked), then the list under three tags: nothing is copied.
    assert_eq!(report["requests"], 1 + 2 * 2 + 3, "{report:#}");
    let pusher = Pusher::new(&registry);
    for tag in ["latest", "v1", "v1.0"] {
        let stored = pusher
            .get_manifest("app", tag, manifold_testkit::media_types::ACCEPT_ALL)
            .await
            .unwrap();
        assert_eq!(
            stored.digest.as_deref(),
            report["digest"].as_str(),
            "tag {tag}"
        );
    }
    assert_pulls(
        &registry,
        "app:v1",
        &[
            ("linux", "arm64", Some("v8"), &arm.manifest_digest),
            ("linux", "ppc64le", None, &ppc.manifest_digest),
        ],
    )
    .await;
}

#[tokio::test]
async fn platforms_left_out_of_the_spec_are_read_from_each_image_config() {
    let registry = TestRegistry::plain().await;
    let host = registry.host();
    let armv7 = seed(
        &registry,
        "cfg-arm",
        "v1",
        ImageFixture::new("linux", "arm", Some("v7")).oci(),
    )
    .await;
    let win = seed(
        &registry,
        "cfg-win",
        "v1",
        ImageFixture::new("windows", "amd64", None).os_version("10.0.17763.1879"),
    )
    .await;
    let spec = format!(
        "image: {host}/cfg:v1\nmanifests:\n  - image: {host}/cfg-arm:v1\n  - image: {host}/cfg-win:v1\n    platform:\n      os: windows\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = write_spec(dir.path(), "cfg.yaml", &spec);

    let run = manifold(&["push", "--json", "from-spec", path.to_str().unwrap()])
        .await
        .ok();

    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        report["media_type"], OCI_INDEX,
        "an OCI child makes an auto list an index"
    );
    let p0 = &report["entries"][0]["platform"];
    assert_eq!(
        (
            p0["os"].as_str(),
            p0["architecture"].as_str(),
            p0["variant"].as_str()
        ),
        (Some("linux"), Some("arm"), Some("v7"))
    );
    let p1 = &report["entries"][1]["platform"];
    assert_eq!(p1["os.version"], "10.0.17763.1879");
    assert_eq!(p1["architecture"], "amd64");
    assert_pulls(
        &registry,
        "cfg:v1",
        &[("linux", "arm", Some("v7"), &armv7.manifest_digest)],
    )
    .await;
    assert_pulls(
        &registry,
        "cfg:v1",
        &[("windows", "amd64", None, &win.manifest_digest)],
    )
    .await;
}

#[tokio::test]
async fn a_source_that_is_an_index_is_flattened_with_its_attestations_last() {
    let registry = TestRegistry::plain().await;
    let host = registry.host();
    let amd64 = ImageFixture::new("linux", "amd64", None)
        .oci()
        .seed(1)
        .build();
    let arm64 = ImageFixture::new("linux", "arm64", Some("v8"))
        .oci()
        .seed(1)
        .build();
    let index = IndexFixture::new()
        .oci()
        .image(&amd64)
        .attestation_for(&amd64)
        .image(&arm64)
        .build();
    Pusher::new(&registry)
        .push_index("built", "v3", &index)
        .await
        .unwrap();
    let s390x = seed(
        &registry,
        "other",
        "s390x",
        ImageFixture::new("linux", "s390x", None),
    )
    .await;
    let spec = format!(
        "image: {host}/merged:v3\nmanifests:\n  - image: {host}/built:v3\n  - image: {host}/other:s390x\n    platform: {{os: linux, architecture: s390x}}\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = write_spec(dir.path(), "merged.yaml", &spec);

    let run = manifold(&["push", "from-spec", path.to_str().unwrap()])
        .await
        .ok();

    let (digest, _) = run.digest_line();
    let stored = Pusher::new(&registry)
        .get_manifest("merged", "v3", manifold_testkit::media_types::ACCEPT_ALL)
        .await
        .unwrap();
    assert_eq!(stored.digest.as_deref(), Some(digest.as_str()));
    let entries = stored.json().unwrap()["manifests"]
        .as_array()
        .unwrap()
        .clone();
    let digests: Vec<&str> = entries
        .iter()
        .map(|e| e["digest"].as_str().unwrap())
        .collect();
    let attestation = &index.attestations().next().unwrap().manifest_digest;
    assert_eq!(
        digests,
        [
            amd64.manifest_digest.as_str(),
            arm64.manifest_digest.as_str(),
            s390x.manifest_digest.as_str(),
            attestation.as_str()
        ]
    );
    assert_eq!(
        entries[3]["annotations"]["vnd.docker.reference.type"],
        "attestation-manifest"
    );
    assert_pulls(
        &registry,
        "merged:v3",
        &[
            ("linux", "amd64", None, &amd64.manifest_digest),
            ("linux", "arm64", Some("v8"), &arm64.manifest_digest),
            ("linux", "s390x", None, &s390x.manifest_digest),
        ],
    )
    .await;
}

#[tokio::test]
async fn annotations_of_the_index_and_of_entries_are_written_to_an_oci_index() {
    let registry = TestRegistry::plain().await;
    let host = registry.host();
    seed_demo(&registry).await;
    let spec = format!(
        "image: {host}/demo:annotated\nannotations:\n  org.opencontainers.image.source: https://example.com/demo\nmanifests:\n  - image: {host}/demo-s390x:v0.2\n    platform: {{os: linux, architecture: s390x}}\n    annotations: {{org.example.note: per-entry}}\n  - image: {host}/demo-amd64:v0.2\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = write_spec(dir.path(), "a.yaml", &spec);

    manifold(&["push", "from-spec", path.to_str().unwrap()])
        .await
        .ok();

    let stored = Pusher::new(&registry)
        .get_manifest(
            "demo",
            "annotated",
            manifold_testkit::media_types::ACCEPT_ALL,
        )
        .await
        .unwrap();
    assert_eq!(stored.media_type, OCI_INDEX);
    let doc = stored.json().unwrap();
    assert_eq!(
        doc["annotations"]["org.opencontainers.image.source"],
        "https://example.com/demo"
    );
    assert_eq!(
        doc["manifests"][0]["annotations"]["org.example.note"],
        "per-entry"
    );
    assert!(doc["manifests"][1].get("annotations").is_none());
}

#[tokio::test]
async fn a_docker_list_refuses_annotations_and_oci_children() {
    let registry = TestRegistry::plain().await;
    let host = registry.host();
    seed(
        &registry,
        "oci-only",
        "v1",
        ImageFixture::new("linux", "amd64", None).oci(),
    )
    .await;
    let spec = format!("image: {host}/strict:v1\nmanifests:\n  - image: {host}/oci-only:v1\n");
    let dir = tempfile::tempdir().unwrap();
    let path = write_spec(dir.path(), "s.yaml", &spec);

    let run = manifold(&[
        "push",
        "--type",
        "docker",
        "from-spec",
        path.to_str().unwrap(),
    ])
    .await
    .failed();

    assert!(
        run.stderr.contains("oci-only") && run.stderr.contains("--type oci"),
        "{}",
        run.stderr
    );
    assert!(
        Pusher::new(&registry)
            .get_tags("strict")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_missing_source_fails_the_push_unless_ignore_missing_is_given() {
    let registry = TestRegistry::plain().await;
    let host = registry.host();
    let (s390x, _) = seed_demo(&registry).await;
    let spec = format!(
        "image: {host}/partial:v1\nmanifests:\n  - image: {host}/demo-s390x:v0.2\n    platform: {{os: linux, architecture: s390x}}\n  - image: {host}/demo-ppc64le:v0.2\n    platform: {{os: linux, architecture: ppc64le}}\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = write_spec(dir.path(), "p.yaml", &spec);

    let failed = manifold(&["push", "from-spec", path.to_str().unwrap()])
        .await
        .failed();
    assert!(
        failed.stderr.contains("demo-ppc64le:v0.2"),
        "{}",
        failed.stderr
    );
    assert!(failed.stderr.contains("404"), "{}", failed.stderr);
    assert!(
        Pusher::new(&registry)
            .get_tags("partial")
            .await
            .unwrap()
            .is_empty(),
        "nothing pushed"
    );

    let run = manifold(&[
        "push",
        "from-spec",
        "--ignore-missing",
        path.to_str().unwrap(),
    ])
    .await
    .ok();
    assert!(
        run.stderr.contains("skipping") && run.stderr.contains("demo-ppc64le"),
        "{}",
        run.stderr
    );
    let stored = Pusher::new(&registry)
        .get_manifest("partial", "v1", manifold_testkit::media_types::ACCEPT_ALL)
        .await
        .unwrap();
    let doc = stored.json().unwrap();
    assert_eq!(doc["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(
        doc["manifests"][0]["digest"],
        s390x.manifest_digest.as_str()
    );
}

#[tokio::test]
async fn a_dry_run_prints_the_exact_list_and_digest_and_writes_nothing() {
    let registry = TestRegistry::plain().await;
    seed_demo(&registry).await;
    let dir = tempfile::tempdir().unwrap();
    let spec = demo_spec(&registry.host())
        .manifest_tool()
        .write(dir.path(), "demo.yaml");

    let run = manifold(&["push", "--dry-run", "from-spec", spec.to_str().unwrap()])
        .await
        .ok();

    let (digest, size) = run.digest_line();
    let list = run.stdout.lines().next().unwrap();
    assert_eq!(manifold_testkit::sha256_digest(list.as_bytes()), digest);
    assert_eq!(list.len() as u64, size);
    assert!(
        Pusher::new(&registry)
            .get_tags("demo")
            .await
            .unwrap()
            .is_empty()
    );
    // The real push produces the very list the dry run showed.
    let pushed = manifold(&["push", "from-spec", spec.to_str().unwrap()])
        .await
        .ok();
    assert_eq!(pushed.digest_line().0, digest);
}

#[tokio::test]
async fn from_args_expands_the_template_for_each_platform() {
    let registry = TestRegistry::plain().await;
    let host = registry.host();
    let (s390x, amd64) = seed_demo(&registry).await;
    let template = format!("{host}/demo-ARCH:v0.2");
    let target = format!("{host}/demo:args");

    let run = manifold(&[
        "push",
        "from-args",
        "--platforms",
        "linux/amd64,linux/s390x",
        "--template",
        &template,
        "--target",
        &target,
        "--tags",
        "extra",
    ])
    .await
    .ok();

    let (digest, _) = run.digest_line();
    let stored = Pusher::new(&registry)
        .get_manifest("demo", "extra", manifold_testkit::media_types::ACCEPT_ALL)
        .await
        .unwrap();
    assert_eq!(stored.digest.as_deref(), Some(digest.as_str()));
    assert_demo_pulls(&registry, "demo:args", &s390x, &amd64).await;
}

#[tokio::test]
async fn from_args_annotations_split_on_commas_as_manifest_tool_s_do() {
    let registry = TestRegistry::plain().await;
    let host = registry.host();
    seed_demo(&registry).await;
    let template = format!("{host}/demo-ARCH:v0.2");
    let target = format!("{host}/demo:annotated");

    manifold(&[
        "push",
        "--type",
        "oci",
        "from-args",
        "--platforms",
        "linux/amd64,linux/s390x",
        "--template",
        &template,
        "--target",
        &target,
        "--annotations",
        "org.example.a=1,org.example.b=2",
        "--annotations",
        "org.example.c=3",
    ])
    .await
    .ok();

    let stored = Pusher::new(&registry)
        .get_manifest(
            "demo",
            "annotated",
            manifold_testkit::media_types::ACCEPT_ALL,
        )
        .await
        .unwrap();
    let index: serde_json::Value = serde_json::from_slice(&stored.bytes).unwrap();
    assert_eq!(
        index["annotations"],
        serde_json::json!({"org.example.a": "1", "org.example.b": "2", "org.example.c": "3"})
    );
}

#[tokio::test]
async fn pushml_is_the_same_as_push_from_spec() {
    let registry = TestRegistry::plain().await;
    seed_demo(&registry).await;
    let dir = tempfile::tempdir().unwrap();
    let spec = demo_spec(&registry.host())
        .manifest_tool()
        .write(dir.path(), "demo.yaml");

    let a = manifold(&["pushml", spec.to_str().unwrap()]).await.ok();
    let b = manifold(&["push", "from-spec", spec.to_str().unwrap()])
        .await
        .ok();

    assert_eq!(a.digest_line(), b.digest_line());
}

#[tokio::test]
async fn a_registry_with_basic_auth_takes_the_push_with_the_right_credentials_only() {
    let registry = TestRegistry::basic("builder", "s3cret-pass").await;
    let (s390x, amd64) = seed_demo(&registry).await;
    let dir = tempfile::tempdir().unwrap();
    let spec = demo_spec(&registry.host())
        .manifest_tool()
        .write(dir.path(), "demo.yaml");
    let creds = cred_args(&registry);
    let mut args: Vec<&str> = creds.iter().map(String::as_str).collect();
    args.extend(["push", "from-spec", spec.to_str().unwrap()]);

    let run = manifold(&args).await.ok();
    assert!(!run.stderr.contains("s3cret-pass") && !run.stdout.contains("s3cret-pass"));
    assert_demo_pulls(&registry, "demo:v0.2", &s390x, &amd64).await;

    let wrong = manifold(&[
        "--username",
        "builder",
        "--password",
        "wrong",
        "push",
        "from-spec",
        spec.to_str().unwrap(),
    ])
    .await
    .failed();
    assert!(
        wrong.stderr.contains("401") && wrong.stderr.contains("credentials"),
        "{}",
        wrong.stderr
    );
    assert!(
        !wrong.stderr.contains("wrong\n") && !wrong.stderr.contains("s3cret"),
        "{}",
        wrong.stderr
    );
    let anonymous = manifold(&["push", "from-spec", spec.to_str().unwrap()])
        .await
        .failed();
    assert!(anonymous.stderr.contains("401"), "{}", anonymous.stderr);
}

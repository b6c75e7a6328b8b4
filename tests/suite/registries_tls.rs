//! Registries in the wild, part two: TLS (untrusted, `--ca-cert`, `--insecure`, `--plain-http`
//! against HTTPS), names that are not loopback (`--resolve`: HTTPS by default, `--plain-http` for a
//! plain registry), a token realm over plain HTTP under a non-loopback name (no credentials sent
//! there), and a push whose sources live on another registry with credentials of its own.

use manifold_testkit::media_types::ACCEPT_ALL;
use manifold_testkit::token::ADMIN_USER;
use manifold_testkit::{
    Access, ImageFixture, Pusher, RegistryAuth, TestCa, TestRegistry, TokenServer,
};
use serde_json::Value;

use crate::support::cli::{
    assert_demo_pulls, assert_pulls, manifold, push_spec, seed, seed_demo, write_spec,
};
use crate::support::credentials::{assert_no_secrets, basic_auth, docker_config};
use crate::support::demo::demo_spec;

/// A name that is not loopback, reached through `--resolve`.
const NAME: &str = "registry.test";

/// `--resolve registry.test:127.0.0.1`.
fn resolve() -> String {
    format!("{NAME}:127.0.0.1")
}

#[tokio::test]
async fn an_https_registry_with_an_unknown_ca_is_refused_until_its_ca_is_given_or_checks_are_off() {
    let ca = TestCa::new();
    let registry = TestRegistry::https(&ca).await;
    let (s390x, amd64) = seed_demo(&registry).await;
    let dir = tempfile::tempdir().unwrap();
    let spec = demo_spec(&registry.host())
        .flow()
        .write(dir.path(), "demo.yaml");
    let ca_path = ca.ca_cert_path().to_str().unwrap();

    let untrusted = push_spec(&[], &spec).await.failed();
    let untagged = Pusher::new(&registry).get_tags("demo").await.unwrap();
    let with_ca = push_spec(&["--ca-cert", ca_path], &spec).await.ok();
    let insecure = push_spec(&["--insecure"], &spec).await.ok();

    assert!(
        untrusted.stderr.contains("not trusted"),
        "{}",
        untrusted.stderr
    );
    assert!(
        untrusted.stderr.contains("--ca-cert") && untrusted.stderr.contains("--insecure"),
        "{}",
        untrusted.stderr
    );
    assert!(
        !untrusted.stderr.contains("retrying"),
        "an untrusted certificate is not retried: {}",
        untrusted.stderr
    );
    assert!(untagged.is_empty(), "{untagged:?}");
    assert_eq!(with_ca.digest_line(), insecure.digest_line());
    assert_demo_pulls(&registry, "demo:v0.2", &s390x, &amd64).await;
}

#[tokio::test]
async fn plain_http_against_an_https_registry_says_that_it_speaks_https() {
    let ca = TestCa::new();
    let registry = TestRegistry::https(&ca).await;
    seed_demo(&registry).await;
    let dir = tempfile::tempdir().unwrap();
    let spec = demo_spec(&registry.host())
        .flow()
        .write(dir.path(), "demo.yaml");

    let run = push_spec(&["--plain-http"], &spec).await.failed();

    assert!(run.stderr.contains("speaks HTTPS"), "{}", run.stderr);
    assert!(run.stderr.contains("--plain-http"), "{}", run.stderr);
}

#[tokio::test]
async fn a_resolved_name_is_reached_over_https_and_verified_against_the_ca_given() {
    let ca = TestCa::new();
    let cert = ca.issue_server_cert(&[NAME], &[]);
    let registry = TestRegistry::builder().tls_cert(&cert).start().await;
    // The certificate names registry.test only, so the seeding client skips verification.
    let pusher = Pusher::for_url(&registry.url(), None).unwrap().insecure();
    let mut images = Vec::new();
    for arch in ["s390x", "amd64"] {
        let image = ImageFixture::new("linux", arch, None).build();
        pusher
            .push_image(&format!("demo-{arch}"), "v0.2", &image)
            .await
            .unwrap();
        images.push(image);
    }
    let host = format!("{NAME}:{}", registry.port());
    let dir = tempfile::tempdir().unwrap();
    let spec = demo_spec(&host).flow().write(dir.path(), "demo.yaml");
    let ca_path = ca.ca_cert_path().to_str().unwrap();

    let untrusted = push_spec(&["--resolve", &resolve()], &spec).await.failed();
    let run = push_spec(&["--resolve", &resolve(), "--ca-cert", ca_path], &spec)
        .await
        .ok();

    assert!(
        untrusted.stderr.contains("--ca-cert"),
        "{}",
        untrusted.stderr
    );
    let stored = pusher
        .get_manifest("demo", "v0.2", ACCEPT_ALL)
        .await
        .unwrap();
    assert_eq!(stored.digest, Some(run.digest_line().0));
    assert_pulls(
        &registry,
        "demo:v0.2",
        &[
            ("linux", "s390x", None, &images[0].manifest_digest),
            ("linux", "amd64", None, &images[1].manifest_digest),
        ],
    )
    .await;
}

#[tokio::test]
async fn a_resolved_name_on_plain_http_needs_plain_http_and_the_error_says_so() {
    let registry = TestRegistry::plain().await;
    let (s390x, amd64) = seed_demo(&registry).await;
    let host = format!("{NAME}:{}", registry.port());
    let dir = tempfile::tempdir().unwrap();
    let spec = demo_spec(&host).flow().write(dir.path(), "demo.yaml");

    let refused = push_spec(&["--resolve", &resolve()], &spec).await.failed();
    let untagged = Pusher::new(&registry).get_tags("demo").await.unwrap();
    push_spec(&["--resolve", &resolve(), "--plain-http"], &spec)
        .await
        .ok();

    assert!(refused.stderr.contains("plain HTTP"), "{}", refused.stderr);
    assert!(
        !refused.stderr.contains("retrying"),
        "a scheme mismatch is not retried: {}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("--plain-http"),
        "{}",
        refused.stderr
    );
    assert!(untagged.is_empty(), "{untagged:?}");
    assert_demo_pulls(&registry, "demo:v0.2", &s390x, &amd64).await;
}

#[tokio::test]
async fn credentials_are_not_sent_to_a_token_realm_over_plain_http_under_a_non_loopback_name() {
    let server = TokenServer::builder()
        .user("ci", "ci-Pa55word")
        .grant_anonymous("demo*", &["pull", "push"])
        .start();
    let realm = format!("http://tokens.test:{}/token", server.port());
    let registry = TestRegistry::builder()
        .auth(RegistryAuth::Token {
            realm: realm.clone(),
            service: server.service().to_owned(),
            issuer: server.issuer().to_owned(),
            rootcertbundle: server.signer().cert_path().to_owned(),
        })
        .start()
        .await;
    // The Pusher cannot resolve tokens.test: it is given a token instead.
    let access =
        ["demo", "demo-s390x", "demo-amd64"].map(|r| Access::repository(r, &["pull", "push"]));
    let token = server.mint(ADMIN_USER, server.service(), &access).unwrap();
    let pusher = Pusher::new(&registry).with_token(&token);
    let image = ImageFixture::new("linux", "s390x", None).build();
    pusher
        .push_image("demo-s390x", "v0.2", &image)
        .await
        .unwrap();
    let spec_text = format!(
        "image: {h}/demo:v0.2\nmanifests:\n  - image: {h}/demo-s390x:v0.2\n    platform: {{os: linux, architecture: s390x}}\n",
        h = registry.host()
    );
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(dir.path(), "demo.yaml", &spec_text);
    server.clear_requests();

    let run = push_spec(
        &[
            "--resolve",
            "tokens.test:127.0.0.1",
            "--username",
            "ci",
            "--password",
            "ci-Pa55word",
        ],
        &spec,
    )
    .await
    .ok();

    let log = server.requests();
    assert!(!log.is_empty());
    for request in &log {
        assert!(!request.credentials_sent(), "{request:?}");
        assert_eq!(request.subject.as_deref(), Some(""), "{request:?}");
    }
    assert!(
        run.stderr
            .contains("not sending credentials to a token realm over plain HTTP"),
        "{}",
        run.stderr
    );
    let stored = pusher
        .get_manifest("demo", "v0.2", ACCEPT_ALL)
        .await
        .unwrap();
    assert_eq!(stored.digest, Some(run.digest_line().0));
}

#[tokio::test]
async fn sources_on_a_token_registry_are_copied_to_a_basic_registry_with_credentials_for_each() {
    let server = TokenServer::builder()
        .user("reader", "reader-Pa55")
        .grant("reader", "src-*", &["pull"])
        .start();
    let source = TestRegistry::token(&server).await;
    let target = TestRegistry::basic("writer", "writer-Pa55").await;
    let amd64 = seed(
        &source,
        "src-amd64",
        "v1",
        ImageFixture::new("linux", "amd64", None).layers(3),
    )
    .await;
    let arm64 = seed(
        &source,
        "src-arm64",
        "v1",
        ImageFixture::new("linux", "arm64", Some("v8")),
    )
    .await;
    let spec_text = format!(
        "image: {t}/near:v1\nmanifests:\n  - image: {s}/src-amd64:v1\n  - image: {s}/src-arm64:v1\n",
        t = target.host(),
        s = source.host()
    );
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(dir.path(), "two.yaml", &spec_text);
    let cfg = docker_config(
        dir.path(),
        &serde_json::json!({"auths": {
            source.host(): {"auth": basic_auth("reader", "reader-Pa55")},
            target.host(): {"auth": basic_auth("writer", "writer-Pa55")},
        }}),
    );
    server.clear_requests();

    let run = manifold(&[
        "--docker-cfg",
        cfg.to_str().unwrap(),
        "push",
        "--json",
        "from-spec",
        spec.to_str().unwrap(),
    ])
    .await
    .ok();

    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["entries"].as_array().unwrap().len(), 2);
    let log = server.requests();
    assert!(!log.is_empty());
    for request in &log {
        assert_eq!(request.user.as_deref(), Some("reader"), "{request:?}");
        assert!(
            request.scopes.iter().all(|s| s.ends_with(":pull")),
            "only pull is asked of the source registry: {request:?}"
        );
    }
    let pusher = Pusher::new(&target);
    for blob in amd64.blobs().chain(arm64.blobs()) {
        assert!(
            pusher.blob_exists("near", &blob.digest).await.unwrap(),
            "{} copied",
            blob.digest
        );
    }
    assert_pulls(
        &target,
        "near:v1",
        &[
            ("linux", "amd64", None, &amd64.manifest_digest),
            ("linux", "arm64", Some("v8"), &arm64.manifest_digest),
        ],
    )
    .await;
    let mut secrets = server.issued_tokens();
    secrets.extend(["reader-Pa55".to_owned(), "writer-Pa55".to_owned()]);
    assert_no_secrets(&run, &secrets);
}

//! Registries in the wild, part three: a self-signed `CA:TRUE` certificate made as Docker's
//! documentation makes it, given with `--ca-cert` or named by `SSL_CERT_FILE`/`SSL_CERT_DIR`
//! (pinned exactly, full verification otherwise); hosts that accept connections and never answer;
//! token realms that stall (asked again, as registries are); least privilege on a token registry
//! (`pull` on sources, `pull,push` on the target).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use manifold_testkit::media_types::ACCEPT_ALL;
use manifold_testkit::{ImageFixture, Pusher, SelfSignedCert, TestCa, TestRegistry, TokenServer};

use crate::support::cli::{
    Run, assert_stored_digest, manifold, manifold_env, push_spec, seed, seed_demo, write_spec,
};
use crate::support::demo::demo_spec;
use crate::support::stalled::StalledRegistry;

const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

/// A registry serving `cert` over HTTPS, holding the demo's two sources.
async fn self_signed_registry(cert: &SelfSignedCert) -> (TestRegistry, Pusher) {
    let registry = TestRegistry::builder()
        .tls(&cert.cert_path, &cert.key_path)
        .start()
        .await;
    let pusher = Pusher::for_url(&registry.url(), None).unwrap().insecure();
    for arch in ["s390x", "amd64"] {
        let image = ImageFixture::new("linux", arch, None).build();
        pusher
            .push_image(&format!("demo-{arch}"), "v0.2", &image)
            .await
            .unwrap();
    }
    (registry, pusher)
}

/// As manifest-tool and skopeo take it: given with `--ca-cert`, or named by `SSL_CERT_FILE` or
/// put in a directory of `SSL_CERT_DIR`.
#[tokio::test]
async fn a_self_signed_certificate_made_as_dockers_docs_say_is_trusted_when_given_or_named() {
    let cert = SelfSignedCert::docker_docs(LOOPBACK);
    let (registry, pusher) = self_signed_registry(&cert).await;
    let dir = tempfile::tempdir().unwrap();
    let spec = demo_spec(&registry.host())
        .flow()
        .write(dir.path(), "demo.yaml");
    let certs = dir.path().join("certs");
    std::fs::create_dir(&certs).unwrap();
    std::fs::copy(&cert.cert_path, certs.join("registry.pem")).unwrap();
    let (file, push) = (
        cert.cert_path.to_str().unwrap(),
        ["push", "from-spec", spec.to_str().unwrap()],
    );

    let given = push_spec(&["--ca-cert", file], &spec).await.ok();
    let by_file = manifold_env(&push, &[("SSL_CERT_FILE", file)]).await.ok();
    let by_dir = manifold_env(&push, &[("SSL_CERT_DIR", certs.to_str().unwrap())])
        .await
        .ok();
    let gone = manifold_env(&push, &[("SSL_CERT_FILE", "/nonexistent/ca.pem")])
        .await
        .failed();

    assert!(
        cert.text().unwrap().contains("CA:TRUE"),
        "the documented command makes a CA certificate"
    );
    let stored = pusher
        .get_manifest("demo", "v0.2", ACCEPT_ALL)
        .await
        .unwrap();
    assert_eq!(stored.digest, Some(given.digest_line().0));
    assert_eq!(by_file.digest_line(), given.digest_line());
    assert_eq!(by_dir.digest_line(), given.digest_line());
    assert!(
        gone.stderr.contains("SSL_CERT_FILE") && gone.stderr.contains("/nonexistent/ca.pem"),
        "{}",
        gone.stderr
    );
}

#[tokio::test]
async fn another_certificate_or_another_name_is_still_refused_and_the_advice_fits_what_was_given() {
    let cert = SelfSignedCert::docker_docs(LOOPBACK);
    // Another CA (quicker to make than a second 4096-bit key), which signed nothing here.
    let other = TestCa::new();
    let (registry, pusher) = self_signed_registry(&cert).await;
    let dir = tempfile::tempdir().unwrap();
    let spec = demo_spec(&registry.host())
        .flow()
        .write(dir.path(), "demo.yaml");
    let named = format!("registry.test:{}", registry.port());
    let spec_by_name = demo_spec(&named).flow().write(dir.path(), "named.yaml");

    let wrong_cert = push_spec(
        &["--ca-cert", other.ca_cert_path().to_str().unwrap()],
        &spec,
    )
    .await
    .failed();
    let wrong_name = push_spec(
        &[
            "--ca-cert",
            cert.cert_path.to_str().unwrap(),
            "--resolve",
            "registry.test:127.0.0.1",
        ],
        &spec_by_name,
    )
    .await
    .failed();
    let none_given = push_spec(&[], &spec).await.failed();

    let err = &wrong_cert.stderr;
    assert!(!err.contains("pass its CA"), "{err}");
    assert!(
        err.contains("neither signed by a CA given with --ca-cert"),
        "{err}"
    );
    assert!(err.contains("--insecure"), "{err}");
    let err = &wrong_name.stderr;
    assert!(err.contains("does not name registry.test"), "{err}");
    assert!(!err.contains("pass its CA"), "{err}");
    let err = &none_given.stderr;
    assert!(
        err.contains("pass its CA") && err.contains("self-signed"),
        "{err}"
    );
    assert!(pusher.get_tags("demo").await.unwrap().is_empty());
}

/// A loopback port nothing listens on yet.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn a_registry_that_accepts_connections_and_never_answers_fails_the_push_within_its_answer_timeout()
 {
    let port = free_port();
    let stalled = StalledRegistry::start(&format!("127.0.0.1:{port}")).await;
    let dir = tempfile::tempdir().unwrap();
    let spec = demo_spec(&format!("127.0.0.1:{port}"))
        .flow()
        .write(dir.path(), "demo.yaml");

    let started = Instant::now();
    let run = push_spec(&["--answer-timeout", "2"], &spec).await.failed();
    let took = started.elapsed();

    assert!(stalled.connections() > 0, "the registry was reached");
    let err = &run.stderr;
    assert!(
        err.contains(&format!("127.0.0.1:{port} does not answer")),
        "{err}"
    );
    assert!(err.contains("--answer-timeout"), "{err}");
    assert!(
        took < Duration::from_secs(15),
        "a 2 s answer budget, retries included, held the push {took:?}: {err}"
    );
}

#[tokio::test]
async fn inspect_of_a_silent_registry_says_it_does_not_answer_and_a_bad_timeout_is_refused_by_flag()
{
    let port = free_port();
    let _stalled = StalledRegistry::start(&format!("127.0.0.1:{port}")).await;
    let reference = format!("127.0.0.1:{port}/demo:v1");

    let silent = manifold(&["--answer-timeout", "1", "inspect", &reference])
        .await
        .failed();
    let bad = manifold(&["--idle-timeout=-3", "inspect", &reference])
        .await
        .failed();

    assert!(
        silent.stderr.contains("does not answer"),
        "{}",
        silent.stderr
    );
    assert!(bad.stderr.contains("--idle-timeout"), "{}", bad.stderr);
    assert!(!bad.stderr.contains("does not answer"), "{}", bad.stderr);
}

/// The demo pushed (with a 1 s answer timeout) to a registry in token mode whose realm grants
/// everyone everything but leaves its first `stalls` requests unanswered; the realm (its log
/// holding the push's requests only), the registry, the run and how long it took.
async fn push_through_a_stalling_realm(stalls: u64) -> (TokenServer, TestRegistry, Run, Duration) {
    let server = TokenServer::builder()
        .grant_anonymous("*", &["pull", "push"])
        .start();
    let registry = TestRegistry::token(&server).await;
    seed_demo(&registry).await;
    let dir = tempfile::tempdir().unwrap();
    let spec = demo_spec(&registry.host())
        .flow()
        .write(dir.path(), "demo.yaml");
    server.clear_requests();
    server.stall(stalls);

    let started = Instant::now();
    let run = push_spec(&["--answer-timeout", "1"], &spec).await;
    (server, registry, run, started.elapsed())
}

#[tokio::test]
async fn a_token_realm_that_stalls_once_is_asked_again_and_the_push_succeeds() {
    let (server, registry, run, _) = push_through_a_stalling_realm(1).await;

    let run = run.ok();
    let log = server.requests();
    assert_eq!(server.stalled(), 1);
    assert_eq!(log[0].status, 0, "the first request got no answer: {log:?}");
    assert_eq!(log[1].scopes, log[0].scopes, "the same token asked again");
    let answered: std::collections::BTreeSet<_> = log[1..].iter().map(|r| &r.scopes).collect();
    assert!(log[1..].iter().all(|r| r.status == 200), "{log:?}");
    assert_eq!(
        answered.len(),
        log.len() - 1,
        "only the request that got no answer was sent again: {log:?}"
    );
    let pushed = serde_json::json!({"digest": run.digest_line().0});
    assert_stored_digest(&registry, "demo", "v0.2", &pushed).await;
}

#[tokio::test]
async fn a_token_realm_that_never_answers_fails_the_push_after_the_retries_naming_the_realm() {
    let (server, _registry, run, took) = push_through_a_stalling_realm(u64::MAX).await;

    let err = &run.failed().stderr;
    assert!(err.contains("the token realm does not answer"), "{err}");
    assert!(err.contains(&server.realm()), "{err}");
    assert!(err.contains("--answer-timeout"), "{err}");
    assert!(err.contains("tried 4 times"), "{err}");
    assert_eq!(server.stalled(), 4, "{err}");
    assert!(took < Duration::from_secs(15), "held for {took:?}: {err}");
}

#[tokio::test]
async fn sources_are_asked_for_pull_only_and_the_target_for_pull_and_push() {
    let (user, password) = ("ci", "ci-Pa55word");
    let server = TokenServer::builder()
        .user(user, password)
        .grant(user, "src-*", &["pull"])
        .grant(user, "dst", &["pull", "push"])
        .start();
    let registry = TestRegistry::token(&server).await;
    let host = registry.host();
    for arch in ["amd64", "arm64"] {
        let fixture = ImageFixture::new("linux", arch, None);
        seed(&registry, &format!("src-{arch}"), "v1", fixture).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(
        dir.path(),
        "list.yaml",
        &format!(
            "image: {host}/dst:v1\nmanifests:\n  - image: {host}/src-amd64:v1\n  - image: {host}/src-arm64:v1\n"
        ),
    );
    server.clear_requests();
    let login = ["--username", user, "--password", password];

    push_spec(&login, &spec).await.ok();
    let mut copy = login.to_vec();
    let (from, to) = (format!("{host}/src-amd64:v1"), format!("{host}/dst:copied"));
    copy.extend(["copy", &from, &to]);
    manifold(&copy).await.ok();
    // The same sources into a target on another registry: copied, not mounted.
    let elsewhere = TestRegistry::plain().await;
    let mut copy = login.to_vec();
    let away = format!("{}/dst:away", elsewhere.host());
    copy.extend(["copy", &from, &away]);
    manifold(&copy).await.ok();
    let spec_away = write_spec(
        dir.path(),
        "away.yaml",
        &format!(
            "image: {}/dst:v1\nmanifests:\n  - image: {host}/src-amd64:v1\n  - image: {host}/src-arm64:v1\n",
            elsewhere.host()
        ),
    );
    push_spec(&login, &spec_away).await.ok();

    let log = server.requests();
    assert!(!log.is_empty());
    for request in &log {
        assert_eq!(request.user.as_deref(), Some(user), "{request:?}");
        for scope in &request.scopes {
            if scope.starts_with("repository:src-") {
                assert!(
                    scope.ends_with(":pull"),
                    "a source asked for more than pull: {request:?}"
                );
            } else {
                assert_eq!(scope, "repository:dst:pull,push", "{request:?}");
            }
        }
    }
    let asked: Vec<&String> = log.iter().flat_map(|r| &r.scopes).collect();
    assert!(
        asked.iter().any(|s| *s == "repository:src-arm64:pull"),
        "{asked:?}"
    );
    assert!(
        asked.iter().any(|s| *s == "repository:dst:pull,push"),
        "{asked:?}"
    );
}

//! Registries in the wild, part one: authentication through the `manifold` binary against real
//! registries — token auth (scopes, cached tokens, insufficient scope), identity tokens and the
//! OAuth2 POST form, docker `config.json` credentials and helpers, and secrets kept out of the
//! output. TLS, `--resolve` and several registries are in `registries_tls`.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt as _;

use manifold_testkit::{BuiltImage, ImageFixture, Pusher, TestRegistry, TokenServer};
use serde_json::Value;

use crate::support::cli::{
    assert_demo_pulls, assert_pulls, manifold, manifold_env, seed, seed_demo, write_spec,
};
use crate::support::credentials::{assert_no_secrets, basic_auth, docker_config};
use crate::support::demo::demo_spec;
use crate::support::wait;

/// The token server's user for pushes.
const USER: &str = "ci-bot";
/// Its password.
const PASSWORD: &str = "ci-bot-Pa55w0rd";

/// How many requests manifold sent to `registry`, from its access log (which may be written a moment
/// after the answer): waits up to a second for `expected`, then returns what is there.
async fn registry_requests_of_manifold(registry: &TestRegistry, expected: u64) -> u64 {
    let count = || {
        registry
            .log()
            .lines()
            .filter(|l| l.contains("\"manifold/"))
            .count() as u64
    };
    let logged = || async { count() >= expected };
    wait::until(
        "the registry logging every request",
        || format!(": {}", count()),
        logged,
    )
    .await;
    count()
}

/// `args` as `&str`s.
fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// `--username USER --password PASSWORD` and then `rest`.
fn with_user(rest: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["--username", USER, "--password", PASSWORD]
        .map(str::to_owned)
        .to_vec();
    args.extend(rest.iter().map(|a| (*a).to_owned()));
    args
}

/// Seeds `demo-ARCH:v0.2` with three layers for each of `arches`; returns the images.
async fn seed_three_layer_demo(registry: &TestRegistry, arches: &[&str]) -> Vec<BuiltImage> {
    let mut images = Vec::new();
    for arch in arches {
        let fixture = ImageFixture::new("linux", arch, None).layers(3);
        images.push(seed(registry, &format!("demo-{arch}"), "v0.2", fixture).await);
    }
    images
}

#[tokio::test]
async fn a_token_registry_takes_the_demo_with_mounts_scoped_to_each_source_and_cached_tokens() {
    let server = TokenServer::builder()
        .user(USER, PASSWORD)
        .grant(USER, "demo*", &["pull", "push"])
        .start();
    let registry = TestRegistry::token(&server).await;
    let host = registry.host();
    let arches = ["amd64", "s390x", "ppc64le"];
    let images = seed_three_layer_demo(&registry, &arches).await;
    let mut spec = format!("image: {host}/demo:v0.2\nmanifests:\n");
    for arch in arches {
        spec.push_str(&format!(
            "  - image: {host}/demo-{arch}:v0.2\n    platform: {{os: linux, architecture: {arch}}}\n"
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = write_spec(dir.path(), "demo.yaml", &spec);
    server.clear_requests();

    let pushed = manifold(&strs(&with_user(&[
        "push",
        "--json",
        "from-spec",
        path.to_str().unwrap(),
    ])))
    .await
    .ok();
    let push_log = server.requests();
    let report: Value = serde_json::from_str(&pushed.stdout).unwrap();
    let requests = report["requests"].as_u64().unwrap();
    let tokens = push_log.len() as u64;
    let registry_requests = registry_requests_of_manifold(&registry, requests - tokens).await;
    let inspected = manifold(&strs(&with_user(&[
        "inspect",
        &format!("{host}/demo:v0.2"),
    ])))
    .await
    .ok();

    let log = server.requests();
    for request in &log {
        assert_eq!(request.user.as_deref(), Some(USER), "{request:?}");
        assert!(request.credentials_sent(), "{request:?}");
        assert_eq!(request.status, 200, "{request:?}");
    }
    for arch in arches {
        let source = format!("repository:demo-{arch}:pull");
        let mount = push_log.iter().find(|r| {
            r.scopes.contains(&source) && r.scopes.iter().any(|s| s == "repository:demo:pull,push")
        });
        let mount = mount.unwrap_or_else(|| panic!("no mount token with {source}: {push_log:#?}"));
        assert!(
            mount
                .granted
                .iter()
                .any(|a| a.name == format!("demo-{arch}") && a.actions == ["pull"]),
            "{mount:?}"
        );
    }
    let scope_sets: BTreeSet<BTreeSet<&String>> =
        push_log.iter().map(|r| r.scopes.iter().collect()).collect();
    assert_eq!(
        push_log.len(),
        scope_sets.len(),
        "a token for the same scopes was asked twice: {push_log:#?}"
    );
    assert_eq!(registry_requests + tokens, requests);
    assert!(
        tokens * 2 < registry_requests,
        "{tokens} token requests for {registry_requests} registry requests"
    );
    for (image, arch) in images.iter().zip(arches) {
        assert!(
            inspected.stdout.contains(&image.manifest_digest),
            "{arch} missing from:\n{}",
            inspected.stdout
        );
        assert_pulls(
            &registry,
            "demo:v0.2",
            &[("linux", arch, None, &image.manifest_digest)],
        )
        .await;
    }
    let mut secrets = server.issued_tokens();
    secrets.push(PASSWORD.to_owned());
    secrets.push(basic_auth(USER, PASSWORD));
    assert_no_secrets(&pushed, &secrets);
    assert_no_secrets(&inspected, &secrets);
}

#[tokio::test]
async fn a_user_without_pull_on_a_source_gets_an_insufficient_scope_error_and_nothing_is_pushed() {
    let server = TokenServer::builder()
        .user(USER, PASSWORD)
        .grant(USER, "demo", &["pull", "push"])
        .grant(USER, "demo-amd64", &["pull"])
        .start();
    let registry = TestRegistry::token(&server).await;
    seed_demo(&registry).await;
    let dir = tempfile::tempdir().unwrap();
    let path = demo_spec(&registry.host())
        .flow()
        .write(dir.path(), "demo.yaml");

    let run = manifold(&strs(&with_user(&[
        "push",
        "from-spec",
        path.to_str().unwrap(),
    ])))
    .await
    .failed();

    assert!(run.stderr.contains("INSUFFICIENT_SCOPE"), "{}", run.stderr);
    assert!(
        run.stderr.contains("repository:demo-s390x:pull"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("pull on every source repository"),
        "{}",
        run.stderr
    );
    let asked = server
        .requests()
        .into_iter()
        .filter(|r| r.user.as_deref() == Some(USER))
        .any(|r| {
            r.scopes.contains(&"repository:demo-s390x:pull".to_owned()) && r.granted.is_empty()
        });
    assert!(asked, "{:#?}", server.requests());
    assert!(
        Pusher::new(&registry)
            .get_tags("demo")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn an_identity_token_from_the_docker_config_is_exchanged_with_the_oauth2_refresh_grant() {
    let refresh = "refresh-0a1b2c3d4e5f";
    let server = TokenServer::builder()
        .user(USER, PASSWORD)
        .grant(USER, "demo*", &["pull", "push"])
        .refresh_token(refresh, USER)
        .start();
    let registry = TestRegistry::token(&server).await;
    let (s390x, amd64) = seed_demo(&registry).await;
    let dir = tempfile::tempdir().unwrap();
    let path = demo_spec(&registry.host())
        .flow()
        .write(dir.path(), "demo.yaml");
    let cfg = docker_config(
        dir.path(),
        &serde_json::json!({"auths": {registry.host(): {"identitytoken": refresh}}}),
    );
    server.clear_requests();

    let run = manifold(&[
        "--docker-cfg",
        cfg.to_str().unwrap(),
        "push",
        "from-spec",
        path.to_str().unwrap(),
    ])
    .await
    .ok();

    let log = server.requests();
    assert!(!log.is_empty());
    for request in &log {
        assert_eq!(request.method, "POST", "{request:?}");
        assert_eq!(
            request.grant_type.as_deref(),
            Some("refresh_token"),
            "{request:?}"
        );
        assert!(
            request.refresh_token_sent && !request.basic_auth,
            "{request:?}"
        );
        assert_eq!(request.subject.as_deref(), Some(USER), "{request:?}");
    }
    assert_demo_pulls(&registry, "demo:v0.2", &s390x, &amd64).await;
    let mut secrets = server.issued_tokens();
    secrets.push(refresh.to_owned());
    assert_no_secrets(&run, &secrets);
}

#[tokio::test]
async fn a_token_server_that_refuses_get_is_asked_with_the_oauth2_password_grant() {
    let server = TokenServer::builder()
        .user(USER, PASSWORD)
        .grant(USER, "demo*", &["pull", "push"])
        .start();
    let registry = TestRegistry::token(&server).await;
    let (s390x, amd64) = seed_demo(&registry).await;
    let dir = tempfile::tempdir().unwrap();
    let path = demo_spec(&registry.host())
        .flow()
        .write(dir.path(), "demo.yaml");
    server.clear_requests();
    server.set_get_disabled(true);

    let run = manifold(&strs(&with_user(&[
        "push",
        "--json",
        "from-spec",
        path.to_str().unwrap(),
    ])))
    .await;
    server.set_get_disabled(false);

    let run = run.ok();
    let log = server.requests();
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    let requests = report["requests"].as_u64().unwrap();
    let registry_requests =
        registry_requests_of_manifold(&registry, requests - log.len() as u64).await;
    assert_eq!(
        requests,
        registry_requests + log.len() as u64,
        "the report counts every request, the GET refused and the POST after it included"
    );
    let posts: Vec<_> = log.iter().filter(|r| r.method == "POST").collect();
    assert!(!posts.is_empty(), "{log:#?}");
    for post in &posts {
        assert_eq!(post.grant_type.as_deref(), Some("password"), "{post:?}");
        assert_eq!(post.user.as_deref(), Some(USER), "{post:?}");
        assert_eq!(post.status, 200, "{post:?}");
    }
    assert!(
        log.iter()
            .filter(|r| r.method == "GET")
            .all(|r| r.status == 404),
        "{log:#?}"
    );
    assert_demo_pulls(&registry, "demo:v0.2", &s390x, &amd64).await;
}

#[tokio::test]
async fn base64_auth_in_the_docker_config_opens_a_basic_auth_registry() {
    let registry = TestRegistry::basic("builder", "cfg-S3cret").await;
    let (s390x, amd64) = seed_demo(&registry).await;
    let dir = tempfile::tempdir().unwrap();
    let path = demo_spec(&registry.host())
        .flow()
        .write(dir.path(), "demo.yaml");
    let auth = basic_auth("builder", "cfg-S3cret");
    let cfg = docker_config(
        dir.path(),
        &serde_json::json!({"auths": {registry.host(): {"auth": auth}}}),
    );

    let run = manifold(&[
        "--docker-cfg",
        cfg.to_str().unwrap(),
        "push",
        "from-spec",
        path.to_str().unwrap(),
    ])
    .await
    .ok();

    assert_demo_pulls(&registry, "demo:v0.2", &s390x, &amd64).await;
    assert_no_secrets(&run, &["cfg-S3cret".to_owned(), auth]);
}

#[tokio::test]
async fn a_credential_helper_named_in_cred_helpers_is_run_for_the_registry() {
    let registry = TestRegistry::basic("builder", "helper-S3cret").await;
    let (s390x, amd64) = seed_demo(&registry).await;
    let dir = tempfile::tempdir().unwrap();
    let path = demo_spec(&registry.host())
        .flow()
        .write(dir.path(), "demo.yaml");
    let bin = tempfile::tempdir().unwrap();
    let asked = bin.path().join("asked");
    let helper = bin.path().join("docker-credential-testhelper");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\nread -r server\necho \"$1 $server\" >> '{asked}'\nif [ \"$1\" = get ] && [ \"$server\" = '{host}' ]; then\n  printf '{{\"ServerURL\":\"%s\",\"Username\":\"builder\",\"Secret\":\"helper-S3cret\"}}' \"$server\"\nelse\n  echo 'credentials not found in native keychain'\n  exit 1\nfi\n",
            asked = asked.display(),
            host = registry.host()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cfg = docker_config(
        dir.path(),
        &serde_json::json!({"credHelpers": {registry.host(): "testhelper"}}),
    );
    let search = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );

    let run = manifold_env(
        &[
            "--docker-cfg",
            cfg.to_str().unwrap(),
            "push",
            "from-spec",
            path.to_str().unwrap(),
        ],
        &[("PATH", &search)],
    )
    .await
    .ok();

    let calls = std::fs::read_to_string(&asked).unwrap();
    assert_eq!(calls.trim(), format!("get {}", registry.host()));
    assert_demo_pulls(&registry, "demo:v0.2", &s390x, &amd64).await;
    assert_no_secrets(&run, &["helper-S3cret".to_owned()]);
}

#[tokio::test]
async fn a_wrong_password_in_the_docker_config_fails_with_advice_about_credentials() {
    let registry = TestRegistry::basic("builder", "right-S3cret").await;
    seed_demo(&registry).await;
    let dir = tempfile::tempdir().unwrap();
    let path = demo_spec(&registry.host())
        .flow()
        .write(dir.path(), "demo.yaml");
    let cfg = docker_config(
        dir.path(),
        &serde_json::json!({"auths": {registry.host(): {"auth": basic_auth("builder", "wrong-S3cret")}}}),
    );

    let run = manifold(&[
        "--docker-cfg",
        cfg.to_str().unwrap(),
        "push",
        "from-spec",
        path.to_str().unwrap(),
    ])
    .await
    .failed();

    assert!(run.stderr.contains("401"), "{}", run.stderr);
    assert!(
        run.stderr.contains("check the credentials"),
        "{}",
        run.stderr
    );
    assert_no_secrets(
        &run,
        &["wrong-S3cret".to_owned(), "right-S3cret".to_owned()],
    );
    assert!(
        Pusher::new(&registry)
            .get_tags("demo")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn debug_output_lists_every_request_but_no_password_or_token() {
    let basic = TestRegistry::basic("builder", "debug-S3cret").await;
    seed_demo(&basic).await;
    let server = TokenServer::builder()
        .user(USER, PASSWORD)
        .grant(USER, "demo*", &["pull", "push"])
        .start();
    let token = TestRegistry::token(&server).await;
    seed_demo(&token).await;
    let dir = tempfile::tempdir().unwrap();
    let basic_spec = demo_spec(&basic.host())
        .flow()
        .write(dir.path(), "basic.yaml");
    let token_spec = demo_spec(&token.host())
        .flow()
        .write(dir.path(), "token.yaml");

    let basic_run = manifold(&[
        "--debug",
        "--username",
        "builder",
        "--password",
        "debug-S3cret",
        "push",
        "from-spec",
        basic_spec.to_str().unwrap(),
    ])
    .await
    .ok();
    let token_run = manifold(&strs(&with_user(&[
        "--debug",
        "push",
        "from-spec",
        token_spec.to_str().unwrap(),
    ])))
    .await
    .ok();

    for run in [&basic_run, &token_run] {
        assert!(
            run.stderr.contains("registry request") && run.stderr.contains("method=PUT"),
            "{}",
            run.stderr
        );
    }
    assert!(
        token_run.stderr.contains("token request"),
        "{}",
        token_run.stderr
    );
    assert_no_secrets(
        &basic_run,
        &[
            "debug-S3cret".to_owned(),
            basic_auth("builder", "debug-S3cret"),
        ],
    );
    let mut secrets = server.issued_tokens();
    assert!(!secrets.is_empty());
    secrets.push(PASSWORD.to_owned());
    secrets.push(basic_auth(USER, PASSWORD));
    assert_no_secrets(&token_run, &secrets);
}

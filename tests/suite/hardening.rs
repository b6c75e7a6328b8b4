//! What a hostile or unlucky request can do to the service: bodies built to stall a parser,
//! registries that send the service elsewhere (redirects, token realms, upload locations),
//! callbacks that redirect, sign-in's `next`, made-up methods, identical pushes at once, bad
//! query strings and unknown addresses, wildcards in filters, planted CSRF cookies, and a public
//! service with no allow-list. Fakes (wiremock) only where a real registry cannot misbehave so.

use std::time::Duration;

use manifold_testkit::{ImageFixture, TestRegistry};
use serde_json::Value;
use wiremock::matchers::{header_exists, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::app::TestApp;
use crate::support::cli::{manifest_puts, manifold, seed_demo, write_spec};
use crate::support::demo::demo_spec;
use crate::support::forms::{csrf, no_redirects, page_as, post_form, sign_in};
use crate::support::mocks::serve_image;
use crate::support::stores::Db;

/// A spec whose `manifests` nests `depth` flow sequences: about 2 bytes a level.
fn nested(depth: usize) -> String {
    format!(
        "image: 127.0.0.1:9/demo:v1\nmanifests: {}{}\n",
        "[".repeat(depth),
        "]".repeat(depth)
    )
}

/// `POST /lists` of a YAML body, written whole to a connection of its own; the connection, for
/// [`answer_of`].
async fn sent_yaml(app: &TestApp, body: &str) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt as _;
    let address = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /lists HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/yaml\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    stream.flush().await.unwrap();
    stream
}

/// The status and body a connection of [`sent_yaml`] was answered with.
async fn answer_of(mut stream: tokio::net::TcpStream) -> (u16, String) {
    use tokio::io::AsyncReadExt as _;
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.unwrap();
    let status = raw
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = raw.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned();
    (status, body)
}

/// `host:port` of a mock.
fn host(server: &MockServer) -> String {
    server.address().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spec_nested_past_any_need_is_refused_at_once_and_the_service_keeps_answering() {
    let app = TestApp::spawn().await;
    let body = nested(100_000);

    // The four bodies are on their way (written whole to the service's sockets) before the
    // health check is asked.
    let mut posts = Vec::new();
    for _ in 0..4 {
        posts.push(sent_yaml(&app, &body).await);
    }
    let answered = async {
        let health = app.get("/healthz").await;
        let answers = futures::future::join_all(posts.into_iter().map(answer_of)).await;
        (answers, health)
    };
    let (answers, health) = tokio::time::timeout(Duration::from_secs(10), answered)
        .await
        .expect("the service answers within seconds");

    assert_eq!(health.status(), 200);
    for (status, body) in answers {
        assert_eq!(status, 400);
        let error: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(error["error"]["code"], "INVALID_SPEC", "{error:#}");
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.contains("nests brackets more than 16"), "{message}");
        assert_eq!(error["error"]["line"], 2);
    }
    let (cookie, token) = csrf(&app, "/ui/lists/new").await;
    let form = post_form(
        &app,
        "/ui/lists",
        Some(&cookie),
        &[("csrf", &token), ("yaml", &body), ("action", "dry_run")],
    )
    .await;
    assert_eq!(form.status(), 400);
    assert!(form.text().await.unwrap().contains("nests brackets"));
    let dir = tempfile::tempdir().unwrap();
    let file = write_spec(dir.path(), "deep.yaml", &body);
    let cli = manifold(&["push", "from-spec", file.to_str().unwrap()])
        .await
        .failed();
    assert!(cli.stderr.contains("nests brackets"), "{}", cli.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn with_an_allow_list_no_request_follows_a_redirect_off_the_registry() {
    let (registry, elsewhere) = (MockServer::start().await, MockServer::start().await);
    Mock::given(method("GET"))
        .and(path("/v2/demo/manifests/v1"))
        .respond_with(ResponseTemplate::new(307).insert_header(
            "Location",
            format!("{}/v2/demo/manifests/v1", elsewhere.uri()).as_str(),
        ))
        .mount(&registry)
        .await;
    let allowed = host(&registry);
    let app = TestApp::spawn_with(|a| a.registries = vec![allowed.clone()]).await;

    let refused = app.get(&format!("/inspect?ref={allowed}/demo:v1")).await;

    assert_eq!(refused.status(), 502);
    let error: Value = refused.json().await.unwrap();
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("redirected to"), "{message}");
    assert!(message.contains("MANIFOLD_BLOB_HOSTS"), "{message}");
    assert!(elsewhere.received_requests().await.unwrap().is_empty());

    let blobs = host(&elsewhere);
    let storage = TestApp::spawn_with(|a| {
        a.registries = vec![allowed.clone()];
        a.blob_hosts = vec![blobs];
    })
    .await;
    storage
        .get(&format!("/inspect?ref={allowed}/demo:v1"))
        .await;
    assert_eq!(elsewhere.received_requests().await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_follows_a_redirect_to_another_host_without_the_credentials() {
    let (registry, elsewhere) = (MockServer::start().await, MockServer::start().await);
    Mock::given(method("GET"))
        .and(path("/v2/demo/manifests/v1"))
        .and(header_exists("authorization"))
        .respond_with(ResponseTemplate::new(307).insert_header(
            "Location",
            format!("{}/v2/demo/manifests/v1", elsewhere.uri()).as_str(),
        ))
        .mount(&registry)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/demo/manifests/v1"))
        .respond_with(
            ResponseTemplate::new(401).insert_header("WWW-Authenticate", r#"Basic realm="r""#),
        )
        .mount(&registry)
        .await;

    let run = manifold(&[
        "--username",
        "builder",
        "--password",
        "S3cret",
        "inspect",
        &format!("{}/demo:v1", host(&registry)),
    ])
    .await
    .failed();

    let followed = elsewhere.received_requests().await.unwrap();
    assert_eq!(followed.len(), 1, "{}", run.stderr);
    assert!(
        !followed[0].headers.contains_key("authorization"),
        "credentials went to another host"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn with_an_allow_list_a_token_realm_off_the_allowed_hosts_is_never_asked() {
    let (registry, realm) = (MockServer::start().await, MockServer::start().await);
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).insert_header(
            "WWW-Authenticate",
            format!(r#"Bearer realm="{}/token",service="r""#, realm.uri()).as_str(),
        ))
        .mount(&registry)
        .await;
    Mock::given(method("GET"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"token": "t"})))
        .mount(&realm)
        .await;
    let allowed = host(&registry);
    let app = TestApp::spawn_with(|a| a.registries = vec![allowed.clone()]).await;

    let refused = app.get(&format!("/inspect?ref={allowed}/demo:v1")).await;

    assert_eq!(refused.status(), 403);
    let error: Value = refused.json().await.unwrap();
    assert_eq!(error["error"]["code"], "REGISTRY_NOT_ALLOWED");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("MANIFOLD_TOKEN_HOSTS"), "{message}");
    assert!(realm.received_requests().await.unwrap().is_empty());

    let realm_host = host(&realm);
    let trusting = TestApp::spawn_with(|a| {
        a.registries = vec![allowed.clone()];
        a.token_hosts = vec![realm_host];
    })
    .await;
    trusting
        .get(&format!("/inspect?ref={allowed}/demo:v1"))
        .await;
    assert!(!realm.received_requests().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn with_an_allow_list_no_blob_is_uploaded_to_a_location_off_the_registry() {
    let (registry, elsewhere) = (MockServer::start().await, MockServer::start().await);
    let image = ImageFixture::new("linux", "amd64", None).layers(1).build();
    serve_image(&registry, "src", "v1", &image).await;
    Mock::given(method("POST"))
        .and(path("/v2/target/blobs/uploads/"))
        .respond_with(
            ResponseTemplate::new(202)
                .insert_header("Location", format!("{}/upload/1", elsewhere.uri()).as_str()),
        )
        .mount(&registry)
        .await;
    let allowed = host(&registry);
    let app = TestApp::spawn_with(|a| a.registries = vec![allowed.clone()]).await;
    let spec = format!(
        "image: {allowed}/target:v1\nmanifests:\n  - image: {allowed}/src:v1\n    platform: {{os: linux, architecture: amd64}}\n"
    );

    let queued: Value = app.post_yaml(&spec).await.json().await.unwrap();
    let list = app.wait_final(queued["id"].as_str().unwrap()).await;

    assert_eq!(list["status"], "failed", "{list:#}");
    assert_eq!(list["error"]["code"], "REGISTRY_PROTOCOL", "{list:#}");
    let message = list["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("upload location on another host"),
        "{message}"
    );
    assert!(elsewhere.received_requests().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_callback_is_never_redirected() {
    let registry = TestRegistry::plain().await;
    seed_demo(&registry).await;
    let (receiver, elsewhere) = (MockServer::start().await, MockServer::start().await);
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(307)
                .insert_header("Location", format!("{}/stolen", elsewhere.uri()).as_str()),
        )
        .mount(&receiver)
        .await;
    let app = TestApp::spawn().await;
    let body = format!(
        "{}callback_url: {}/hook\n",
        demo_spec(&registry.host()).target("demo:redirected").yaml(),
        receiver.uri()
    );

    let queued: Value = app.post_yaml(&body).await.json().await.unwrap();
    let list = app
        .wait_for(queued["id"].as_str().unwrap(), |l| {
            l["callback"]["status"] == "failed"
        })
        .await;

    assert_eq!(list["status"], "succeeded");
    assert!(
        list["callback"]["error"].as_str().unwrap().contains("307"),
        "{list:#}"
    );
    assert!(elsewhere.received_requests().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_in_sends_back_only_to_a_path_of_this_site() {
    let app = TestApp::spawn_with(|a| a.api_tokens = vec!["page-token".into()]).await;
    let (cookie, token) = csrf(&app, "/ui/login").await;
    for (next, expected) in [
        ("/\t/127.0.0.1:9/x", "/"),
        ("/x\r\nSet-Cookie: a=b", "/"),
        ("/\n/evil.example", "/"),
        ("/x\0y", "/"),
        ("/ui/lists/new?a=1", "/ui/lists/new?a=1"),
    ] {
        let answer = post_form(
            &app,
            "/ui/login",
            Some(&cookie),
            &[("csrf", &token), ("token", "page-token"), ("next", next)],
        )
        .await;
        assert_eq!(answer.status(), 303, "{next:?}");
        assert_eq!(answer.headers()["location"], expected, "{next:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn signed_in_a_planted_csrf_cookie_is_worth_nothing() {
    let app = TestApp::spawn_with(|a| a.api_tokens = vec!["page-token".into()]).await;
    let (session, token) = sign_in(&app, "page-token").await;
    let planted = "0".repeat(64);
    let cookies = format!("{session}; manifold_csrf={planted}");
    let form = [
        ("target", "127.0.0.1:9/demo:v1"),
        ("source", "127.0.0.1:9/a:v1"),
        ("platform", ""),
        ("action", "push"),
    ];

    let forged = post_form(
        &app,
        "/ui/lists",
        Some(&cookies),
        &[&form[..], &[("csrf", planted.as_str())]].concat(),
    )
    .await;
    let page = page_as(&app, "/ui/lists/new", &session).await;
    let bound = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page's token")
        .to_owned();
    let genuine = post_form(
        &app,
        "/ui/lists",
        Some(&cookies),
        &[&form[..], &[("csrf", bound.as_str())]].concat(),
    )
    .await;

    assert_eq!(forged.status(), 403);
    assert_ne!(bound, token, "signed in, the token is the session's");
    assert_eq!(genuine.status(), 303);
}

#[tokio::test(flavor = "multi_thread")]
async fn made_up_methods_and_addresses_do_not_grow_the_metrics() {
    let app = TestApp::spawn().await;
    for n in 0..40 {
        let verb = reqwest::Method::from_bytes(format!("FOO{n}").as_bytes()).unwrap();
        app.request(verb, &format!("/nowhere/{n}"))
            .send()
            .await
            .unwrap();
    }

    let text = app.get("/metrics").await.text().await.unwrap();

    assert!(!text.contains("FOO"), "{text}");
    assert!(!text.contains("/nowhere"), "{text}");
    let series = text
        .lines()
        .filter(|l| l.starts_with("manifold_http_requests_total{method=\"OTHER\""))
        .count();
    assert_eq!(series, 1, "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn identical_lists_pushed_to_one_target_at_once_none_fails_and_the_newest_lands() {
    let registry = TestRegistry::plain().await;
    seed_demo(&registry).await;
    let app = TestApp::spawn_with(|a| a.workers = Some(6)).await;
    let spec = demo_spec(&registry.host()).target("demo:race").json();

    let ids = futures::future::join_all((0..12).map(|_| app.submit(&spec))).await;
    let lists = futures::future::join_all(ids.iter().map(|id| app.wait_final(id))).await;

    // They run one at a time in submission order; one whose turn comes after a newer one landed
    // (its insert committed later than the newer one's) is superseded, never failed.
    let newest = crate::support::client::assert_newest_landed(&lists);
    for list in lists.iter().filter(|l| l["status"] == "succeeded") {
        assert_eq!(list["digest"], newest["digest"], "{list:#}");
    }
    assert!(newest["digest"].is_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_resumed_push_whose_tag_holds_the_list_already_puts_nothing_again() {
    let registry = TestRegistry::plain().await;
    seed_demo(&registry).await;
    let spec = demo_spec(&registry.host()).target("demo:resumed");
    let dir = tempfile::tempdir().unwrap();
    let file = spec.write(dir.path(), "demo.yaml");
    // As if an earlier attempt PUT the tag and its process died before recording it.
    manifold(&["push", "from-spec", file.to_str().unwrap()])
        .await
        .ok();
    assert_eq!(manifest_puts(&registry, "demo", "resumed"), 1);
    let app = TestApp::spawn().await;

    let id = app.submit(&spec.json()).await;
    let list = app.wait_status(&id, "succeeded").await;

    assert_eq!(
        manifest_puts(&registry, "demo", "resumed"),
        1,
        "{}",
        registry.log()
    );
    assert!(list["digest"].is_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn every_bad_request_answers_the_error_envelope() {
    let app = TestApp::spawn().await;
    for (path, field) in [
        ("/lists?limit=abc", "limit"),
        ("/lists?status=done", "status"),
        ("/inspect", "ref"),
    ] {
        let answer = app.get(path).await;
        assert_eq!(answer.status(), 400, "{path}");
        let error: Value = answer.json().await.unwrap();
        assert_eq!(error["error"]["code"], "INVALID_QUERY", "{path}: {error:#}");
        assert_eq!(error["error"]["field"], field, "{path}");
    }
    let dry = app
        .post_as("/lists?dry_run=1", "application/yaml", "x")
        .await;
    assert_eq!(dry.status(), 400);
    let error: Value = dry.json().await.unwrap();
    assert_eq!(error["error"]["field"], "dry_run");
    let unknown = app.get("/nowhere").await;
    assert_eq!(unknown.status(), 404);
    let error: Value = unknown.json().await.unwrap();
    assert_eq!(error["error"]["code"], "NOT_FOUND");
    let wrong = app
        .request(reqwest::Method::DELETE, "/lists")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 405);
    assert_eq!(wrong.headers()["allow"], "GET, POST");
    let error: Value = wrong.json().await.unwrap();
    assert_eq!(error["error"]["code"], "METHOD_NOT_ALLOWED");
    let page = app.get("/ui/nowhere").await;
    assert_eq!(page.status(), 404);
    assert!(page.text().await.unwrap().contains("class=\"topbar\""));
    let docs = no_redirects()
        .get(format!("{}/docs", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(docs.status(), 308);
    assert_eq!(docs.headers()["location"], "/docs/");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_target_filter_has_no_wildcards() {
    for db in [Db::Postgres, Db::Sqlite] {
        let app = TestApp::spawn_on(db, |a| a.workers = Some(0)).await;
        for target in ["a_b:v1", "axb:v1", "a_b:v2", "a_bc:v1"] {
            app.submit(&demo_spec("127.0.0.1:9").target(target).json())
                .await;
        }

        let repo = app.get_json("/lists?target=127.0.0.1:9/a_b").await;
        let tag = app.get_json("/lists?target=127.0.0.1:9/a_b:v2").await;

        let targets = |page: &Value| -> Vec<String> {
            let mut t: Vec<String> = page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["target"].as_str().unwrap().to_owned())
                .collect();
            t.sort();
            t
        };
        assert_eq!(
            targets(&repo),
            ["127.0.0.1:9/a_b:v1", "127.0.0.1:9/a_b:v2"],
            "{db:?}"
        );
        assert_eq!(targets(&tag), ["127.0.0.1:9/a_b:v2"], "{db:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_public_service_without_an_allow_list_contacts_no_registry() {
    let registry = TestRegistry::plain().await;
    seed_demo(&registry).await;
    let app = TestApp::spawn_with(|a| {
        a.addr = Some("0.0.0.0:0".parse().unwrap());
        a.allow_unauthenticated = Some(true);
    })
    .await;

    let refused = app
        .get(&format!("/inspect?ref={}/demo-amd64:v0.2", registry.host()))
        .await;
    let database = app.get("/inspect?ref=127.0.0.1:5432/postgres:v1").await;

    assert_eq!(refused.status(), 403);
    assert_eq!(database.status(), 403);
    assert!(!registry.log().contains("useragent=manifold"));
}

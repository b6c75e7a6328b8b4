//! The service around the lists: callbacks, tokens, the registry allow-list, the OpenAPI
//! document, health and metrics, and bodies that are not specs at all.

use hmac::{KeyInit as _, Mac as _};
use manifold_testkit::TestRegistry;
use serde_json::Value;

use crate::support::app::TestApp;
use crate::support::cli::{manifold, seed_demo};
use crate::support::demo::demo_spec;
use crate::support::mocks::receiver_failing_once;

#[tokio::test(flavor = "multi_thread")]
async fn a_finished_list_is_posted_to_its_callback_signed_with_the_secret() {
    let registry = TestRegistry::plain().await;
    seed_demo(&registry).await;
    // The receiver fails once, then accepts: the delivery is retried.
    let receiver = receiver_failing_once().await;
    let app = TestApp::spawn_with(|a| a.callback_secret = Some("hook-secret".into())).await;
    let body = format!(
        "{}callback_url: {}/hook\n",
        demo_spec(&registry.host()).target("demo:cb").yaml(),
        receiver.uri()
    );

    let queued: Value = app.post_yaml(&body).await.json().await.unwrap();
    let id = queued["id"].as_str().unwrap();
    let list = app
        .wait_for(id, |l| l["callback"]["status"] == "delivered")
        .await;

    assert_eq!(list["status"], "succeeded");
    assert_eq!(list["callback"]["attempts"], 2, "{list:#}");
    let requests = receiver.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    let delivered = &requests[1];
    let payload: Value = serde_json::from_slice(&delivered.body).unwrap();
    assert_eq!(payload["id"], id);
    assert_eq!(payload["status"], "succeeded");
    assert_eq!(payload["digest"], list["digest"]);
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"hook-secret").unwrap();
    mac.update(&delivered.body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(
        delivered.headers["x-manifold-signature"].to_str().unwrap(),
        expected
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_callback_to_a_host_not_allowed_is_refused_at_submission() {
    let app = TestApp::spawn().await;
    let body = format!(
        "{}callback_url: https://ci.example.com/hook\n",
        demo_spec("127.0.0.1:9").target("demo:x").yaml()
    );

    let response = app.post_yaml(&body).await;

    assert_eq!(response.status(), 403);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "CALLBACK_NOT_ALLOWED");
    assert_eq!(error["error"]["field"], "callback_url");
}

#[tokio::test(flavor = "multi_thread")]
async fn with_api_tokens_writes_need_a_valid_token_and_reads_can_be_protected_too() {
    let app = TestApp::spawn_with(|a| {
        a.api_tokens = vec!["s3cret-token".into()];
        a.workers = Some(0);
    })
    .await;
    let anonymous = manifold_testkit::http_client().build().unwrap();
    let post = |token: Option<&str>| {
        let mut r = anonymous
            .post(format!("{}/lists", app.base))
            .header("content-type", "application/yaml")
            .body(demo_spec("127.0.0.1:9").target("demo:auth").yaml());
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };

    assert_eq!(post(None).await.unwrap().status(), 401);
    let forbidden = post(Some("wrong")).await.unwrap();
    assert_eq!(forbidden.status(), 403);
    assert!(!forbidden.text().await.unwrap().contains("s3cret"));
    assert_eq!(post(Some("s3cret-token")).await.unwrap().status(), 202);
    // Reads are open unless protected.
    assert_eq!(
        anonymous
            .get(format!("{}/lists", app.base))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let protected = TestApp::spawn_with(|a| {
        a.api_tokens = vec!["s3cret-token".into()];
        a.protect_reads = Some(true);
    })
    .await;
    assert_eq!(
        anonymous
            .get(format!("{}/lists", protected.base))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(protected.get("/lists").await.status(), 200);
    assert_eq!(
        anonymous
            .get(format!("{}/healthz", protected.base))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn registries_off_the_allow_list_are_never_contacted() {
    let registry = TestRegistry::plain().await;
    let app = TestApp::spawn_with(|a| a.registries = vec!["registry.example:5000".into()]).await;

    let response = app
        .post_yaml(&demo_spec(&registry.host()).target("demo:v1").yaml())
        .await;
    let inspect = app
        .get(&format!("/inspect?ref={}/demo-amd64:v0.2", registry.host()))
        .await;

    assert_eq!(response.status(), 403);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "REGISTRY_NOT_ALLOWED");
    assert_eq!(error["error"]["field"], "image");
    assert_eq!(inspect.status(), 403);
    let log = registry.log();
    assert!(
        !log.contains("useragent=manifold"),
        "manifold contacted the registry:\n{log}"
    );
    // The same check sees a service that is allowed to talk to the registry.
    let allowed = TestApp::spawn().await;
    allowed
        .get(&format!("/inspect?ref={}/demo-amd64:v0.2", registry.host()))
        .await;
    assert!(registry.log().contains("useragent=manifold"));
}

#[tokio::test(flavor = "multi_thread")]
async fn inspect_answers_the_same_document_as_the_cli() {
    let registry = TestRegistry::plain().await;
    seed_demo(&registry).await;
    let app = TestApp::spawn().await;
    let name = format!("{}/demo-amd64:v0.2", registry.host());

    let api = app.get_json(&format!("/inspect?ref={name}")).await;
    let cli = manifold(&["inspect", "--json", &name]).await.ok();

    let cli: Value = serde_json::from_str(&cli.stdout).unwrap();
    assert_eq!(api, cli);
    let missing = app
        .get(&format!("/inspect?ref={}/nope:v1", registry.host()))
        .await;
    assert_eq!(missing.status(), 404);
    let invalid = app.get("/inspect?ref=Not%20A%20Ref").await;
    assert_eq!(invalid.status(), 400);
}

// A plain test: the drift check starts no service and needs no database.
#[test]
fn the_committed_openapi_document_is_the_one_the_code_generates() {
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../openapi/openapi.json"
    ))
    .expect("openapi/openapi.json is committed");
    let generated = manifold::api::openapi_json();
    assert!(
        committed == generated,
        "openapi/openapi.json is out of date; regenerate it with:\n    cargo run -p manifold -- openapi > openapi/openapi.json"
    );
    for op in [
        "create_list",
        "get_lists",
        "get_list",
        "retry_list",
        "cancel_list",
        "get_inspect",
    ] {
        assert!(
            generated.contains(&format!("\"operationId\": \"{op}\"")),
            "{op} missing"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_service_serves_the_generated_openapi_document_and_docs_that_load_nothing_remote() {
    let app = TestApp::spawn().await;
    let served = app.get_json("/openapi.json").await;
    let doc: Value = serde_json::from_str(&manifold::api::openapi_json()).unwrap();
    assert_eq!(served["paths"], doc["paths"]);
    let docs = app.get("/docs/").await;
    assert_eq!(docs.status(), 200);
    let page = docs.text().await.unwrap();
    assert!(
        page.contains("swagger-ui") && !page.contains("https://"),
        "the docs page loads nothing from the internet"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn health_readiness_and_metrics_answer() {
    let app = TestApp::spawn_with(|a| a.workers = Some(0)).await;
    app.post_yaml(&demo_spec("127.0.0.1:9").target("demo:m").yaml())
        .await;

    let health = app.get_json("/healthz").await;
    let ready = app.get_json("/readyz").await;
    let metrics = app.get("/metrics").await.text().await.unwrap();

    assert_eq!(health["status"], "ok");
    assert_eq!(ready["status"], "ready");
    assert!(
        metrics.contains("manifold_queue_depth{kind=\"push\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "manifold_http_requests_total{method=\"POST\",route=\"/lists\",status=\"202\"} 1"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("manifold_pushes_total{outcome=\"succeeded\"}"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_bodies_get_4xx_answers_never_5xx() {
    let app = TestApp::spawn_with(|a| a.workers = Some(0)).await;
    let valid = demo_spec("127.0.0.1:9").target("demo:f").yaml();
    let mut bodies: Vec<(String, Vec<u8>)> = vec![
        ("application/json".into(), b"".to_vec()),
        ("application/json".into(), b"{".to_vec()),
        ("application/json".into(), b"[]".to_vec()),
        ("application/json".into(), b"null".to_vec()),
        ("application/json".into(), b"{\"image\": 5}".to_vec()),
        (
            "application/json".into(),
            b"{\"image\": \"x\", \"manifests\": [{}]}".to_vec(),
        ),
        (
            "application/json".into(),
            "{\"image\": \"\u{0}\"}".as_bytes().to_vec(),
        ),
        ("application/yaml".into(), b"- a\n- b\n".to_vec()),
        ("application/yaml".into(), b"image: [\n".to_vec()),
        ("application/yaml".into(), b"&a [*a]".to_vec()),
        (
            "application/yaml".into(),
            b"image: !!binary aGVsbG8=\nmanifests: []\n".to_vec(),
        ),
        ("application/yaml".into(), vec![0xff, 0xfe, 0x00]),
        ("text/html".into(), valid.clone().into_bytes()),
        ("application/yaml".into(), b"a: b\n---\nc: d\n".to_vec()),
    ];
    // Every prefix of a valid spec, and the spec with bytes flipped.
    let bytes = valid.as_bytes();
    for cut in (0..bytes.len()).step_by(7) {
        bodies.push(("application/yaml".into(), bytes[..cut].to_vec()));
    }
    for i in (0..bytes.len()).step_by(11) {
        let mut flipped = bytes.to_vec();
        flipped[i] ^= 0x5a;
        bodies.push(("application/yaml".into(), flipped));
    }
    let too_big = vec![b'#'; 6 * 1024 * 1024];

    for (content_type, body) in &bodies {
        let response = app.post_as("/lists", content_type, body.clone()).await;
        let status = response.status().as_u16();
        assert!(
            (400..500).contains(&status) || status == 202,
            "{status} for {:?}",
            String::from_utf8_lossy(body)
        );
        if status != 202 {
            let error: Value = response
                .json()
                .await
                .unwrap_or_else(|e| panic!("not the JSON envelope for {body:?}: {e}"));
            assert!(error["error"]["code"].is_string());
        }
    }
    let response = app.post_as("/lists", "application/yaml", too_big).await;
    assert_eq!(response.status(), 413);
    assert_eq!(app.get_json("/readyz").await["status"], "ready");
}

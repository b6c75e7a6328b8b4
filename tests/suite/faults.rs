//! Faults a real registry won't produce on demand — rate limits, 5xx, dropped connections, slow
//! answers, wrong digests, refused mounts, Harbor's 401 to a mount, Nexus's late view of what was
//! just pushed — from a wiremock registry, through the library with a fast retry policy. Every
//! assertion about retries counts the requests the mock received.

use std::time::{Duration, Instant};

use manifold::engine::{EngineError, PushOptions, PushReport, inspect, push};
use manifold::model::Reference;
use manifold::registry::{ClientConfig, RegistryClient, Timeouts};
use manifold::retry::RetryPolicy;
use manifold::spec::parse::from_yaml;
use manifold_testkit::{BuiltImage, ImageFixture, sha256_digest};
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// Attempts per request (the first included) of every client here.
const ATTEMPTS: u32 = 3;
/// The source repository on the mock.
const SOURCE: &str = "src-amd64";
/// The target repository on the mock.
const TARGET: &str = "target";

/// A client with a fast retry policy and a short timeout.
fn client() -> RegistryClient {
    client_with(Duration::from_millis(20))
}

/// The same, with this longest delay (the cap on `Retry-After`).
fn client_with(max_delay: Duration) -> RegistryClient {
    RegistryClient::new(ClientConfig {
        retry: RetryPolicy {
            max_attempts: ATTEMPTS,
            base_delay: Duration::from_millis(10),
            max_delay,
        },
        timeouts: Timeouts {
            connect: Duration::from_millis(400),
            request: Duration::from_millis(400),
            idle: Duration::from_millis(400),
            answer: Duration::from_secs(5),
            commit: Duration::from_millis(400),
        },
        ..ClientConfig::default()
    })
    .unwrap()
}

/// The one-layer amd64 image every mock serves as `src-amd64:v1`.
fn image() -> BuiltImage {
    ImageFixture::new("linux", "amd64", None).layers(1).build()
}

/// Pushes `target:v1` from `src-amd64:v1` on the registry at `host`.
async fn push_demo(client: &RegistryClient, host: &str) -> Result<PushReport, EngineError> {
    let spec = from_yaml(&format!(
        "image: {host}/{TARGET}:v1\nmanifests:\n  - image: {host}/{SOURCE}:v1\n    platform: {{os: linux, architecture: amd64}}\n"
    ))
    .unwrap();
    push(client, &spec, &PushOptions::default()).await
}

/// `127.0.0.1:PORT` of a mock.
fn host(server: &MockServer) -> String {
    server.address().to_string()
}

/// A 201 that reports the sha256 of the body it got, as a registry does for a manifest PUT.
fn created_with_digest(req: &Request) -> ResponseTemplate {
    ResponseTemplate::new(201).insert_header("Docker-Content-Digest", sha256_digest(&req.body))
}

/// A distribution error body.
fn error_body(code: &str, message: &str) -> serde_json::Value {
    serde_json::json!({"errors": [{"code": code, "message": message, "detail": null}]})
}

/// The source manifest answered correctly.
fn source_manifest(image: &BuiltImage) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_raw(image.manifest.clone(), &image.media_type)
        .insert_header("Docker-Content-Digest", image.manifest_digest.as_str())
}

/// A registry that does everything right: has no target yet (404), serves the source and its
/// config, mounts every blob (201), takes every manifest PUT. Faults are mounted by the tests
/// with a higher priority.
async fn healthy_registry(image: &BuiltImage) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/v2/{SOURCE}/manifests/v1")))
        .respond_with(source_manifest(image))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v2/{SOURCE}/blobs/{}", image.config.digest)))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(image.config.data.clone(), &image.config.media_type),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/v2/{TARGET}/blobs/uploads/")))
        .and(query_param("from", SOURCE))
        .respond_with(ResponseTemplate::new(201))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path(format!(
            "/v2/{TARGET}/manifests/{}",
            image.manifest_digest
        )))
        .respond_with(created_with_digest)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path(format!("/v2/{TARGET}/manifests/v1")))
        .respond_with(created_with_digest)
        .mount(&server)
        .await;
    server
}

/// The requests the mock got with this method and path.
async fn received(server: &MockServer, verb: &str, request_path: &str) -> Vec<Request> {
    server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.method.as_str() == verb && r.url.path() == request_path)
        .collect()
}

#[tokio::test]
async fn a_429_with_retry_after_is_waited_out_and_the_request_sent_again() {
    let image = image();
    let server = healthy_registry(&image).await;
    let manifest_path = format!("/v2/{SOURCE}/manifests/v1");
    Mock::given(method("GET"))
        .and(path(manifest_path.as_str()))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "1")
                .set_body_json(error_body("TOOMANYREQUESTS", "slow down")),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    // Retry-After (1 s) is capped at the longest delay; the backoff alone would wait ≤ 10 ms.
    let client = client_with(Duration::from_millis(300));

    let started = Instant::now();
    let report = push_demo(&client, &host(&server)).await.unwrap();

    assert_eq!(received(&server, "GET", &manifest_path).await.len(), 2);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "Retry-After was not honoured: {:?}",
        started.elapsed()
    );
    assert_eq!(report.entries[0].digest, image.manifest_digest);
}

#[tokio::test]
async fn a_503_on_the_list_put_is_retried_with_the_very_same_body() {
    let image = image();
    let server = healthy_registry(&image).await;
    let list_path = format!("/v2/{TARGET}/manifests/v1");
    Mock::given(method("PUT"))
        .and(path(list_path.as_str()))
        .respond_with(
            ResponseTemplate::new(503).set_body_json(error_body("UNAVAILABLE", "try later")),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;

    let report = push_demo(&client(), &host(&server)).await.unwrap();

    let puts = received(&server, "PUT", &list_path).await;
    assert_eq!(puts.len(), 2);
    assert_eq!(puts[0].body, puts[1].body);
    assert_eq!(
        puts[0].headers.get("content-type"),
        puts[1].headers.get("content-type")
    );
    assert_eq!(sha256_digest(&puts[1].body), report.digest);
}

#[tokio::test]
async fn a_registry_that_drops_every_connection_fails_after_the_last_attempt() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counter = accepted.clone();
    let dropper = tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(stream);
        }
    });

    let err = push_demo(&client(), &address.to_string())
        .await
        .unwrap_err();
    dropper.abort();

    let text = err.to_string();
    assert_eq!(err.code(), "REGISTRY_UNREACHABLE", "{text}");
    // The first request of a push reads what the target holds now.
    assert!(
        text.contains(&format!("GET manifest {address}/{TARGET}:v1")),
        "{text}"
    );
    assert!(
        text.contains(&format!("(the request was tried {ATTEMPTS} times)")),
        "{text}"
    );
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), ATTEMPTS);
}

#[tokio::test]
async fn an_answer_slower_than_the_timeout_is_abandoned_and_asked_again() {
    let image = image();
    let server = healthy_registry(&image).await;
    let manifest_path = format!("/v2/{SOURCE}/manifests/v1");
    Mock::given(method("GET"))
        .and(path(manifest_path.as_str()))
        .respond_with(source_manifest(&image).set_delay(Duration::from_secs(3)))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;

    let report = push_demo(&client(), &host(&server)).await.unwrap();

    assert_eq!(received(&server, "GET", &manifest_path).await.len(), 2);
    assert_eq!(report.entries[0].digest, image.manifest_digest);
}

#[tokio::test]
async fn a_registry_that_is_always_too_slow_gives_a_timeout_error_after_every_attempt() {
    let image = image();
    let server = healthy_registry(&image).await;
    let manifest_path = format!("/v2/{SOURCE}/manifests/v1");
    Mock::given(method("GET"))
        .and(path(manifest_path.as_str()))
        .respond_with(source_manifest(&image).set_delay(Duration::from_secs(3)))
        .with_priority(1)
        .mount(&server)
        .await;

    let err = push_demo(&client(), &host(&server)).await.unwrap_err();

    let text = err.to_string();
    assert_eq!(err.code(), "REGISTRY_UNREACHABLE", "{text}");
    assert!(text.contains("timed out"), "{text}");
    assert_eq!(
        received(&server, "GET", &manifest_path).await.len(),
        ATTEMPTS as usize
    );
}

#[tokio::test]
async fn a_source_manifest_whose_digest_header_lies_is_refused_before_anything_is_written() {
    let image = image();
    let server = healthy_registry(&image).await;
    Mock::given(method("GET"))
        .and(path(format!("/v2/{SOURCE}/manifests/v1")))
        .respond_with(
            source_manifest(&image)
                .insert_header("Docker-Content-Digest", sha256_digest(b"something else")),
        )
        .with_priority(1)
        .mount(&server)
        .await;

    let err = push_demo(&client(), &host(&server)).await.unwrap_err();

    assert_eq!(err.code(), "DIGEST_MISMATCH", "{err}");
    assert!(err.to_string().contains(&image.manifest_digest), "{err}");
    let writes: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method.as_str() != "GET")
        .map(|r| format!("{} {}", r.method, r.url))
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
}

#[tokio::test]
async fn a_list_put_answered_with_another_digest_fails_the_push() {
    let image = image();
    let server = healthy_registry(&image).await;
    let wrong = sha256_digest(b"not the list");
    Mock::given(method("PUT"))
        .and(path(format!("/v2/{TARGET}/manifests/v1")))
        .respond_with(ResponseTemplate::new(201).insert_header("Docker-Content-Digest", &wrong))
        .with_priority(1)
        .mount(&server)
        .await;

    let err = push_demo(&client(), &host(&server)).await.unwrap_err();

    assert_eq!(err.code(), "DIGEST_MISMATCH", "{err}");
    assert!(err.to_string().contains(&wrong), "{err}");
    assert!(err.to_string().contains("PUT manifest"), "{err}");
}

/// Makes the mount of `layer` answer 202 with an upload session at `location`, and serves the
/// layer from the source repository.
async fn refuse_mount(server: &MockServer, image: &BuiltImage, location: &str) {
    let layer = &image.layers[0];
    Mock::given(method("POST"))
        .and(path(format!("/v2/{TARGET}/blobs/uploads/")))
        .and(query_param("mount", layer.digest.as_str()))
        .respond_with(ResponseTemplate::new(202).insert_header("Location", location))
        .with_priority(1)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v2/{SOURCE}/blobs/{}", layer.digest)))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(layer.data.clone(), &layer.media_type),
        )
        .mount(server)
        .await;
}

#[tokio::test]
async fn a_refused_mount_uploads_the_blob_from_the_source_into_the_session_it_opened() {
    let image = image();
    let layer = &image.layers[0];
    let server = healthy_registry(&image).await;
    refuse_mount(
        &server,
        &image,
        &format!("/v2/{TARGET}/blobs/uploads/s1?_state=abc"),
    )
    .await;
    let session = format!("/v2/{TARGET}/blobs/uploads/s1");
    Mock::given(method("PUT"))
        .and(path(session.as_str()))
        .and(query_param("_state", "abc"))
        .and(query_param("digest", layer.digest.as_str()))
        .respond_with(ResponseTemplate::new(201))
        .mount(&server)
        .await;

    push_demo(&client(), &host(&server)).await.unwrap();

    let source_path = format!("/v2/{SOURCE}/blobs/{}", layer.digest);
    assert_eq!(received(&server, "GET", &source_path).await.len(), 1);
    assert!(received(&server, "PATCH", &session).await.is_empty());
    let put = received(&server, "PUT", &session).await;
    assert_eq!(put.len(), 1, "a small blob goes up in one request");
    assert_eq!(put[0].body, layer.data);
    let opened = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method.as_str() == "POST" && r.url.query_pairs().all(|(k, _)| k != "mount"))
        .count();
    assert_eq!(opened, 0, "the session the mount opened was used");
    let puts = received(&server, "PUT", &format!("/v2/{TARGET}/manifests/v1")).await;
    assert_eq!(puts.len(), 1);
}

/// Harbor answers a mount from a project that does not exist with `401 UNAUTHORIZED` instead of
/// opening an upload (`202`).
#[tokio::test]
async fn a_mount_answered_401_as_harbor_does_is_an_upload_in_a_session_of_its_own() {
    let image = image();
    let layer = &image.layers[0];
    let server = healthy_registry(&image).await;
    let denied = "unauthorized to access repository: src-amd64, action: pull";
    Mock::given(method("POST"))
        .and(path(format!("/v2/{TARGET}/blobs/uploads/")))
        .and(query_param("mount", layer.digest.as_str()))
        .respond_with(ResponseTemplate::new(401).set_body_json(error_body("UNAUTHORIZED", denied)))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v2/{SOURCE}/blobs/{}", layer.digest)))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(layer.data.clone(), &layer.media_type),
        )
        .mount(&server)
        .await;
    let session = format!("/v2/{TARGET}/blobs/uploads/h1");
    Mock::given(method("POST"))
        .and(path(format!("/v2/{TARGET}/blobs/uploads/")))
        .and(query_param_is_missing("mount"))
        .respond_with(ResponseTemplate::new(202).insert_header("Location", session.as_str()))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path(session.as_str()))
        .and(query_param("digest", layer.digest.as_str()))
        .respond_with(ResponseTemplate::new(201))
        .mount(&server)
        .await;

    push_demo(&client(), &host(&server)).await.unwrap();

    let sent = received(&server, "PUT", &session).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body, layer.data);
    let puts = received(&server, "PUT", &format!("/v2/{TARGET}/manifests/v1")).await;
    assert_eq!(puts.len(), 1);
}

/// Nexus answers a list's PUT with `MANIFEST_BLOB_UNKNOWN` for a moment after the children it
/// lists were pushed (its storage is eventually consistent).
#[tokio::test]
async fn a_list_put_that_does_not_see_its_new_children_yet_is_sent_again() {
    let image = image();
    let server = healthy_registry(&image).await;
    let list_path = format!("/v2/{TARGET}/manifests/v1");
    Mock::given(method("PUT"))
        .and(path(list_path.as_str()))
        .respond_with(ResponseTemplate::new(400).set_body_json(error_body(
            "MANIFEST_BLOB_UNKNOWN",
            "blob unknown to registry",
        )))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;

    let report = push_demo(&client(), &host(&server)).await.unwrap();

    assert_eq!(received(&server, "PUT", &list_path).await.len(), 3);
    assert_eq!(report.entries.len(), 1);
}

#[tokio::test]
async fn a_copy_that_fails_on_the_way_starts_again_in_a_new_session() {
    let image = image();
    let layer = &image.layers[0];
    let server = healthy_registry(&image).await;
    refuse_mount(&server, &image, &format!("/v2/{TARGET}/blobs/uploads/s1")).await;
    let first = format!("/v2/{TARGET}/blobs/uploads/s1");
    let second = format!("/v2/{TARGET}/blobs/uploads/s2");
    Mock::given(method("PUT"))
        .and(path(first.as_str()))
        .respond_with(ResponseTemplate::new(500).set_body_json(error_body("UNKNOWN", "disk")))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/v2/{TARGET}/blobs/uploads/")))
        .and(query_param_is_missing("mount"))
        .respond_with(ResponseTemplate::new(202).insert_header("Location", second.as_str()))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path(second.as_str()))
        .and(query_param("digest", layer.digest.as_str()))
        .respond_with(ResponseTemplate::new(201))
        .mount(&server)
        .await;

    push_demo(&client(), &host(&server)).await.unwrap();

    let failed = received(&server, "PUT", &first).await;
    assert_eq!(failed.len() as u32, ATTEMPTS, "the same bytes, sent again");
    assert_eq!(received(&server, "DELETE", &first).await.len(), 1);
    let retried = received(&server, "PUT", &second).await;
    assert_eq!(retried.len(), 1);
    assert_eq!(retried[0].body, layer.data);
    let source_path = format!("/v2/{SOURCE}/blobs/{}", layer.digest);
    assert_eq!(received(&server, "GET", &source_path).await.len(), 2);
}

#[tokio::test]
async fn a_manifest_that_does_not_exist_is_asked_for_exactly_once() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/gone/manifests/v1"))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(error_body("MANIFEST_UNKNOWN", "unknown")),
        )
        .mount(&server)
        .await;
    let reference = Reference::parse(&format!("{}/gone:v1", host(&server))).unwrap();

    let err = inspect(&client(), &reference, false, false)
        .await
        .unwrap_err();

    assert_eq!(err.code(), "MANIFEST_UNKNOWN", "{err}");
    assert_eq!(
        received(&server, "GET", "/v2/gone/manifests/v1")
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn a_400_on_the_list_put_is_not_retried() {
    let image = image();
    let server = healthy_registry(&image).await;
    let list_path = format!("/v2/{TARGET}/manifests/v1");
    Mock::given(method("PUT"))
        .and(path(list_path.as_str()))
        .respond_with(
            ResponseTemplate::new(400).set_body_json(error_body("MANIFEST_INVALID", "bad")),
        )
        .with_priority(1)
        .mount(&server)
        .await;

    let err = push_demo(&client(), &host(&server)).await.unwrap_err();

    assert_eq!(err.code(), "MANIFEST_INVALID", "{err}");
    assert!(!err.is_retryable());
    assert_eq!(received(&server, "PUT", &list_path).await.len(), 1);
}

#[tokio::test]
async fn a_401_is_not_retried_when_there_is_nothing_new_to_try() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/locked/manifests/v1"))
        .respond_with(
            ResponseTemplate::new(401)
                .insert_header("WWW-Authenticate", r#"Basic realm="locked""#)
                .set_body_json(error_body("UNAUTHORIZED", "authentication required")),
        )
        .mount(&server)
        .await;
    let reference = Reference::parse(&format!("{}/locked:v1", host(&server))).unwrap();

    let err = inspect(&client(), &reference, false, false)
        .await
        .unwrap_err();

    assert_eq!(err.code(), "UNAUTHORIZED", "{err}");
    assert!(err.to_string().contains("--username"), "{err}");
    assert_eq!(
        received(&server, "GET", "/v2/locked/manifests/v1")
            .await
            .len(),
        1
    );
}

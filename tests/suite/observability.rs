//! What an operator follows: `manifold serve` with JSON logs, where every line carries the fields
//! of the spans it was logged in — the HTTP request's `request_id` (also answered as
//! `X-Request-Id`), the job's `list_id`, `job_id` and `attempt`, and a registry request's method,
//! path template and status inside its job.

use manifold_testkit::TestRegistry;
use serde_json::Value;

use crate::support::cli::seed_demo;
use crate::support::demo::demo_spec;
use crate::support::serve::Serve;

/// The log's lines, as JSON.
fn lines(serve: &Serve) -> Vec<Value> {
    serve
        .log()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The span named `name` a line was logged in.
fn span<'a>(line: &'a Value, name: &str) -> Option<&'a Value> {
    line["spans"].as_array()?.iter().find(|s| s["name"] == name)
}

#[tokio::test(flavor = "multi_thread")]
async fn json_logs_tie_each_line_to_its_request_its_job_and_its_registry_request() {
    let registry = TestRegistry::plain().await;
    seed_demo(&registry).await;
    let host = registry.host();
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start_in(
        dir.path(),
        &[
            ("MANIFOLD_LOG_FORMAT", "json"),
            ("MANIFOLD_LOG", "manifold=debug"),
            ("MANIFOLD_REGISTRIES", host.as_str()),
        ],
    )
    .await;

    let posted = serve
        .request(reqwest::Method::POST, "/lists")
        .header("X-Request-Id", "ci-run-42.post")
        .json(&demo_spec(&host).json())
        .send()
        .await
        .unwrap();
    let answered_id = posted.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let id = posted.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    serve.wait_status(&id, "succeeded").await;
    let fresh = serve.get("/healthz").await;
    let log = lines(&serve);

    assert_eq!(
        answered_id, "ci-run-42.post",
        "a plain id the client sent is kept"
    );
    let generated = fresh.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(generated.len(), 32, "{generated}");
    let answered = log
        .iter()
        .find(|l| span(l, "request").is_some_and(|s| s["request_id"] == "ci-run-42.post"))
        .unwrap_or_else(|| panic!("no line of the request:\n{}", serve.log()));
    assert_eq!(span(answered, "request").unwrap()["route"], "/lists");
    let pushed = log
        .iter()
        .find(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("pushed"))
        })
        .unwrap_or_else(|| panic!("no pushed line:\n{}", serve.log()));
    let job = span(pushed, "job").expect("the pushed line is in its job's span");
    assert_eq!(job["list_id"], id.as_str());
    assert_eq!(job["attempt"], 1);
    assert!(job["job_id"].as_i64().is_some(), "{job}");
    let put = log
        .iter()
        .find(|l| {
            span(l, "registry_request").is_some_and(|r| {
                r["method"] == "PUT" && r["path"] == "/v2/{name}/manifests/{reference}"
            }) && l["message"] == "done"
        })
        .unwrap_or_else(|| panic!("no registry request line:\n{}", serve.log()));
    assert_eq!(span(put, "job").unwrap()["list_id"], id.as_str());
    assert_eq!(put["status"], 201, "{put}");
    assert_eq!(
        span(put, "registry_request").unwrap()["registry"],
        host.as_str()
    );
}

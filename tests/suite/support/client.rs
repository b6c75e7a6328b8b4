//! One client for the service under test, whichever way it runs: in-process
//! ([`TestApp`](super::app::TestApp)) or as a `manifold serve` process
//! ([`Serve`](super::serve::Serve)). A base URL, the API token when the service has one, and a
//! reqwest client; failures add what the harness can tell about the service (a process's log).

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

/// Longest wait for anything in these tests.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// What a failure message adds about the service.
type Context = Arc<dyn Fn() -> String + Send + Sync>;

/// A client that speaks the service's API.
#[derive(Clone)]
pub struct ServiceClient {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The reqwest client (no token of its own: see [`ServiceClient::request`]).
    pub http: reqwest::Client,
    /// The API token sent with every [`ServiceClient::request`], when the service has one.
    pub token: Option<String>,
    context: Option<Context>,
}

impl ServiceClient {
    /// A client for the service at `base`.
    pub fn new(base: String, token: Option<String>) -> Self {
        Self {
            base,
            http: manifold_testkit::http_client().build().unwrap(),
            token,
            context: None,
        }
    }

    /// The same, adding `context()` (on a line of its own) to its failure messages.
    pub fn with_context(mut self, context: impl Fn() -> String + Send + Sync + 'static) -> Self {
        self.context = Some(Arc::new(context));
        self
    }

    /// What the harness adds to a failure: `\n` and the context, or nothing.
    fn context(&self) -> String {
        self.context
            .as_ref()
            .map(|c| format!("\n{}", c()))
            .unwrap_or_default()
    }

    /// A request with the API token, when the service has one.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let builder = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(t) => builder.bearer_auth(t),
            None => builder,
        }
    }

    /// `GET path` (with the API token, when the service has one).
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.request(reqwest::Method::GET, path)
            .send()
            .await
            .unwrap()
    }

    /// `POST path` with no body (with the API token, when the service has one).
    pub async fn post(&self, path: &str) -> reqwest::Response {
        self.request(reqwest::Method::POST, path)
            .send()
            .await
            .unwrap()
    }

    /// `POST path` with this body, sent as `content_type`.
    pub async fn post_as(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        self.request(reqwest::Method::POST, path)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// `POST /lists` with a YAML body.
    pub async fn post_yaml(&self, yaml: &str) -> reqwest::Response {
        self.post_as("/lists", "application/yaml", yaml.to_owned())
            .await
    }

    /// `POST /lists` with a JSON body.
    pub async fn post_json(&self, body: &Value) -> reqwest::Response {
        self.post_json_to("/lists", body).await
    }

    /// `POST path` with a JSON body.
    pub async fn post_json_to(&self, path: &str, body: &Value) -> reqwest::Response {
        self.request(reqwest::Method::POST, path)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// `POST /lists` with a JSON spec, asserting 202; the list's id.
    pub async fn submit(&self, spec: &Value) -> String {
        self.submit_to("/lists", spec).await
    }

    /// `POST path` (`/lists`, `/removals`, `/copies`) with a JSON body, asserting 202; the
    /// queued list's id.
    pub async fn submit_to(&self, path: &str, body: &Value) -> String {
        let response = self.post_json_to(path, body).await;
        assert_eq!(response.status(), 202, "POST {path}:{}", self.context());
        let list: Value = response.json().await.unwrap();
        list["id"].as_str().unwrap().to_owned()
    }

    /// `GET path` as JSON, asserting 200.
    pub async fn get_json(&self, path: &str) -> Value {
        let r = self.get(path).await;
        assert_eq!(r.status(), 200, "GET {path}");
        r.json().await.unwrap()
    }

    /// `GET path`'s body as text, asserting 200.
    pub async fn get_text(&self, path: &str) -> String {
        let r = self.get(path).await;
        assert_eq!(r.status(), 200, "GET {path}");
        r.text().await.unwrap()
    }

    /// Waits until the list reaches a final status; returns it.
    pub async fn wait_final(&self, id: &str) -> Value {
        self.wait_for(id, is_final).await
    }

    /// Waits until `done` holds for the list (up to [`PATIENCE`]).
    pub async fn wait_for(&self, id: &str, done: impl Fn(&Value) -> bool) -> Value {
        self.poll(id, "got there", done).await
    }

    /// Waits until the list has `status`; returns it. Fails fast on another final status.
    pub async fn wait_status(&self, id: &str, status: &str) -> Value {
        self.poll(id, &format!("became {status}"), |list| {
            if list["status"] == status {
                return true;
            }
            assert!(
                !is_final(list),
                "list {id} ended otherwise than {status}: {list:#}{}",
                self.context()
            );
            false
        })
        .await
    }

    /// Reads the list until `done` holds for it; fails after [`PATIENCE`], saying it never `goal`.
    async fn poll(&self, id: &str, goal: &str, done: impl Fn(&Value) -> bool) -> Value {
        let last = std::sync::Mutex::new(Value::Null);
        let context = || format!(": {:#}{}", last.lock().unwrap(), self.context());
        super::wait::until_some(&format!("list {id} {goal}"), context, || async {
            let list = self.get_json(&format!("/lists/{id}")).await;
            if done(&list) {
                return Some(list);
            }
            *last.lock().unwrap() = list;
            None
        })
        .await
    }
}

/// Whether the list's status is final.
fn is_final(list: &Value) -> bool {
    matches!(
        list["status"].as_str(),
        Some("succeeded" | "failed" | "canceled" | "superseded")
    )
}

/// Checks lists submitted to one target at once, all final: the newest (highest `sequence`)
/// succeeded, and every other one either succeeded or was superseded by a newer one — none failed.
/// Returns the newest.
pub fn assert_newest_landed(lists: &[Value]) -> &Value {
    let newest = lists
        .iter()
        .max_by_key(|l| l["sequence"].as_i64())
        .expect("lists");
    assert_eq!(newest["status"], "succeeded", "{newest:#}");
    for list in lists {
        match list["status"].as_str() {
            Some("succeeded") => {}
            Some("superseded") => {
                let by = lists
                    .iter()
                    .find(|l| l["id"] == list["superseded_by"])
                    .unwrap_or_else(|| panic!("superseded by a list of another batch: {list:#}"));
                assert!(
                    by["sequence"].as_i64() > list["sequence"].as_i64(),
                    "{list:#}"
                );
            }
            _ => panic!("a list neither landed nor was superseded: {list:#}"),
        }
    }
    newest
}

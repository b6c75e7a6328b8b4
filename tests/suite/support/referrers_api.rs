//! A front with the OCI 1.1 referrers API before a real registry, for the API path that Debian's
//! distribution 2.8 lacks. Every request is passed on to the registry unchanged, except:
//! a manifest `PUT` whose body names a `subject` is remembered (and answered with `OCI-Subject`,
//! as the spec asks), and `GET /v2/<name>/referrers/<digest>` is answered from what was
//! remembered for that repository and subject, filtered by `artifactType` when asked. The
//! front records each request line it saw.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::dev::ServerHandle;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// What the front remembers: the descriptors of the manifests that name each subject, by
/// repository and subject digest.
type Listed = HashMap<(String, String), Vec<Value>>;

struct Front {
    upstream: String,
    host: String,
    http: reqwest::Client,
    listed: Mutex<Listed>,
    seen: Mutex<Vec<String>>,
}

/// The front, listening on loopback until dropped.
pub struct ReferrersFront {
    /// `127.0.0.1:PORT`, the registry's host as clients should name it.
    pub host: String,
    front: Arc<Front>,
    server: ServerHandle,
}

impl ReferrersFront {
    /// A front before the registry at `upstream` (`127.0.0.1:PORT`, plain HTTP).
    pub async fn start(upstream: &str) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let front = Arc::new(Front {
            upstream: upstream.to_owned(),
            host: host.clone(),
            http: manifold_testkit::http_client()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            listed: Mutex::new(HashMap::new()),
            seen: Mutex::new(Vec::new()),
        });
        let server = manifold_testkit::quirks::serve(listener, front.clone(), pass);
        Self {
            host,
            front,
            server,
        }
    }

    /// The request lines (`GET /v2/…`) seen so far.
    pub fn seen(&self) -> Vec<String> {
        self.front.seen.lock().unwrap().clone()
    }

    /// The digests the referrers API lists for `subject` in `repo`.
    pub fn listed(&self, repo: &str, subject: &str) -> Vec<String> {
        let listed = self.front.listed.lock().unwrap();
        listed
            .get(&(repo.to_owned(), subject.to_owned()))
            .into_iter()
            .flatten()
            .filter_map(|d| d["digest"].as_str().map(str::to_owned))
            .collect()
    }
}

impl Drop for ReferrersFront {
    fn drop(&mut self) {
        drop(self.server.stop(false));
    }
}

async fn pass(req: HttpRequest, body: web::Bytes, front: web::Data<Front>) -> HttpResponse {
    let path = req.uri().path().to_owned();
    front
        .seen
        .lock()
        .unwrap()
        .push(format!("{} {}", req.method(), req.uri()));
    if let Some((repo, subject)) = referrers_path(&path)
        && req.method() == actix_web::http::Method::GET
    {
        return listing(&front, &req, repo, subject);
    }
    let url = format!("http://{}{}", front.upstream, req.uri());
    let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes()).unwrap();
    let mut forward = front.http.request(method, url).body(body.to_vec());
    for (name, value) in req.headers() {
        if name != "host" && name != "content-length" {
            forward = forward.header(name.as_str(), value.as_bytes());
        }
    }
    let Ok(answer) = forward.send().await else {
        return HttpResponse::BadGateway().finish();
    };
    let mut out = HttpResponse::build(answer.status().as_u16().try_into().unwrap());
    for (name, value) in answer.headers() {
        let value = value.to_str().unwrap_or_default();
        let value = value.replace(&front.upstream, &front.host);
        if let (Ok(n), Ok(v)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value),
        ) {
            out.insert_header((n, v));
        }
    }
    let created = answer.status() == reqwest::StatusCode::CREATED;
    let digest = answer
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = answer.bytes().await.unwrap_or_default();
    if created
        && let (Some(repo), Some(digest)) = (manifest_put_repo(&req, &path), digest)
        && let Some(subject) = remember(&front, repo, &digest, &body)
    {
        out.insert_header(("OCI-Subject", subject));
    }
    out.body(bytes)
}

/// `(name, digest)` of `/v2/<name>/referrers/<digest>`.
fn referrers_path(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/v2/")?;
    let (name, digest) = rest.rsplit_once("/referrers/")?;
    Some((name, digest))
}

/// The repository of a `PUT /v2/<name>/manifests/<reference>`.
fn manifest_put_repo<'a>(req: &HttpRequest, path: &'a str) -> Option<&'a str> {
    if req.method() != actix_web::http::Method::PUT {
        return None;
    }
    let rest = path.strip_prefix("/v2/")?;
    Some(rest.rsplit_once("/manifests/")?.0)
}

/// Remembers a manifest that names a subject; the subject's digest.
fn remember(front: &Front, repo: &str, digest: &str, body: &[u8]) -> Option<String> {
    let doc: Value = serde_json::from_slice(body).ok()?;
    let subject = doc["subject"]["digest"].as_str()?.to_owned();
    let artifact_type = doc["artifactType"]
        .as_str()
        .or(doc["config"]["mediaType"].as_str());
    let mut descriptor = json!({
        "mediaType": doc["mediaType"],
        "digest": digest,
        "size": body.len(),
    });
    if let Some(t) = artifact_type {
        descriptor["artifactType"] = t.into();
    }
    if let Some(a) = doc.get("annotations") {
        descriptor["annotations"] = a.clone();
    }
    let mut listed = front.listed.lock().unwrap();
    let entries = listed
        .entry((repo.to_owned(), subject.clone()))
        .or_default();
    if !entries.iter().any(|e| e["digest"] == digest) {
        entries.push(descriptor);
    }
    Some(subject)
}

/// The referrers API's answer: an image index of what names `subject`.
fn listing(front: &Front, req: &HttpRequest, repo: &str, subject: &str) -> HttpResponse {
    let wanted = url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == "artifactType")
        .map(|(_, v)| v.into_owned());
    let listed = front.listed.lock().unwrap();
    let manifests: Vec<Value> = listed
        .get(&(repo.to_owned(), subject.to_owned()))
        .into_iter()
        .flatten()
        .filter(|d| wanted.as_deref().is_none_or(|w| d["artifactType"] == w))
        .cloned()
        .collect();
    let mut out = HttpResponse::Ok();
    out.content_type(OCI_INDEX);
    if wanted.is_some() {
        out.insert_header(("OCI-Filters-Applied", "artifactType"));
    }
    out.body(
        json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}).to_string(),
    )
}

//! Registry events from the other registries: each receiver's payload as its registry documents it
//! (Harbor, GitHub's GHCR package webhooks, Docker Hub, Quay, GitLab's registry), with its
//! secret where that registry puts it → taken and the watched lists of the repository made due;
//! forged or without it → 403 and nothing taken. The rate limit answers 429 with `Retry-After`.
//! ghcr.io, docker.io and quay.io are never contacted: their events are only counted. A secret in
//! the URL shows in no log line (the request is logged by its route).

use hmac::{KeyInit as _, Mac as _};
use manifold_testkit::{ImageFixture, RegistryBuilder, TestRegistry};
use serde_json::{Value, json};

use crate::support::app::TestApp;
use crate::support::cli::seed;
use crate::support::serve::Serve;
use crate::support::stores::Db;

const SECRET: &str = "event-secret-for-tests";

/// A post to a receiver: the path under `/events/`, the body, the headers.
type Post<'a> = (&'a str, Value, Vec<(&'a str, &'a str)>);

/// Posts `body` to `/events/{path}` with `headers`; the status and the body answered.
async fn post(app: &TestApp, path: &str, headers: &[(&str, &str)], body: &Value) -> (u16, Value) {
    let mut request = app
        .request(reqwest::Method::POST, &format!("/events/{path}"))
        .header("Content-Type", "application/json")
        .body(serde_json::to_vec(body).unwrap());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let answer = request.send().await.unwrap();
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or(Value::Null))
}

/// Harbor's `PUSH_ARTIFACT` webhook in its Default format, field for field as
/// https://goharbor.io/docs/main/working-with-projects/project-configuration/configure-webhooks/
/// ("Payload Format", "Artifact pushed") shows it — `type`, `occur_at`, `operator`,
/// `event_data.resources[]` (`digest`, `tag`, `resource_url`: `host/namespace/name:tag`) and
/// `event_data.repository` (`date_created`, `name`, `namespace`: the project,
/// `repo_full_name`: `namespace/name`, `repo_type`) — for `namespace/name` in `host`.
fn harbor(host: &str, namespace: &str, name: &str) -> Value {
    json!({
        "type": "PUSH_ARTIFACT",
        "occur_at": 1680501893,
        "operator": "admin",
        "event_data": {
            "resources": [{
                "digest": "sha256:954b378c375d852eb3c63ab88978f640b4348b01c1b3456a024a81536dafbbf4",
                "tag": "v0.2",
                "resource_url": format!("{host}/{namespace}/{name}:v0.2")
            }],
            "repository": {
                "date_created": 1680501893,
                "name": name,
                "namespace": namespace,
                "repo_full_name": format!("{namespace}/{name}"),
                "repo_type": "private"
            }
        }
    })
}

/// The same push in Harbor's CloudEvents format (the same page's "Artifact pushed",
/// *CloudEvents*): `specversion`, `id`, `requestid`, `source`, `type` (`harbor.artifact.pushed`),
/// `datacontenttype`, `time`, `operator`, and `event_data`'s content under `data`.
fn harbor_cloudevents(host: &str, namespace: &str, name: &str) -> Value {
    let default = harbor(host, namespace, name);
    json!({
        "specversion": "1.0",
        "id": "66e18103-09c1-41f6-982f-37df223f3eeb",
        "requestid": "51c0b694-0168-4f3c-b0db-282565455d7b",
        "source": "/projects/2/webhook/policies/15",
        "type": "harbor.artifact.pushed",
        "datacontenttype": "application/json",
        "time": "2023-04-03T06:04:46Z",
        "data": default["event_data"],
        "operator": "admin"
    })
}

/// Quay's `repo_push` notification, field for field as
/// https://docs.quay.io/guides/notifications.html ("Repository Push") shows it — `name`,
/// `repository` (`namespace/name`), `namespace`, `docker_url` (`host/namespace/name`),
/// `homepage`, `updated_tags` (a list of tags) — for `namespace/name` in `host`.
fn quay(host: &str, namespace: &str, name: &str) -> Value {
    json!({
        "name": name,
        "repository": format!("{namespace}/{name}"),
        "namespace": namespace,
        "docker_url": format!("{host}/{namespace}/{name}"),
        "homepage": format!("https://{host}/repository/{namespace}/{name}"),
        "updated_tags": ["v0.2"]
    })
}

/// GitLab's registry notification: distribution's envelope
/// (https://docs.gitlab.com/administration/packages/container_registry/#configure-container-registry-notifications).
fn gitlab(host: &str, repo: &str) -> Value {
    json!({"events": [{
        "id": "320678d8-ca14-430f-8bb6-4ca139cd83f7",
        "timestamp": "2016-03-09T14:44:26.402973972-08:00",
        "action": "push",
        "target": {
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "size": 708,
            "digest": "sha256:fea8895f450959fa676bcc1df0611ea93823a735a01205fd8622846041d0c7cf",
            "length": 708,
            "repository": repo,
            "url": format!("http://{host}/v2/{repo}/manifests/sha256:fea8"),
            "tag": "v0.2"
        },
        "request": {"id": "6df24a34", "addr": "192.168.64.11:42961", "host": host,
                    "method": "PUT", "useragent": "curl/7.38.0"},
        "actor": {},
        "source": {"addr": "xtal.local:5000", "instanceID": "a53db899"}
    }]})
}

/// GitHub's `registry_package` webhook for a container published to GHCR, as in
/// https://docs.github.com/en/webhooks/webhook-events-and-payloads#registry_package
fn github() -> Value {
    json!({
        "action": "published",
        "registry_package": {
            "id": 2316245,
            "name": "hello-ghcr",
            "namespace": "Octo-Org",
            "description": "",
            "ecosystem": "CONTAINER",
            "package_type": "CONTAINER",
            "html_url": "https://github.com/orgs/Octo-Org/packages/container/package/hello-ghcr",
            "created_at": "2023-05-18T14:30:40Z",
            "updated_at": "2023-05-18T14:30:40Z",
            "owner": {"login": "Octo-Org", "id": 1, "type": "Organization"},
            "package_version": {
                "id": 98765,
                "version": "sha256:51e5a5d6fab4ef7a5e6d7a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5",
                "name": "sha256:51e5a5d6fab4ef7a5e6d7a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5",
                "container_metadata": {
                    "tag": {
                        "name": "v1",
                        "digest": "sha256:51e5a5d6fab4ef7a5e6d7a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5"
                    },
                    "labels": {},
                    "manifest": {}
                },
                "package_url": "ghcr.io/octo-org/hello-ghcr:v1"
            },
            "registry": {"about_url": "https://docs.github.com/packages", "name": "GitHub CONTAINER registry",
                         "type": "CONTAINER", "url": "https://ghcr.io/octo-org", "vendor": "GitHub Inc"}
        },
        "repository": {"id": 1, "full_name": "Octo-Org/hello-ghcr"},
        "sender": {"login": "octocat", "id": 2}
    })
}

/// Docker Hub's webhook, as in https://docs.docker.com/docker-hub/repos/manage/webhooks/
fn dockerhub() -> Value {
    json!({
        "callback_url": "https://registry.hub.docker.com/u/svendowideit/testhook/hook/2141b5bi5i5b02bec211i4eeih0242eg11000a/",
        "push_data": {"pushed_at": 1417566161, "pusher": "trustedbuilder", "tag": "latest"},
        "repository": {
            "comment_count": 0, "date_created": 1417494799, "description": "",
            "full_description": "Docker Hub based automated build from a GitHub repo",
            "is_official": false, "is_private": true, "is_trusted": true,
            "name": "testhook", "namespace": "svendowideit", "owner": "svendowideit",
            "repo_name": "svendowideit/testhook",
            "repo_url": "https://registry.hub.docker.com/u/svendowideit/testhook/",
            "star_count": 0, "status": "Active"
        }
    })
}

/// Asserts `/metrics` counts each (receiver, outcome, n) and never shows the secret.
async fn assert_counted(app: &TestApp, counts: &[(&str, &str, u64)]) {
    let metrics = app.get("/metrics").await.text().await.unwrap();
    for (source, outcome, n) in counts {
        let line = format!(
            "manifold_registry_events_total{{source=\"{source}\",outcome=\"{outcome}\"}} {n}"
        );
        assert!(metrics.contains(&line), "{line} in {metrics}");
    }
    assert!(!metrics.contains(SECRET), "the secret never shows");
}

/// A service watching hourly, taking events, and one followed list per repository of `repos`
/// (its own source there, in a local registry, pushed).
async fn following(repos: &[&str]) -> (TestApp, TestRegistry) {
    let registry = RegistryBuilder::default().start().await;
    let host = registry.host();
    let app = TestApp::spawn_on(Db::Sqlite, |s| {
        s.watch_interval_secs = Some(3600);
        s.event_secret = Some(manifold::model::Secret::new(SECRET));
    })
    .await;
    for repo in repos {
        let image = ImageFixture::new("linux", "amd64", None);
        seed(&registry, repo, "v0.2", image).await;
        let spec = json!({
            "image": format!("{host}/{repo}-list:latest"),
            "manifests": [{"image": format!("{host}/{repo}:v0.2")}],
            "follow": true,
        });
        let id = app.submit(&spec).await;
        app.wait_status(&id, "succeeded").await;
    }
    (app, registry)
}

/// Asserts each post is refused 403 and its answer shows no secret.
async fn assert_refused(app: &TestApp, posts: &[Post<'_>]) {
    for (path, body, headers) in posts {
        let (status, answer) = post(app, path, headers, body).await;
        assert_eq!(status, 403, "{path} {headers:?}: {answer}");
        assert!(!answer.to_string().contains(SECRET), "{answer}");
    }
}

/// `sha256=<hex>` of `body` keyed with `key`, as GitHub signs.
fn signature(key: &str, body: &Value) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(&serde_json::to_vec(body).unwrap());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[tokio::test]
async fn harbor_quay_and_gitlab_events_with_their_secret_make_the_watched_list_due() {
    let (app, registry) = following(&[
        "library/harbor-amd64",
        "team/quay-amd64",
        "gitlab-amd64",
        "library/cloudevents-amd64",
    ])
    .await;
    let host = registry.host();
    let bearer = format!("Bearer {SECRET}");
    let quay_url = format!("quay?secret={SECRET}");
    let cases: [Post; 5] = [
        (
            "harbor",
            harbor(&host, "library", "harbor-amd64"),
            vec![("Authorization", bearer.as_str())],
        ),
        (
            "harbor",
            harbor(&host, "library", "harbor-amd64"),
            vec![("Authorization", SECRET)],
        ),
        (&quay_url, quay(&host, "team", "quay-amd64"), vec![]),
        (
            "gitlab",
            gitlab(&host, "gitlab-amd64"),
            vec![("X-Gitlab-Token", SECRET)],
        ),
        (
            "harbor",
            harbor_cloudevents(&host, "library", "cloudevents-amd64"),
            vec![("Authorization", bearer.as_str())],
        ),
    ];

    for (i, (path, body, headers)) in cases.iter().enumerate() {
        let (status, taken) = post(&app, path, headers, body).await;

        assert_eq!(status, 202, "{path}: {taken}");
        // The second Harbor post is the first's repeat (an id derived from its content); the
        // last is Harbor's other format, with an id of its own.
        let (accepted, duplicate) = if i == 1 { (0, 1) } else { (1, 0) };
        assert_eq!(taken["accepted"], accepted, "{path}: {taken}");
        assert_eq!(taken["duplicate"], duplicate, "{path}: {taken}");
        if accepted == 1 {
            assert_eq!(taken["woken"], 1, "its list made due: {path}: {taken}");
        }
    }

    let forged: [Post; 5] = [
        (
            "harbor",
            harbor(&host, "library", "harbor-amd64"),
            vec![("Authorization", "Bearer not-it")],
        ),
        ("harbor", harbor(&host, "library", "harbor-amd64"), vec![]),
        (
            "quay?secret=not-it",
            quay(&host, "team", "quay-amd64"),
            vec![],
        ),
        (
            "quay",
            quay(&host, "team", "quay-amd64"),
            vec![("Authorization", bearer.as_str())],
        ),
        (
            "gitlab",
            gitlab(&host, "gitlab-amd64"),
            vec![("X-Gitlab-Token", "not-it")],
        ),
    ];
    assert_refused(&app, &forged).await;
    // ghcr.io is not on this service's allow-list (loopback registries only): counted, not acted on.
    let package = github();
    let signed = signature(SECRET, &package);
    let (status, taken) = post(
        &app,
        "github",
        &[("X-Hub-Signature-256", &signed)],
        &package,
    )
    .await;
    assert_eq!((status, &taken["ignored"]), (202, &json!(1)), "{taken}");
    assert_counted(
        &app,
        &[
            ("harbor", "accepted", 2),
            ("harbor", "duplicate", 1),
            ("harbor", "unauthenticated", 2),
            ("quay", "accepted", 1),
            ("quay", "unauthenticated", 2),
            ("gitlab", "accepted", 1),
            ("gitlab", "unauthenticated", 1),
        ],
    )
    .await;
}

#[tokio::test]
async fn github_and_docker_hub_events_are_taken_signed_and_refused_forged() {
    let app = TestApp::spawn_on(Db::Sqlite, |s| {
        s.watch_interval_secs = Some(3600);
        s.event_secret = Some(manifold::model::Secret::new(SECRET));
        s.registries = vec!["ghcr.io".to_owned(), "docker.io".to_owned()];
    })
    .await;
    let package = github();
    let signed = signature(SECRET, &package);
    let forged = signature("not-it", &package);
    let hub_url = format!("dockerhub?secret={SECRET}");

    let (status, taken) = post(
        &app,
        "github",
        &[
            ("X-Hub-Signature-256", &signed),
            ("X-GitHub-Event", "registry_package"),
            ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
        ],
        &package,
    )
    .await;
    assert_eq!((status, &taken["accepted"]), (202, &json!(1)), "{taken}");
    let (status, taken) = post(
        &app,
        "github",
        &[
            ("X-Hub-Signature-256", &signed),
            ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
        ],
        &package,
    )
    .await;
    assert_eq!(
        (status, &taken["duplicate"]),
        (202, &json!(1)),
        "the same delivery: {taken}"
    );
    let ping = json!({"zen": "Keep it logically awesome.", "hook_id": 1});
    let ping_signed = signature(SECRET, &ping);
    let (status, taken) = post(
        &app,
        "github",
        &[
            ("X-Hub-Signature-256", &ping_signed),
            ("X-GitHub-Event", "ping"),
        ],
        &ping,
    )
    .await;
    assert_eq!((status, &taken["accepted"]), (202, &json!(0)), "{taken}");
    let (status, taken) = post(&app, &hub_url, &[], &dockerhub()).await;
    assert_eq!((status, &taken["accepted"]), (202, &json!(1)), "{taken}");

    let bearer = format!("Bearer {SECRET}");
    let forged: [Post; 4] = [
        (
            "github",
            package.clone(),
            vec![("X-Hub-Signature-256", &forged)],
        ),
        ("github", package.clone(), vec![("Authorization", &bearer)]),
        ("dockerhub?secret=not-it", dockerhub(), vec![]),
        (
            "dockerhub",
            dockerhub(),
            vec![("X-Manifold-Secret", SECRET)],
        ),
    ];
    assert_refused(&app, &forged).await;
    assert_counted(
        &app,
        &[
            ("github", "accepted", 1),
            ("github", "duplicate", 1),
            ("github", "ping", 1),
            ("github", "unauthenticated", 2),
            ("dockerhub", "accepted", 1),
            ("dockerhub", "unauthenticated", 2),
        ],
    )
    .await;
}

#[tokio::test]
async fn events_over_the_rate_limit_are_refused_with_retry_after_and_counted() {
    let app = TestApp::spawn_on(Db::Sqlite, |s| {
        s.event_secret = Some(manifold::model::Secret::new(SECRET));
        s.event_rate = Some(1);
        s.event_burst = Some(2);
    })
    .await;
    let url = format!("dockerhub?secret={SECRET}");
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..3 {
        let answer = app
            .request(reqwest::Method::POST, &format!("/events/{url}"))
            .json(&dockerhub())
            .send()
            .await
            .unwrap();
        statuses.push(answer.status().as_u16());
        if let Some(v) = answer.headers().get("retry-after") {
            retry_after = Some(v.to_str().unwrap().to_owned());
        }
    }

    assert_eq!(statuses, [202, 202, 429]);
    assert_eq!(retry_after.as_deref(), Some("1"));
    assert_counted(&app, &[("dockerhub", "rate_limited", 1)]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_secret_in_a_docker_hub_url_shows_in_no_log_line() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start_in(
        dir.path(),
        &[
            ("MANIFOLD_LOG_FORMAT", "json"),
            ("MANIFOLD_LOG", "manifold=debug"),
            ("MANIFOLD_EVENT_SECRET", SECRET),
        ],
    )
    .await;

    let answer = serve
        .request(
            reqwest::Method::POST,
            &format!("/events/dockerhub?secret={SECRET}"),
        )
        .json(&dockerhub())
        .send()
        .await
        .unwrap();

    assert_eq!(answer.status(), 202);
    let log = serve.log();
    assert!(
        log.contains("/events/{source}"),
        "the request is logged by its route:\n{log}"
    );
    assert!(
        !log.contains(SECRET),
        "the URL's secret is not logged:\n{log}"
    );
}

//! Staged releases: platforms gathered from parallel jobs, the tag PUT once, when the set is
//! complete — never before. Three "jobs" (`manifold submit` processes, each with its own OIDC ID
//! token) against two service processes on one PostgreSQL database, the registry's access log
//! counting the tag's PUTs, a job of another repository refused by the rules; a
//! deadline that ends a release without a platform, the tag untouched; a late platform after
//! the release, an ordinary append; a repeated one before it, replacing the first; on both stores;
//! and in Chromium, a stage's page that shows it staged with its release once its job ran.

use manifold_testkit::{BuiltImage, ImageFixture, OidcIssuer, TestRegistry};
use serde_json::{Value, json};

use crate::support::app::TestApp;
use crate::support::cli::{assert_pulls, manifest_puts, manifold, seed};
use crate::support::on_both_stores;
use crate::support::serve::Serve;
use crate::support::stores::{Db, TestDb};
use crate::support::wait;

const EXPECT: &str = "linux/amd64,linux/arm64,linux/s390x";

/// Seeds `demo-<arch>:<tag>` for each architecture; the images in that order.
async fn seed_arches(registry: &TestRegistry, tag: &str, arches: &[&str]) -> Vec<BuiltImage> {
    let mut images = Vec::new();
    for arch in arches {
        let fixture = ImageFixture::new("linux", arch, None);
        images.push(seed(registry, &format!("demo-{arch}"), tag, fixture).await);
    }
    images
}

/// One job's `manifold submit` of its platform to the release of `demo:<tag>`, with its token.
fn job_args(server: &str, token: &str, host: &str, arch: &str, tag: &str) -> Vec<String> {
    [
        "submit",
        "--server",
        server,
        "--token",
        token,
        "--expect",
        EXPECT,
        "from-args",
        "--platforms",
        &format!("linux/{arch}"),
        "--template",
        &format!("{host}/demo-ARCH:{tag}"),
        "--target",
        &format!("{host}/demo:{tag}"),
    ]
    .map(str::to_owned)
    .to_vec()
}

async fn run_job(args: Vec<String>) -> crate::support::cli::Run {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    manifold(&args).await
}

#[tokio::test(flavor = "multi_thread")]
async fn three_jobs_across_two_processes_move_the_tag_once_when_the_third_platform_arrives() {
    let registry = TestRegistry::plain().await;
    let host = registry.host();
    let images = seed_arches(&registry, "v0.3", &["amd64", "arm64", "s390x"]).await;
    let issuer = OidcIssuer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("manifold.yaml");
    std::fs::write(&config, oidc_config(&issuer.url(), &host)).unwrap();
    let db = TestDb::create().await;
    let config = config.to_str().unwrap();
    let settings = [("MANIFOLD_WORKERS", "2"), ("MANIFOLD_CONFIG", config)];
    let (a, b) = tokio::join!(Serve::start(&db, &settings), Serve::start(&db, &settings));
    let token = |run: &str, repository: &str| {
        let mut claims = issuer.claims();
        claims["run_id"] = json!(run);
        claims["repository"] = json!(repository);
        issuer.es256(&claims)
    };
    let job = |server: &str, run: &str, arch: &str| {
        job_args(server, &token(run, "example-org/demo"), &host, arch, "v0.3")
    };

    let first = tokio::spawn(run_job(job(&a.base, "101", "amd64")));
    let second = tokio::spawn(run_job(job(&b.base, "102", "arm64")));
    let logs = || format!("\n--- a ---\n{}\n--- b ---\n{}", a.log(), b.log());
    wait::until("two platforms staged", logs, || async {
        let staged = a.get_json("/lists?status=staged").await;
        staged["items"].as_array().unwrap().len() == 2
    })
    .await;
    let staged = a.get_json("/lists?status=staged").await;
    let release_id = staged["items"][0]["release_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(staged["items"][1]["release_id"], release_id.as_str());
    let release = b.get_json(&format!("/releases/{release_id}")).await;
    assert_eq!(release["state"], "open", "{release:#}");
    assert_eq!(release["awaited"], json!(["linux/s390x"]), "{release:#}");
    assert_eq!(
        manifest_puts(&registry, "demo", "v0.3"),
        0,
        "no PUT of the tag before the third"
    );
    assert!(
        manifold_testkit::skopeo_inspect_raw(&registry, "demo:v0.3")
            .await
            .is_err(),
        "the tag names nothing yet"
    );

    // Each waiting client asks for its list every half second: let both see it staged.
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let other = job_args(
        &a.base,
        &token("999", "example-org/other"),
        &host,
        "s390x",
        "v0.3",
    );
    let refused = run_job(other).await.failed();
    assert!(refused.stderr.contains("403"), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("example-org/other"),
        "{}",
        refused.stderr
    );
    assert_eq!(manifest_puts(&registry, "demo", "v0.3"), 0);
    let third = run_job(job(&b.base, "103", "s390x")).await.ok();
    let (first, second) = (first.await.unwrap().ok(), second.await.unwrap().ok());

    let digest = third.digest_line().0;
    assert_eq!(
        first.digest_line().0,
        digest,
        "every job reports the release's digest"
    );
    assert_eq!(second.digest_line().0, digest);
    assert!(first.stderr.contains("awaiting"), "{}", first.stderr);
    assert_eq!(
        manifest_puts(&registry, "demo", "v0.3"),
        1,
        "exactly one PUT of the tag"
    );
    let release = a.get_json(&format!("/releases/{release_id}")).await;
    assert_eq!(release["state"], "released", "{release:#}");
    let runs: Vec<&Value> = release["arrived"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["submitted_by"]["run_id"])
        .collect();
    assert_eq!(
        runs,
        [&json!("101"), &json!("102"), &json!("103")],
        "{release:#}"
    );
    let list = a
        .get_json(&format!("/lists/{}", release["list_id"].as_str().unwrap()))
        .await;
    assert_eq!(list["operation"], "release", "{list:#}");
    assert_eq!(list["digest"], digest.as_str());
    let expected: Vec<(&str, &str, Option<&str>, &str)> = ["amd64", "arm64", "s390x"]
        .iter()
        .zip(&images)
        .map(|(arch, image)| ("linux", *arch, None, image.manifest_digest.as_str()))
        .collect();
    assert_pulls(&registry, "demo:v0.3", &expected).await;
}

/// The service's configuration file: the local issuer trusted, and one rule — example-org/demo
/// on main may write `<host>/demo:*` from `<host>/demo-*`.
fn oidc_config(issuer: &str, host: &str) -> String {
    format!(
        "api_tokens: [\"api-token-for-the-test\"]\noidc:\n  issuers:\n    - issuer: {issuer}\n      \
         audience: manifold\n  rules:\n    - name: demo-main\n      issuer: {issuer}\n      \
         claims: {{repository: example-org/demo, ref: refs/heads/main}}\n      \
         targets: [\"{host}/demo:*\"]\n      sources: [\"{host}/demo-*\"]\n"
    )
}

/// A stage of the release of `target` bringing `arch` (JSON spec, API field `expect`).
fn stage(host: &str, arch: &str, target: &str, extra: Value) -> Value {
    let mut spec = json!({
        "image": format!("{host}/{target}"),
        "manifests": [{
            "image": format!("{host}/demo-{arch}:v1"),
            "platform": {"os": "linux", "architecture": arch}
        }],
        "expect": ["linux/amd64", "linux/arm64"],
    });
    for (k, v) in extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    spec
}

on_both_stores!(
    a_deadline_without_a_platform_fails_the_release_naming_it_and_leaves_the_tag,
    a_repeated_platform_replaces_its_entry_and_a_late_one_is_an_ordinary_append,
    a_deadline_that_pushes_releases_what_arrived,
    a_release_refuses_other_expectations_and_keys_without_expect,
);

async fn service(db: Db, registry: &TestRegistry) -> TestApp {
    let host = registry.host();
    TestApp::spawn_on(db, |s| s.registries = vec![host.clone()]).await
}

async fn a_deadline_without_a_platform_fails_the_release_naming_it_and_leaves_the_tag(db: Db) {
    let registry = TestRegistry::plain().await;
    let host = registry.host();
    seed_arches(&registry, "v1", &["amd64", "arm64"]).await;
    let app = service(db, &registry).await;
    let before = app
        .submit(&stage(&host, "amd64", "demo:v1", json!({"expect": null})))
        .await;
    let before = app.wait_status(&before, "succeeded").await;

    let id = app
        .submit(&stage(
            &host,
            "amd64",
            "demo:v1",
            json!({"deadline_secs": 1}),
        ))
        .await;
    let failed = app.wait_status(&id, "failed").await;

    assert_eq!(failed["error"]["code"], "RELEASE_INCOMPLETE", "{failed:#}");
    let message = failed["error"]["message"].as_str().unwrap();
    assert!(message.contains("without linux/arm64"), "{message}");
    assert!(message.contains("linux/amd64 (list "), "{message}");
    let release = app
        .get_json(&format!(
            "/releases/{}",
            failed["release_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(release["state"], "failed", "{release:#}");
    assert_eq!(
        manifest_puts(&registry, "demo", "v1"),
        1,
        "only the earlier push's PUT"
    );
    let held = manifold_testkit::skopeo_inspect_raw(&registry, "demo:v1")
        .await
        .unwrap();
    assert_eq!(
        format!(
            "sha256:{}",
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&held))
        ),
        before["digest"].as_str().unwrap(),
        "the tag still holds what it held"
    );

    // The same release key again after a failed cycle starts a new one.
    let again = app
        .submit(&stage(&host, "arm64", "demo:v1", json!({})))
        .await;
    let again = app.wait_status(&again, "staged").await;
    assert_ne!(again["release_id"], failed["release_id"], "{again:#}");
}

async fn a_repeated_platform_replaces_its_entry_and_a_late_one_is_an_ordinary_append(db: Db) {
    let registry = TestRegistry::plain().await;
    let host = registry.host();
    seed_arches(&registry, "v1", &["amd64", "arm64", "s390x"]).await;
    let rebuilt = seed(
        &registry,
        "demo-amd64",
        "v2",
        ImageFixture::new("linux", "amd64", None).label("build", "2"),
    )
    .await;
    let app = service(db, &registry).await;

    let first = app
        .submit(&stage(&host, "amd64", "demo:rel", json!({})))
        .await;
    let staged = app.wait_status(&first, "staged").await;
    let release = staged["release_id"].as_str().unwrap();
    let page = app.get(&format!("/ui/releases/{release}")).await;
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(
        page.contains(r#"data-platform="linux/arm64" data-arrived="false""#),
        "{page}"
    );
    assert!(
        page.contains(r#"data-platform="linux/amd64" data-arrived="true""#),
        "{page}"
    );
    let mut repeat = stage(&host, "amd64", "demo:rel", json!({}));
    repeat["manifests"][0]["image"] = json!(format!("{host}/demo-amd64:v2"));
    let repeat = app.submit(&repeat).await;
    app.wait_status(&repeat, "staged").await;
    let last = app
        .submit(&stage(&host, "arm64", "demo:rel", json!({})))
        .await;
    let landed = app.wait_status(&last, "succeeded").await;

    let first = app.wait_status(&first, "succeeded").await;
    assert_eq!(
        first["digest"], landed["digest"],
        "every stage ends with the release"
    );
    let release = app
        .get_json(&format!(
            "/releases/{}",
            landed["release_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        release["arrived"][0]["list_id"],
        repeat.as_str(),
        "{release:#}"
    );
    assert_eq!(
        release["arrived"][0]["digest"],
        rebuilt.manifest_digest.as_str()
    );
    assert_eq!(manifest_puts(&registry, "demo", "rel"), 1);

    let late = app
        .submit(&stage(
            &host,
            "s390x",
            "demo:rel",
            json!({"expect": ["linux/s390x"]}),
        ))
        .await;
    let late = app.wait_status(&late, "succeeded").await;
    assert_eq!(late["operation"], "append", "{late:#}");
    assert_eq!(late["release_id"], Value::Null);
    assert_eq!(late["entries"].as_array().unwrap().len(), 3, "{late:#}");
    assert_eq!(manifest_puts(&registry, "demo", "rel"), 2);
}

async fn a_deadline_that_pushes_releases_what_arrived(db: Db) {
    let registry = TestRegistry::plain().await;
    let host = registry.host();
    let images = seed_arches(&registry, "v1", &["arm64"]).await;
    let app = service(db, &registry).await;

    let extra = json!({"deadline_secs": 1, "on_deadline": "push", "release": "nightly"});
    let id = app
        .submit(&stage(&host, "arm64", "demo:nightly", extra))
        .await;
    let done = app.wait_status(&id, "succeeded").await;

    assert_eq!(done["entries"].as_array().unwrap().len(), 1, "{done:#}");
    let release = app
        .get_json(&format!(
            "/releases/{}",
            done["release_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(release["key"], "nightly");
    assert_eq!(release["awaited"], json!(["linux/amd64"]), "{release:#}");
    assert_eq!(release["state"], "released");
    assert_pulls(
        &registry,
        "demo:nightly",
        &[("linux", "arm64", None, &images[0].manifest_digest)],
    )
    .await;
}

async fn a_release_refuses_other_expectations_and_keys_without_expect(db: Db) {
    let registry = TestRegistry::plain().await;
    let host = registry.host();
    seed_arches(&registry, "v1", &["amd64"]).await;
    let app = service(db, &registry).await;
    app.submit(&stage(&host, "amd64", "demo:v9", json!({})))
        .await;

    let other = stage(
        &host,
        "amd64",
        "demo:v9",
        json!({"expect": ["linux/amd64"]}),
    );
    let answer = app.post_json(&other).await;
    assert_eq!(answer.status(), 409);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["error"]["field"], "expect", "{body:#}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("expects linux/amd64, linux/arm64"),
        "{message}"
    );

    let lone = stage(
        &host,
        "amd64",
        "demo:v9",
        json!({"expect": null, "release": "x"}),
    );
    let answer = app.post_json(&lone).await;
    assert_eq!(answer.status(), 400);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["error"]["field"], "release", "{body:#}");

    let twice = stage(
        &host,
        "amd64",
        "demo:v9",
        json!({"expect": ["linux/arm64", "linux/arm64/v8"]}),
    );
    let body: Value = app.post_json(&twice).await.json().await.unwrap();
    assert_eq!(body["error"]["field"], "expect", "{body:#}");

    let append = stage(&host, "amd64", "demo:v9", json!({"append": true}));
    let body: Value = app.post_json(&append).await.json().await.unwrap();
    assert_eq!(body["error"]["field"], "append", "{body:#}");
}

/// In headless Chromium: the page of a stage open while it is queued shows, once its job has run,
/// that it is staged and what that means (its release's details), without a reload by hand.
#[tokio::test(flavor = "multi_thread")]
async fn a_stage_s_page_shows_it_staged_with_its_release_once_its_job_ran() {
    let registry = TestRegistry::plain().await;
    let host = registry.host();
    seed_arches(&registry, "v1", &["amd64"]).await;
    let allowed = vec![host.clone()];
    let app = TestApp::spawn_on(Db::Sqlite, |s| {
        s.registries = allowed;
        s.workers = Some(0);
    })
    .await;
    let body = json!({
        "image": format!("{host}/demo:staged"),
        "expect": ["linux/amd64", "linux/s390x"],
        "manifests": [{"image": format!("{host}/demo-amd64:v1")}],
    });
    let id = app.submit(&body).await;
    let b = crate::support::browser::Browser::open(1280, 900).await;
    b.goto(&format!("{}/ui/lists/{id}", app.base)).await;
    assert!(!b.text("#list-status").await.contains("staged"));

    assert_eq!(app.run_pending_jobs().await, 1);
    b.wait_until("return !!document.querySelector('#list-release') && document.body.innerText.includes('staged: its children are in the target repository')")
        .await;

    let status = b
        .js("return document.querySelector('#list-status [data-status]').dataset.status")
        .await;
    assert_eq!(status, "staged");
    b.close().await;
}

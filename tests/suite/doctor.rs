//! `manifold doctor`: what it reports of real registries (distribution plain, with Basic auth,
//! with token auth), of the referrers API where a front adds it, of rate-limit headers, and of
//! each registry quirk's double; and that its write probes leave nothing behind where the
//! registry deletes.

use manifold_testkit::quirks::{Profile, QuirkProxy};
use manifold_testkit::rate_limit::{RateLimited, RateProfile};
use manifold_testkit::token::{ADMIN_PASSWORD, ADMIN_USER};
use manifold_testkit::{Pusher, TestRegistry, TokenServer};
use serde_json::Value;

use crate::support::cli::manifold;
use crate::support::referrers_api::ReferrersFront;

/// `manifold [global…] doctor ARGS… --json`, which must succeed; its document.
async fn doctor(global: &[&str], args: &[&str]) -> Value {
    let mut all = global.to_vec();
    all.push("doctor");
    all.extend(args);
    all.push("--json");
    let run = manifold(&all).await.ok();
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

#[tokio::test]
async fn a_local_distribution_is_reported_as_it_is_and_the_write_probes_clean_up() {
    let registry = TestRegistry::plain().await;
    let target = format!("{}/scratch", registry.host());

    let report = doctor(&[], &[&target, "--write"]).await;

    assert_eq!(report["ping"]["scheme"], "http");
    assert_eq!(report["ping"]["http_version"], "HTTP/1.1");
    assert_eq!(report["ping"]["auth"]["scheme"], "anonymous");
    assert_eq!(report["ping"]["rate_limit"], serde_json::json!([]));
    let referrers = &report["referrers_api"];
    assert_eq!(
        referrers["works"], false,
        "distribution 2.8 has none: {referrers}"
    );
    let writes = &report["writes"];
    assert_eq!(writes["scratch"], target.as_str());
    for probe in [
        "blob_upload",
        "mount",
        "oci_index",
        "docker_list_with_annotations",
    ] {
        assert_eq!(writes[probe]["works"], true, "{probe}: {writes}");
    }
    assert_eq!(writes["left_behind"], serde_json::json!([]), "{writes}");
    let pusher = Pusher::new(&registry);
    assert!(
        !pusher
            .manifest_exists("scratch", "manifold-doctor")
            .await
            .unwrap(),
        "the probe's list is deleted"
    );
}

#[tokio::test]
async fn the_text_report_says_what_each_probe_found() {
    let registry = TestRegistry::plain().await;
    let target = format!("{}/scratch", registry.host());

    let run = manifold(&["doctor", &target, "--write"]).await.ok();

    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("Auth:") && l.contains("anonymous"))
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("Referrers API:") && l.contains("no:"))
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("Mount:") && l.contains("yes:"))
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("Docker list + annotations:") && l.contains("yes: accepted"))
    );
}

#[tokio::test]
async fn basic_and_token_auth_are_named_with_the_tokens_realm() {
    let basic = TestRegistry::basic("ci", "ci-Pa55word").await;
    let server = TokenServer::start();
    let tokens = TestRegistry::token(&server).await;

    let basic_report = doctor(
        &["--username", "ci", "--password", "ci-Pa55word"],
        &[&basic.host()],
    )
    .await;
    let token_report = doctor(
        &["--username", ADMIN_USER, "--password", ADMIN_PASSWORD],
        &[&tokens.host()],
    )
    .await;

    assert_eq!(basic_report["ping"]["auth"]["scheme"], "basic");
    assert_eq!(basic_report["ping"]["credentials"], true);
    let auth = &token_report["ping"]["auth"];
    assert_eq!(auth["scheme"], "bearer");
    assert_eq!(auth["realm"], server.realm().as_str());
    assert_eq!(auth["service"], server.service());
}

#[tokio::test]
async fn a_registry_with_the_referrers_api_is_reported_with_it() {
    let registry = TestRegistry::plain().await;
    let front = ReferrersFront::start(&registry.host()).await;
    let target = format!("{}/app", front.host);

    let report = doctor(&[], &[&target]).await;

    assert_eq!(report["referrers_api"]["works"], true, "{report}");
    assert!(
        report["writes"].is_null(),
        "nothing written without --write"
    );
    assert!(
        front
            .seen()
            .iter()
            .all(|line| !line.starts_with("PUT") && !line.starts_with("POST")),
        "{:?}",
        front.seen()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limit_headers_are_shown_as_the_registry_sends_them() {
    let registry = TestRegistry::plain().await;
    let limited = RateLimited::start(&registry.host(), 50.0, RateProfile::DockerHub);

    let report = doctor(&[], &[&limited.addr]).await;

    let headers = report["ping"]["rate_limit"].as_array().unwrap();
    let names: Vec<&str> = headers.iter().map(|h| h[0].as_str().unwrap()).collect();
    assert!(names.contains(&"ratelimit-limit"), "{headers:?}");
    assert!(names.contains(&"ratelimit-remaining"), "{headers:?}");
}

#[tokio::test]
async fn a_target_without_a_registry_is_refused_naming_it() {
    let run = manifold(&["doctor", "/scratch"]).await.failed();

    assert!(
        run.stderr.contains("\"/scratch\" names no registry"),
        "{}",
        run.stderr
    );
}

/// `doctor --write --json` through the double of `profile`: its report.
async fn doctor_of(profile: Profile) -> Value {
    let registry = TestRegistry::plain().await;
    let double = QuirkProxy::start(&registry.host(), profile).await;
    let target = format!("{}/scratch", double.host);
    doctor(&[], &[&target, "--write"]).await
}

/// Whether each probe worked: referrers API, mount, OCI index, Docker list with annotations.
fn verdicts(report: &Value) -> [bool; 4] {
    let works = |probe: &Value| probe["works"].as_bool().unwrap();
    let writes = &report["writes"];
    [
        works(&report["referrers_api"]),
        works(&writes["mount"]),
        works(&writes["oci_index"]),
        works(&writes["docker_list_with_annotations"]),
    ]
}

#[tokio::test]
async fn each_quirk_profile_is_reported_as_the_registry_it_doubles_behaves() {
    let cases = [
        (Profile::Ghcr, [false, true, true, true]),
        (Profile::GitLab, [false, true, true, true]),
        (Profile::Gcr, [false, true, true, false]),
        (
            Profile::Ecr { immutable: false },
            [false, false, true, true],
        ),
        (Profile::Harbor, [false, false, true, true]),
        (Profile::Trow, [false, false, true, true]),
        (Profile::Gitea, [false, true, false, true]),
    ];
    for (profile, expected) in cases {
        let name = format!("{profile:?}");

        let report = doctor_of(profile).await;

        assert_eq!(
            verdicts(&report),
            expected,
            "{name}: [referrers API, mount, OCI index, Docker list with annotations]: {report:#}"
        );
        assert_eq!(report["writes"]["blob_upload"]["works"], true, "{name}");
    }
}

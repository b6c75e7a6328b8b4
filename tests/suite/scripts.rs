//! The scripts a newcomer runs, in the parts that can run alone: the demo reads the status and
//! digest of the list the service answers (`scripts/json.sh`), a long build says how long it has
//! been at work (`with_progress` in `scripts/setup.sh`), and the test command stops the PostgreSQL
//! cluster it started, and only that (`.ci/postgres.sh`).

use std::path::PathBuf;
use std::process::Output;

use manifold_testkit::TestRegistry;
use serde_json::Value;

use crate::support::app::TestApp;
use crate::support::cli::seed_demo;
use crate::support::demo::demo_spec;

/// The checkout's root, where the scripts are.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs `script` with bash in the checkout's root, `args` as `$1`, `$2`, …
fn bash(script: &str, args: &[&str]) -> Output {
    std::process::Command::new("bash")
        .arg("-c")
        .arg(script)
        .arg("bash")
        .args(args)
        .current_dir(root())
        .output()
        .expect("bash runs")
}

/// What `bash` printed on stdout, its lines.
fn lines(output: &Output) -> Vec<String> {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The demo's reading of the top-level `status`, `digest` and `id` of a list resource.
fn read_as_the_demo_does(list: &str) -> Vec<String> {
    lines(&bash(
        r#"set -euo pipefail; source scripts/json.sh
        for field in status digest id; do echo "$(json_top_field "$1" "$field")"; done"#,
        &[list],
    ))
}

#[tokio::test]
async fn the_demo_reads_the_status_and_digest_of_the_list_the_service_answers() {
    let registry = TestRegistry::plain().await;
    seed_demo(&registry).await;
    let app = TestApp::spawn().await;
    let answer = app.post_yaml(&demo_spec(&registry.host()).yaml()).await;
    let id = answer.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.wait_status(&id, "succeeded").await;
    let text = app.get(&format!("/lists/{id}")).await.text().await.unwrap();
    let list: Value = serde_json::from_str(&text).unwrap();
    let nested_first = r#"{"drift":{"status":"drifted","reasons":[{"digest":"sha256:0"}]},
        "entries":[{"digest":"sha256:1"}],"status":"succeeded","digest":"sha256:2","id":"x"}"#;
    let demo = std::fs::read_to_string(root().join("scripts/demo")).unwrap();

    let read = read_as_the_demo_does(&text);
    let nested = read_as_the_demo_does(nested_first);

    assert_eq!(
        read,
        [&list["status"], &list["digest"], &list["id"]].map(|v| v.as_str().unwrap())
    );
    assert_eq!(nested, ["succeeded", "sha256:2", "x"]);
    for reading in [
        r#"json_top_field "$queued" id"#,
        r#"json_top_field "$list" status"#,
        r#"json_top_field "$list" digest"#,
    ] {
        assert!(
            demo.contains(reading),
            "scripts/demo no longer has {reading}"
        );
    }
}

#[test]
fn a_long_build_says_how_long_it_has_been_at_work_and_ends_with_its_status() {
    let build = r#"source scripts/setup.sh
        PROGRESS_EVERY=1 with_progress sh -c '
            for c in serde manifold manifold-testkit; do echo "   Compiling $c v1"; done
            sleep 1.5; echo done; exit 3'
        echo "status $?""#;

    let output = bash(build, &[]);

    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(printed.starts_with("   Compiling serde v1\n"), "{printed}");
    assert!(
        printed.contains(
            "   … still at work after 0 min 01 s (the crates started last: manifold-testkit, \
             manifold)\n"
        ),
        "{printed}"
    );
    assert!(printed.ends_with("done\nstatus 3\n"), "{printed}");
}

#[test]
fn the_test_command_stops_the_postgres_cluster_it_started_and_only_that() {
    let script = r#"set -euo pipefail; source .ci/postgres.sh
        stop_postgres
        pg_answers "$1" && echo "the server it did not start answers"
        start_own_postgres
        dir=${POSTGRES_STARTED#own }; url=$DATABASE_URL
        pg_answers "$url" && echo "its own answers"
        stop_postgres
        pg_answers "$url" || echo "its own is stopped"
        [ -d "$dir" ] || echo "its directory is gone"
        pg_answers "$1" && echo "the server it did not start still answers""#;

    let output = bash(script, &[&crate::support::stores::admin_url()]);

    assert_eq!(
        lines(&output),
        [
            "the server it did not start answers",
            "its own answers",
            "its own is stopped",
            "its directory is gone",
            "the server it did not start still answers"
        ]
    );
}

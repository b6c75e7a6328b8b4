//! The command line as a shell tool: `--version` names the commit, completions for bash, zsh and
//! fish and a manual page come from the one definition, `-q` leaves only results and errors,
//! booleans take `--flag=false` as manifest-tool's do, `--json` failures are one JSON document with
//! the service's codes, `MANIFOLD_LOG_FORMAT=json` logs JSON lines with timestamps, and usage
//! errors exit 2.

use serde_json::Value;

use crate::support::cli::{manifold, manifold_env, write_spec};

/// A registry address nothing listens on.
const NOWHERE: &str = "127.0.0.1:9";

#[tokio::test]
async fn the_version_names_the_commit_it_was_built_from() {
    let run = manifold(&["--version"]).await.ok();
    let line = run.stdout.trim();
    let commit = line
        .strip_prefix(concat!("manifold ", env!("CARGO_PKG_VERSION"), " ("))
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{line}"));
    assert!(
        commit == "unknown" || (commit.len() >= 7 && commit.chars().all(|c| c.is_ascii_hexdigit())),
        "{line}"
    );
}

#[tokio::test]
async fn completions_and_the_manual_page_come_from_the_command_line_itself() {
    let bash = manifold(&["completions", "bash"]).await.ok().stdout;
    let zsh = manifold(&["completions", "zsh"]).await.ok().stdout;
    let fish = manifold(&["completions", "fish"]).await.ok().stdout;
    let man = manifold(&["man"]).await.ok().stdout;
    let unknown = manifold(&["completions", "tcsh"]).await;

    assert!(
        bash.contains("complete -F _manifold") && bash.contains("from-spec"),
        "{bash}"
    );
    assert!(
        zsh.starts_with("#compdef manifold") && zsh.contains("--plain-http"),
        "{zsh}"
    );
    assert!(
        fish.contains("complete -c manifold") && fish.contains("inspect"),
        "{fish}"
    );
    assert!(man.contains(".TH manifold 1"), "{man}");
    assert!(
        man.contains("push") && man.contains("plain\\-http"),
        "{man}"
    );
    assert_eq!(unknown.code, 2, "{}", unknown.stderr);
}

#[tokio::test]
async fn a_json_failure_is_one_json_document_with_a_stable_code() {
    let unreachable = manifold(&[
        "--plain-http",
        "inspect",
        "--json",
        &format!("{NOWHERE}/x:y"),
    ])
    .await
    .failed();
    let dir = tempfile::tempdir().unwrap();
    let bad = write_spec(dir.path(), "bad.yaml", "image: a/b:c\nmanifests: 3\n");
    let invalid = manifold(&["push", "--json", "from-spec", bad.to_str().unwrap()])
        .await
        .failed();

    let doc: Value = serde_json::from_str(&unreachable.stdout).unwrap();
    assert_eq!(doc["error"]["code"], "REGISTRY_UNREACHABLE", "{doc:#}");
    assert!(
        doc["error"]["message"].as_str().unwrap().contains(NOWHERE),
        "{doc:#}"
    );
    let doc: Value = serde_json::from_str(&invalid.stdout).unwrap();
    assert_eq!(doc["error"]["code"], "INVALID_SPEC", "{doc:#}");
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("bad.yaml"),
        "{doc:#}"
    );
    assert!(
        invalid.stderr.contains("manifold: error:"),
        "people still read stderr"
    );
}

#[tokio::test]
async fn quiet_leaves_only_the_error_and_booleans_take_false() {
    let reference = format!("{NOWHERE}/x:y");
    let loud = manifold(&["--plain-http", "inspect", &reference])
        .await
        .failed();
    let quiet = manifold(&[
        "-q",
        "--plain-http=true",
        "--debug=false",
        "inspect",
        &reference,
    ])
    .await
    .failed();
    let plain_off = manifold(&["--plain-http=false", "inspect", &reference])
        .await
        .failed();

    assert!(loud.stderr.contains("retrying"), "{}", loud.stderr);
    assert_eq!(quiet.stderr.lines().count(), 1, "{}", quiet.stderr);
    assert!(
        quiet.stderr.starts_with("manifold: error:"),
        "{}",
        quiet.stderr
    );
    assert!(
        quiet.stderr.contains("http://127.0.0.1:9/v2/x/manifests/y"),
        "{}",
        quiet.stderr
    );
    assert_eq!(
        plain_off.code, 1,
        "--plain-http=false is a value, not a usage error: {}",
        plain_off.stderr
    );
    assert!(
        !plain_off.stderr.contains("unexpected value"),
        "{}",
        plain_off.stderr
    );
}

#[tokio::test]
async fn json_logs_are_lines_of_json_with_timestamps_and_usage_errors_exit_2() {
    let reference = format!("{NOWHERE}/x:y");
    let run = manifold_env(
        &["--plain-http", "inspect", &reference],
        &[("MANIFOLD_LOG_FORMAT", "json")],
    )
    .await
    .failed();
    let usage = manifold(&["push", "from-spec"]).await;

    let logged: Vec<Value> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert!(!logged.is_empty(), "{}", run.stderr);
    for line in &logged {
        assert!(
            line["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{line}"
        );
        assert_eq!(line["level"], "WARN", "{line}");
    }
    assert_eq!(usage.code, 2, "{}", usage.stderr);
}

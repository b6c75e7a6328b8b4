//! The command line as a shell tool: `--version` names the commit, completions for bash, zsh and
//! fish and a manual page come from the one definition, `-q` leaves only results and errors,
//! booleans of every command take `--flag=false` as manifest-tool's do, `serve --help` shows each
//! setting once, grouped, `--json` failures are one JSON document with the service's codes,
//! `MANIFOLD_LOG_FORMAT=json` logs JSON lines with timestamps, and usage errors exit 1, as
//! manifest-tool's do (its whole table is in `cli_manifest_tool`).

use manifold_testkit::{Pusher, TestRegistry};
use serde_json::Value;

use crate::support::cli::{manifold, manifold_env, seed_demo, write_spec};
use crate::support::demo::demo_spec;

/// A registry address nothing listens on.
const NOWHERE: &str = "127.0.0.1:9";

#[tokio::test]
async fn the_version_names_the_commit_it_was_built_from() {
    let run = manifold(&["--version"]).await.ok();
    let short = manifold(&["-v"]).await.ok();
    assert_eq!(short.stdout, run.stdout, "-v, as manifest-tool spells it");
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
    assert_eq!(unknown.code, 1, "{}", unknown.stderr);
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
async fn json_logs_are_lines_of_json_with_timestamps_and_usage_errors_exit_1() {
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
    assert_eq!(usage.code, 1, "{}", usage.stderr);
}

/// The long flags a help text shows, each as often as it is shown.
fn long_flags(help: &str) -> Vec<String> {
    help.lines()
        .map(str::trim_start)
        .filter(|line| line.starts_with('-'))
        .flat_map(|line| {
            let usage = line.split("  ").next().unwrap_or_default();
            usage
                .split([',', ' ', '[', '='])
                .filter(|word| word.starts_with("--"))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test]
async fn serve_help_shows_each_setting_once_grouped_with_booleans_as_flags() {
    let help = manifold(&["serve", "--help"]).await.ok().stdout;
    let push_help = manifold(&["push", "--help"]).await.ok().stdout;

    let flags = long_flags(&help);
    let mut seen = std::collections::BTreeSet::new();
    let twice: Vec<&String> = flags.iter().filter(|f| !seen.insert(*f)).collect();
    assert!(twice.is_empty(), "shown twice: {twice:?}\n{help}");
    for gone in [
        "--docker-config",
        "--ca-certs",
        "--type",
        "--username",
        "--password",
        "--plain-http",
        "--insecure",
        "--concurrency",
    ] {
        assert!(!flags.iter().any(|f| f == gone), "{gone} shown:\n{help}");
    }
    for kept in [
        "--docker-cfg",
        "--ca-cert",
        "--resolve",
        "--insecure-registries",
        "--workers",
    ] {
        assert!(flags.iter().any(|f| f == kept), "{kept} missing:\n{help}");
    }
    for heading in [
        "Listening:",
        "Security:",
        "Database:",
        "Jobs and the watch:",
        "Registries:",
        "Timeouts:",
        "Callbacks:",
    ] {
        assert!(help.contains(heading), "{heading}\n{help}");
    }
    assert!(help.contains("--protect-reads[=<BOOL>]"), "{help}");
    assert!(!help.contains("<PROTECT_READS>"), "{help}");
    let push_flags = long_flags(&push_help);
    for global in [
        "--docker-cfg",
        "--username",
        "--password",
        "--plain-http",
        "--insecure",
    ] {
        assert!(
            push_flags.iter().any(|f| f == global),
            "{global}:\n{push_help}"
        );
    }
}

#[tokio::test]
async fn boolean_flags_of_subcommands_take_false_and_mean_it() {
    let registry = TestRegistry::plain().await;
    let host = registry.host();
    seed_demo(&registry).await;
    let dir = tempfile::tempdir().unwrap();
    let spec = demo_spec(&host)
        .manifest_tool()
        .write(dir.path(), "demo.yaml");
    let missing = write_spec(
        dir.path(),
        "missing.yaml",
        &format!("image: {host}/partial:v1\nmanifests:\n  - image: {host}/demo-ppc64le:v0.2\n"),
    );

    let pushed = manifold(&[
        "push",
        "--dry-run=false",
        "--json=false",
        "from-spec",
        "--ignore-missing=false",
        spec.to_str().unwrap(),
    ])
    .await
    .ok();
    let refused = manifold(&[
        "push",
        "from-spec",
        "--ignore-missing=false",
        missing.to_str().unwrap(),
    ])
    .await;

    pushed.digest_line();
    assert!(pushed.stderr.contains("pushed"), "{}", pushed.stderr);
    let tags = Pusher::new(&registry).get_tags("demo").await.unwrap();
    assert_eq!(tags, ["v0.2"], "--dry-run=false writes");
    assert_eq!(refused.code, 1, "not a usage error: {}", refused.stderr);
    assert!(
        refused.stderr.contains("demo-ppc64le"),
        "{}",
        refused.stderr
    );
}

//! Bad specs are refused before any network call, naming the field and, for YAML, line and column.

use manifold_testkit::{Pusher, TestRegistry};

use crate::support::cli::{manifold, push_spec, seed_demo, write_spec};
use crate::support::demo::demo_spec;

/// A registry address nothing listens on: reaching it would fail with "connection refused".
const NOWHERE: &str = "127.0.0.1:9";

async fn refused(spec: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = write_spec(dir.path(), "bad.yaml", spec);
    let run = manifold(&["push", "from-spec", path.to_str().unwrap()])
        .await
        .failed();
    assert!(
        !run.stderr.contains("refused"),
        "a network call was made: {}",
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    run.stderr
}

#[tokio::test]
async fn an_invalid_source_reference_is_named_with_its_line() {
    let err = refused(&format!(
        "image: {NOWHERE}/demo:v1\nmanifests:\n  - image: {NOWHERE}/demo-amd64:v1\n    platform: {{os: linux, architecture: amd64}}\n  - image: {NOWHERE}/Demo-ARM:v1\n    platform: {{os: linux, architecture: arm64}}\n"
    ))
    .await;
    assert!(err.contains("manifests[1].image"), "{err}");
    assert!(err.contains("line 5"), "{err}");
}

#[tokio::test]
async fn two_entries_with_the_same_platform_are_refused() {
    let err = refused(&format!(
        "image: {NOWHERE}/demo:v1\nmanifests:\n  - image: {NOWHERE}/a:v1\n    platform: {{os: linux, architecture: arm64}}\n  - image: {NOWHERE}/b:v1\n    platform: {{os: linux, architecture: aarch64, variant: v8}}\n"
    ))
    .await;
    assert!(
        err.contains("manifests[1]") && err.contains("linux/arm64"),
        "{err}"
    );
    assert!(err.contains("line "), "{err}");
}

#[tokio::test]
async fn an_unknown_key_is_refused_with_its_position() {
    let err = refused(&format!(
        "image: {NOWHERE}/demo:v1\nmanifests:\n  - image: {NOWHERE}/a:v1\n    platfrom: {{os: linux, architecture: amd64}}\n"
    ))
    .await;
    assert!(err.contains("platfrom"), "{err}");
    assert!(err.contains("line 4"), "{err}");
}

#[tokio::test]
async fn an_empty_list_of_sources_is_refused() {
    let err = refused(&format!("image: {NOWHERE}/demo:v1\nmanifests: []\n")).await;
    assert!(err.contains("manifests"), "{err}");
}

#[tokio::test]
async fn a_target_given_by_digest_is_refused() {
    let digest = format!("sha256:{}", "a".repeat(64));
    let err = refused(&format!(
        "image: {NOWHERE}/demo@{digest}\nmanifests:\n  - image: {NOWHERE}/a:v1\n"
    ))
    .await;
    assert!(err.contains("image") && err.contains("tag"), "{err}");
}

#[tokio::test]
async fn a_spec_that_would_make_a_list_over_four_mebibytes_is_refused() {
    let big = "x".repeat(5 * 1024 * 1024);
    let err = refused(&format!(
        "image: {NOWHERE}/demo:v1\nannotations:\n  org.example.big: {big}\nmanifests:\n  - image: {NOWHERE}/a:v1\n"
    ))
    .await;
    assert!(
        err.contains("4 MiB") || err.contains("4194304"),
        "{}",
        &err[..err.len().min(400)]
    );
}

#[tokio::test]
async fn a_spec_over_sixteen_mebibytes_is_refused_by_size_alone() {
    let comment = "x".repeat(16 * 1024 * 1024);
    let err = refused(&format!(
        "image: {NOWHERE}/demo:v1\n# {comment}\nmanifests:\n  - image: {NOWHERE}/a:v1\n"
    ))
    .await;
    assert!(
        err.contains("over the 16 MiB limit of a spec"),
        "{}",
        &err[..err.len().min(400)]
    );
}

#[tokio::test]
async fn a_spec_file_over_four_mebibytes_describing_a_small_list_is_pushed() {
    let registry = TestRegistry::plain().await;
    seed_demo(&registry).await;
    let dir = tempfile::tempdir().unwrap();
    let padding = format!("# {}\n", "x".repeat(1024)).repeat(6 * 1024);
    let text = format!("{padding}{}", demo_spec(&registry.host()).flow().yaml());
    let path = write_spec(dir.path(), "commented.yaml", &text);

    let run = push_spec(&[], &path).await;

    assert!(text.len() > 6 * 1024 * 1024);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let tags = Pusher::new(&registry).get_tags("demo").await.unwrap();
    assert_eq!(tags, ["v0.2"]);
}

#[tokio::test]
async fn a_json_spec_error_names_the_field_and_position_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_spec(
        dir.path(),
        "bad.json",
        &format!(
            "{{\n  \"image\": \"{NOWHERE}/demo:v1\",\n  \"manifests\": [\n    {{\"image\": \"{NOWHERE}/a:v1\", \"platform\": {{\"os\": \"linux\", \"architecture\": 7}}}}\n  ]\n}}\n"
        ),
    );
    let run = manifold(&["push", "from-spec", path.to_str().unwrap()])
        .await
        .failed();
    assert!(
        run.stderr.contains("manifests[0].platform.architecture"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("line 4"), "{}", run.stderr);
}

#[tokio::test]
async fn from_args_with_a_malformed_platform_names_the_flag() {
    let run = manifold(&[
        "push",
        "from-args",
        "--platforms",
        "linux",
        "--template",
        &format!("{NOWHERE}/demo-ARCH:v1"),
        "--target",
        &format!("{NOWHERE}/demo:v1"),
    ])
    .await
    .failed();
    assert!(run.stderr.contains("--platforms"), "{}", run.stderr);
    assert!(!run.stderr.contains("refused"), "{}", run.stderr);
}

#[tokio::test]
async fn a_reference_written_as_a_url_is_told_it_has_no_scheme() {
    let err = refused(&format!(
        "image: http://{NOWHERE}/demo:v1\nmanifests:\n  - image: {NOWHERE}/a:v1\n"
    ))
    .await;
    assert!(
        err.contains("image") && err.contains("has no scheme"),
        "{err}"
    );
    assert!(err.contains("--plain-http"), "{err}");
    let inspect = manifold(&["inspect", &format!("http://{NOWHERE}/demo:v1")])
        .await
        .failed();
    assert!(
        inspect.stderr.contains("has no scheme"),
        "{}",
        inspect.stderr
    );
    assert!(
        !inspect.stderr.contains("is not a number"),
        "{}",
        inspect.stderr
    );
}

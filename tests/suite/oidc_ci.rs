//! The CI pieces, run as CI runs them, against the real service, a real registry and the
//! testkit's local issuer: `manifold submit` fetching its ID token from GitHub's endpoint; the
//! GitHub Action's script (`ci/github/submit.sh`) with the environment GitHub sets; the GitLab
//! component's script with the `id_tokens` variable its job declares. Each list lands with the
//! token's identity recorded; no token is printed.

use std::path::{Path, PathBuf};

use manifold::model::Clock;
use manifold_testkit::{OidcIssuer, TestRegistry};
use serde_json::{Value, json};

use crate::oidc::service;
use crate::support::app::TestApp;
use crate::support::cli::{Run, manifold_env, seed_demo};
use crate::support::demo::demo_spec;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// GitHub's environment for a job with `permissions: id-token: write`, its runner's folders in
/// `dir`.
fn github_env(issuer: &OidcIssuer, dir: &Path) -> Vec<(String, String)> {
    let dir = dir.display();
    [
        ("GITHUB_ACTIONS", "true".to_owned()),
        ("CI", "true".to_owned()),
        ("RUNNER_TEMP", format!("{dir}/runner-temp")),
        ("GITHUB_WORKSPACE", format!("{dir}/workspace")),
        ("GITHUB_OUTPUT", format!("{dir}/github-output")),
        ("GITHUB_ENV", format!("{dir}/github-env")),
        ("GITHUB_REPOSITORY", "example-org/demo".to_owned()),
        ("GITHUB_REF", "refs/heads/main".to_owned()),
        ("ACTIONS_ID_TOKEN_REQUEST_URL", issuer.github_request_url()),
        (
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
            issuer.github_request_token(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// The list the service holds (there is one), asserted landed with the default job's identity.
async fn assert_landed_as_the_job(app: &TestApp, issuer: &OidcIssuer) -> Value {
    let lists = app.get_json("/lists").await;
    let id = lists["items"][0]["id"]
        .as_str()
        .expect("a list was submitted")
        .to_owned();
    let list = app.wait_final(&id).await;
    assert_eq!(list["status"], "succeeded", "{list}");
    assert_eq!(list["submitted_by"]["issuer"], issuer.url());
    assert_eq!(list["submitted_by"]["repository"], "example-org/demo");
    assert_eq!(list["submitted_by"]["run_id"], "4242");
    list
}

/// `manifold submit --server <app> from-spec <the demo spec>` with GitHub's environment.
async fn submit_in_github(issuer: &OidcIssuer, app: &TestApp, registry: &TestRegistry) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let spec = demo_spec(&registry.host()).write(dir.path(), "demo.yaml");
    let env = github_env(issuer, dir.path());
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let spec = spec.to_str().unwrap();
    manifold_env(&["submit", "--server", &app.base, "from-spec", spec], &env).await
}

/// Runs a script with bash (or sh) with only `PATH`, `HOME` and `env`, asserting it succeeds.
async fn run_script(
    shell: &str,
    script: &[&str],
    env: &[(String, String)],
    dir: &Path,
) -> std::process::Output {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_manifold"))
        .parent()
        .unwrap()
        .to_owned();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = tokio::process::Command::new(shell);
    cmd.args(script)
        .env_clear()
        .env("PATH", path)
        .env("HOME", dir)
        .current_dir(dir)
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().await.expect("the shell runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{shell} {script:?}: {stderr}");
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn submit_in_github_actions_fetches_its_id_token_for_the_audience_and_the_list_lands() {
    let issuer = OidcIssuer::start();
    let registry = TestRegistry::plain().await;
    seed_demo(&registry).await;
    let app = service(&issuer, &registry, Clock::system()).await;

    let run = submit_in_github(&issuer, &app, &registry).await.ok();

    assert!(run.stdout.starts_with("Digest: sha256:"), "{}", run.stderr);
    assert_eq!(issuer.github_audiences(), ["manifold"]);
    assert_landed_as_the_job(&app, &issuer).await;
    assert!(
        !run.stderr.contains("eyJ"),
        "no token printed: {}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn submit_for_a_job_no_rule_lets_exits_1_naming_the_rule() {
    let issuer = OidcIssuer::start();
    let registry = TestRegistry::plain().await;
    let app = service(&issuer, &registry, Clock::system()).await;
    issuer.set_github_claims(json!({
        "iss": issuer.url(), "sub": "repo:example-org/other:ref:refs/heads/main",
        "repository": "example-org/other", "ref": "refs/heads/main",
    }));

    let run = submit_in_github(&issuer, &app, &registry).await.failed();

    assert!(run.stderr.contains("403"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("no rule lets repository example-org/other"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("demo-main"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_action_s_script_with_github_s_environment_lands_the_list_and_writes_its_digest() {
    let issuer = OidcIssuer::start();
    let registry = TestRegistry::plain().await;
    seed_demo(&registry).await;
    let app = service(&issuer, &registry, Clock::system()).await;
    let dir = tempfile::tempdir().unwrap();
    for sub in ["runner-temp", "workspace"] {
        std::fs::create_dir(dir.path().join(sub)).unwrap();
    }
    let host = registry.host();
    let mut env = github_env(&issuer, dir.path());
    for (k, v) in [
        ("MANIFOLD_SERVER", app.base.clone()),
        ("MANIFOLD_AUDIENCE", "manifold".to_owned()),
        ("MANIFOLD_BIN", env!("CARGO_BIN_EXE_manifold").to_owned()),
        ("INPUT_SPEC", String::new()),
        ("INPUT_TARGET", format!("{host}/demo:v0.2")),
        ("INPUT_TEMPLATE", format!("{host}/demo-ARCH:v0.2")),
        ("INPUT_PLATFORMS", "linux/s390x,linux/amd64".to_owned()),
        ("INPUT_TAGS", "latest".to_owned()),
        ("INPUT_TYPE", String::new()),
        ("INPUT_EXPECT", String::new()),
        ("INPUT_RELEASE", String::new()),
        ("INPUT_DEADLINE_SECS", String::new()),
    ] {
        env.push((k.to_owned(), v));
    }
    let script = root().join("ci/github/submit.sh");

    run_script("bash", &[script.to_str().unwrap()], &env, dir.path()).await;

    let list = assert_landed_as_the_job(&app, &issuer).await;
    let outputs = std::fs::read_to_string(dir.path().join("github-output")).unwrap();
    assert_eq!(
        outputs,
        format!(
            "digest={}\nsize={}\n",
            list["digest"].as_str().unwrap(),
            list["size"]
        )
    );
    assert_eq!(list["tags"], json!(["latest"]));
    assert_eq!(issuer.github_audiences(), ["manifold"]);
}

#[test]
fn the_action_passes_every_input_to_its_script_and_runs_the_script_kept_here() {
    let text = std::fs::read_to_string(root().join("action.yml")).unwrap();
    let action: Value = yaml_serde::from_str(&text).unwrap();
    let steps = action["runs"]["steps"].as_array().unwrap();
    let submit = steps.iter().find(|s| s["id"] == "submit").unwrap();

    assert_eq!(action["runs"]["using"], "composite");
    assert_eq!(
        submit["run"],
        "bash \"$GITHUB_ACTION_PATH/ci/github/submit.sh\""
    );
    for input in action["inputs"].as_object().unwrap().keys() {
        let used = format!("inputs.{input}");
        assert!(
            text.matches(&used).count() >= 1,
            "input {input} is not used"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_gitlab_component_s_script_sends_the_id_token_its_job_declares() {
    let issuer = OidcIssuer::start();
    let registry = TestRegistry::plain().await;
    seed_demo(&registry).await;
    let app = service(&issuer, &registry, Clock::system()).await;
    let (script, declared) = gitlab_job();
    let dir = tempfile::tempdir().unwrap();
    let spec = demo_spec(&registry.host()).write(dir.path(), "demo.yaml");
    let mut env: Vec<(String, String)> = [
        "INPUT_TARGET",
        "INPUT_TEMPLATE",
        "INPUT_PLATFORMS",
        "INPUT_TAGS",
        "INPUT_EXPECT",
        "INPUT_RELEASE",
        "INPUT_DEADLINE_SECS",
    ]
    .iter()
    .map(|k| ((*k).to_owned(), String::new()))
    .collect();
    env.push(("INPUT_SPEC".to_owned(), spec.display().to_string()));
    env.push(("MANIFOLD_SERVER".to_owned(), app.base.clone()));
    env.push(("GITLAB_CI".to_owned(), "true".to_owned()));
    env.push((declared.clone(), issuer.rs256(&issuer.claims())));

    run_script("sh", &["-c", &script], &env, dir.path()).await;

    assert_eq!(
        declared, "MANIFOLD_ID_TOKEN",
        "the variable manifold reads by default"
    );
    let list = assert_landed_as_the_job(&app, &issuer).await;
    let report = std::fs::read_to_string(dir.path().join("manifold.env")).unwrap();
    assert_eq!(
        report,
        format!("MANIFOLD_DIGEST={}\n", list["digest"].as_str().unwrap())
    );
}

/// The GitLab component's job script, and the variable its `id_tokens` declares.
fn gitlab_job() -> (String, String) {
    let text = std::fs::read_to_string(root().join("ci/gitlab/manifold-submit.yml")).unwrap();
    let (_, job) = text.split_once("\n---\n").unwrap();
    let job: Value = yaml_serde::from_str(job).unwrap();
    let job = &job["$[[ inputs.job-name ]]"];
    let script = job["script"][0].as_str().unwrap().to_owned();
    let declared = job["id_tokens"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    (script, declared)
}

/// The arguments a stand-in `manifold` (on `PATH` and as `MANIFOLD_BIN`) was given by the
/// action's script and by the component's, with these inputs.
async fn arguments_passed(inputs: &[(&str, &str)]) -> Vec<Vec<String>> {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let fake = bin.join("manifold");
    std::fs::write(&fake, "#!/bin/sh\nprintf '%s\\n' \"$@\" >> \"$0.args\"\necho ---- >> \"$0.args\"\necho 'Digest: sha256:abc 7'\n").unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&fake)
        .status()
        .unwrap();
    let mut env: Vec<(String, String)> = inputs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    env.push((
        "PATH".to_owned(),
        format!("{}:/usr/bin:/bin", bin.display()),
    ));
    env.push(("MANIFOLD_BIN".to_owned(), fake.display().to_string()));
    env.push((
        "MANIFOLD_SERVER".to_owned(),
        "http://127.0.0.1:9".to_owned(),
    ));
    env.push(("MANIFOLD_TOKEN".to_owned(), "unused".to_owned()));
    let script = root().join("ci/github/submit.sh");
    let (gitlab, _) = gitlab_job();

    run_script("bash", &[script.to_str().unwrap()], &env, dir.path()).await;
    run_script("sh", &["-c", &gitlab], &env, dir.path()).await;

    let args = std::fs::read_to_string(bin.join("manifold.args")).unwrap();
    args.split("----\n")
        .filter(|run| !run.is_empty())
        .map(|run| run.lines().map(str::to_owned).collect())
        .collect()
}

#[tokio::test]
async fn both_scripts_pass_the_staged_release_inputs_as_flags_only_when_they_are_given() {
    let every = [
        ("INPUT_SPEC", "demo.yaml"),
        ("INPUT_EXPECT", "linux/amd64,linux/arm64"),
        ("INPUT_RELEASE", "v1"),
        ("INPUT_DEADLINE_SECS", "600"),
    ];
    let none = [
        ("INPUT_SPEC", "demo.yaml"),
        ("INPUT_EXPECT", ""),
        ("INPUT_RELEASE", ""),
        ("INPUT_DEADLINE_SECS", ""),
    ];

    let given = arguments_passed(&every).await;
    let left_out = arguments_passed(&none).await;

    let staged = [
        "submit",
        "--expect",
        "linux/amd64",
        "--expect",
        "linux/arm64",
        "--release",
        "v1",
        "--deadline-secs",
        "600",
        "from-spec",
        "demo.yaml",
    ];
    assert_eq!(given, [staged.to_vec(), staged.to_vec()]);
    let plain = ["submit", "from-spec", "demo.yaml"];
    assert_eq!(left_out, [plain.to_vec(), plain.to_vec()]);
}

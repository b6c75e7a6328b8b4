//! One list to several registries in one submission (`image:` a list, `push from-args --target`
//! repeated, `copy SRC DEST…`), in two phases, against real `docker-registry` instances — one
//! with token auth, one behind a double that refuses manifest PUTs — checked with skopeo and the
//! registries' own request logs: every tag flips together, or none does, and a tag moved before
//! a later refusal is put back.

use manifold_testkit::{ImageFixture, Profile, QuirkProxy, TestRegistry, TokenServer};
use serde_json::Value;

use crate::support::cli::{Run, manifold, seed, seed_two_arch_index, write_spec};
use crate::support::wait;

/// Where each destination lives: a registry's host (or its double's), and the registry whose
/// storage and log are behind it.
struct Destination<'r> {
    host: String,
    registry: &'r TestRegistry,
}

impl<'r> Destination<'r> {
    /// `registry` itself.
    fn at(registry: &'r TestRegistry) -> Self {
        Self {
            host: registry.host(),
            registry,
        }
    }

    /// `registry`, behind `double`.
    fn behind(double: &QuirkProxy, registry: &'r TestRegistry) -> Self {
        Self {
            host: double.host.clone(),
            registry,
        }
    }

    fn reference(&self, tag: &str) -> String {
        format!("{}/app:{tag}", self.host)
    }
}

/// The digest of what `app:tag` holds in `registry`, as skopeo reads it (`None`: nothing).
async fn held(registry: &TestRegistry, tag: &str) -> Option<String> {
    manifold_testkit::skopeo_inspect_raw(registry, &format!("app:{tag}"))
        .await
        .ok()
        .map(|bytes| manifold_testkit::sha256_digest(&bytes))
}

/// Seeds the sources: two platforms, in `app-amd64:v2` and `app-arm64:v2` of `sources`.
async fn seed_sources(sources: &TestRegistry) {
    for arch in ["amd64", "arm64"] {
        let fixture = ImageFixture::new("linux", arch, None).layers(2);
        seed(sources, &format!("app-{arch}"), "v2", fixture).await;
    }
}

/// Seeds the release each destination announces before: a one-platform image of its own under
/// `app:v1` and `app:latest`; its digest at each destination, in order.
async fn seed_before(destinations: &[Destination<'_>]) -> Vec<String> {
    let mut before = Vec::new();
    for (i, d) in destinations.iter().enumerate() {
        let old = ImageFixture::new("linux", "amd64", None).seed(100 + i as u64);
        let image = seed(d.registry, "app", "v1", old).await;
        manifold_testkit::Pusher::new(d.registry)
            .push_image("app", "latest", &image)
            .await
            .expect("seed latest");
        before.push(image.manifest_digest);
    }
    before
}

/// [`seed_sources`] in `sources`, then [`seed_before`].
async fn seed_releases(sources: &TestRegistry, destinations: &[Destination<'_>]) -> Vec<String> {
    seed_sources(sources).await;
    seed_before(destinations).await
}

/// The three registries as destinations, the third behind `double`, seeded by
/// [`seed_releases`] (the sources in the first): the destinations and what each announced before.
async fn third_behind<'r>(
    double: &QuirkProxy,
    [one, two, three]: [&'r TestRegistry; 3],
) -> ([Destination<'r>; 3], Vec<String>) {
    let destinations = [
        Destination::at(one),
        Destination::at(two),
        Destination::behind(double, three),
    ];
    let before = seed_releases(one, &destinations).await;
    (destinations, before)
}

/// A spec of the two sources with `image:` listing every destination's `app:v1`, and `latest`.
fn spec_to(sources: &TestRegistry, destinations: &[Destination<'_>]) -> String {
    let targets: Vec<String> = destinations.iter().map(|d| d.reference("v1")).collect();
    let host = sources.host();
    format!(
        "image: [{}]\ntags: [latest]\nmanifests:\n  - image: {host}/app-amd64:v2\n    platform: {{os: linux, architecture: amd64}}\n  - image: {host}/app-arm64:v2\n    platform: {{os: linux, architecture: arm64}}\n",
        targets.join(", ")
    )
}

/// `manifold [credentials] push --json from-spec` of `yaml`; the run and its JSON document.
async fn publish(yaml: &str, credentials: &TestRegistry) -> (Run, Value) {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(dir.path(), "spec.yaml", yaml);
    let mut args = crate::support::credentials::cred_args(credentials);
    args.extend(["push", "--json", "from-spec"].map(String::from));
    args.push(spec.to_str().unwrap().to_owned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = manifold(&args).await;
    let doc = serde_json::from_str(&run.stdout).unwrap_or(Value::Null);
    (run, doc)
}

/// How many PUTs of `app:tag` manifold made at `registry` that it answered `201`, from its
/// access log (waiting for the log to show at least `least`).
async fn tag_puts(registry: &TestRegistry, tag: &str, least: usize) -> usize {
    let line = format!("\"PUT /v2/app/manifests/{tag} HTTP/1.1\" 201");
    let count = || {
        let log = registry.log();
        log.lines()
            .filter(|l| l.contains(&line) && l.contains("\"manifold/"))
            .count()
    };
    wait::until(
        "the registry logging the tag PUTs",
        || format!(": {}", count()),
        || async { count() >= least },
    )
    .await;
    count()
}

/// Each destination's `outcome`, as a report or an error document gives them.
fn outcomes(document: &Value) -> Vec<&str> {
    document["destinations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["outcome"].as_str().unwrap())
        .collect()
}

/// Asserts that `app:v1` and `app:latest` hold `digest` at every registry.
async fn assert_everywhere(registries: &[&TestRegistry], digests: &[String]) {
    for (registry, digest) in registries.iter().zip(digests) {
        for tag in ["v1", "latest"] {
            assert_eq!(
                held(registry, tag).await.as_deref(),
                Some(digest.as_str()),
                "app:{tag} at {}",
                registry.host()
            );
        }
    }
}

#[tokio::test]
async fn a_list_published_to_three_registries_one_with_token_auth_moves_every_tag_to_one_digest() {
    let (one, two) = (TestRegistry::plain().await, TestRegistry::plain().await);
    let server = TokenServer::start();
    let three = TestRegistry::token(&server).await;
    let destinations = [&one, &two, &three].map(Destination::at);
    let before = seed_releases(&one, &destinations).await;

    let (run, report) = publish(&spec_to(&one, &destinations), &three).await;

    let run = run.ok();
    let digest = report["digest"].as_str().unwrap().to_owned();
    assert!(before.iter().all(|b| *b != digest));
    assert_everywhere(
        &[&one, &two, &three],
        &[digest.clone(), digest.clone(), digest.clone()],
    )
    .await;
    let outcomes: Vec<(&str, &str)> = report["destinations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["target"].as_str().unwrap(),
                d["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    let expected: Vec<String> = destinations.iter().map(|d| d.reference("v1")).collect();
    assert_eq!(
        outcomes,
        expected
            .iter()
            .map(|t| (t.as_str(), "published"))
            .collect::<Vec<_>>(),
        "{}",
        run.stderr
    );
    assert!(
        report["destinations"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["digest"] == digest)
    );
    for registry in [&one, &two, &three] {
        assert_eq!(tag_puts(registry, "v1", 1).await, 1, "{}", registry.host());
    }
}

#[tokio::test]
async fn a_destination_that_refuses_the_children_fails_the_publish_before_any_tag_moves() {
    let (one, two, three) = (
        TestRegistry::plain().await,
        TestRegistry::plain().await,
        TestRegistry::plain().await,
    );
    let double = QuirkProxy::start(&three.host(), Profile::DeniedPuts { tags: false }).await;
    let (destinations, before) = third_behind(&double, [&one, &two, &three]).await;

    let (run, error) = publish(&spec_to(&one, &destinations), &one).await;

    let run = run.failed();
    let message = error["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("published nowhere"), "{message}");
    assert!(
        message.contains(&destinations[2].reference("v1")),
        "{message}"
    );
    assert_eq!(error["error"]["code"], "DENIED", "{error:#}");
    assert_everywhere(&[&one, &two, &three], &before).await;
    let refused = double.count("PUT /v2/app/manifests/sha256:");
    assert!(refused > 0, "{:?}", double.seen());
    assert_eq!(double.count("PUT /v2/app/manifests/v1"), 0);
    for registry in [&one, &two] {
        assert_eq!(tag_puts(registry, "v1", 0).await, 0, "{}", registry.host());
        assert_eq!(
            tag_puts(registry, "latest", 0).await,
            0,
            "{}",
            registry.host()
        );
    }
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains(" untouched "))
        .collect();
    assert_eq!(lines.len(), 3, "{}", run.stderr);
}

#[tokio::test]
async fn a_tag_put_refused_at_the_third_registry_puts_the_tags_moved_at_the_others_back() {
    let one = TestRegistry::plain().await;
    let server = TokenServer::start();
    let two = TestRegistry::token(&server).await;
    let three = TestRegistry::plain().await;
    let double = QuirkProxy::start(&three.host(), Profile::DeniedPuts { tags: true }).await;
    let (destinations, before) = third_behind(&double, [&one, &two, &three]).await;

    let (run, error) = publish(&spec_to(&one, &destinations), &two).await;

    run.failed();
    let message = error["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&destinations[2].reference("v1")),
        "{message}"
    );
    assert!(
        message.contains("put back to the digests they held before"),
        "{message}"
    );
    assert_everywhere(&[&one, &two, &three], &before).await;
    // Moved, then put back: two PUTs of each tag at the first two registries.
    for registry in [&one, &two] {
        for tag in ["v1", "latest"] {
            assert_eq!(
                tag_puts(registry, tag, 2).await,
                2,
                "app:{tag} at {}",
                registry.host()
            );
        }
    }
    assert_eq!(
        double.count("PUT /v2/app/manifests/v1"),
        1,
        "{:?}",
        double.seen()
    );
    let outcomes = outcomes(&error);
    assert_eq!(outcomes, ["put_back", "put_back", "untouched"], "{error:#}");
}

#[tokio::test]
async fn a_copy_to_two_registries_lands_at_both_with_the_source_digest_or_at_neither() {
    let (source, one, two) = (
        TestRegistry::plain().await,
        TestRegistry::plain().await,
        TestRegistry::plain().await,
    );
    let double = QuirkProxy::start(&two.host(), Profile::DeniedPuts { tags: true }).await;
    let destinations = [Destination::at(&one), Destination::at(&two)];
    let before = seed_before(&destinations).await;
    let (index, _, _) = seed_two_arch_index(&source, "app", "v2").await;
    let (list, digest) = (format!("{}/app:v2", source.host()), index.digest);
    let copy = |to: [String; 2]| {
        let list = list.clone();
        async move {
            let mut args = vec!["copy".to_owned(), "--tags".into(), "latest".into(), list];
            args.extend(to);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            manifold(&args).await
        }
    };

    let refused = copy([
        destinations[0].reference("v1"),
        format!("{}/app:v1", double.host),
    ])
    .await
    .failed();
    let copied = copy([
        destinations[0].reference("v1"),
        destinations[1].reference("v1"),
    ])
    .await
    .ok();

    assert!(
        refused.stderr.contains(&format!("{}/app:v1", double.host)),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains(" put back "), "{}", refused.stderr);
    assert_eq!(tag_puts(&one, "v1", 3).await, 3, "moved, put back, copied");
    let lines: Vec<&str> = copied.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", copied.stdout);
    assert!(lines[0].starts_with(&format!(
        "{} published {digest}",
        destinations[0].reference("v1")
    )));
    assert!(lines[1].starts_with(&format!(
        "{} published {digest}",
        destinations[1].reference("v1")
    )));
    assert!(
        lines[2].starts_with(&format!("Digest: {digest} ")),
        "{}",
        copied.stdout
    );
    assert_everywhere(&[&one, &two], &[digest.clone(), digest.clone()]).await;
    assert!(before.iter().all(|b| *b != digest));
}

#[tokio::test]
async fn push_from_args_takes_the_target_again_for_each_more_registry_and_again_writes_nothing() {
    let (one, two) = (TestRegistry::plain().await, TestRegistry::plain().await);
    let destinations = [Destination::at(&one), Destination::at(&two)];
    seed_releases(&one, &destinations).await;
    let template = format!("{}/app-ARCH:v2", one.host());
    let (first, second) = (
        destinations[0].reference("v1"),
        destinations[1].reference("v1"),
    );
    let push = |more: &'static [&'static str]| {
        let mut args = vec!["push"];
        args.extend(more);
        let args: Vec<String> = args
            .into_iter()
            .chain(["from-args", "--platforms", "linux/amd64,linux/arm64"])
            .map(String::from)
            .chain(["--template".into(), template.clone()])
            .chain([
                "--target".into(),
                first.clone(),
                "--target".into(),
                second.clone(),
            ])
            .chain(["--tags".into(), "latest".into()])
            .collect();
        async move { manifold(&args.iter().map(String::as_str).collect::<Vec<_>>()).await }
    };

    let run = push(&[]).await.ok();
    let again = push(&[]).await.ok();
    let appended = push(&["--append"]).await.failed();

    let (digest, _) = run.digest_line();
    assert_everywhere(&[&one, &two], &[digest.clone(), digest.clone()]).await;
    let published = format!("{second} published {digest} (tags latest)");
    assert!(run.stdout.contains(&published), "{}", run.stdout);
    let unchanged = format!("{second} unchanged {digest} (tags latest)");
    assert!(again.stdout.contains(&unchanged), "{}", again.stdout);
    for registry in [&one, &two] {
        assert_eq!(tag_puts(registry, "v1", 1).await, 1, "{}", registry.host());
    }
    assert!(
        appended
            .stderr
            .contains("append merges into the list each target holds"),
        "{}",
        appended.stderr
    );
}

#[tokio::test]
async fn an_oci_index_gitea_refuses_in_a_publish_is_put_back_everywhere_with_advice_to_publish_a_docker_list()
 {
    let (one, two) = (TestRegistry::plain().await, TestRegistry::plain().await);
    let double = QuirkProxy::start(&two.host(), Profile::Gitea).await;
    let destinations = [Destination::at(&one), Destination::behind(&double, &two)];
    let before = seed_releases(&one, &destinations).await;
    let oci = format!("type: oci\n{}", spec_to(&one, &destinations));
    let docker = format!("type: docker\n{}", spec_to(&one, &destinations));

    let (refused, error) = publish(&oci, &one).await;
    refused.failed();
    let message = error["error"]["message"].as_str().unwrap_or_default();
    assert_eq!(error["error"]["code"], "INVALID_LIST", "{error:#}");
    assert!(message.contains("refused the OCI image index"), "{message}");
    assert!(message.contains("--type docker"), "{message}");
    assert_everywhere(&[&one, &two], &before).await;
    let outcomes = outcomes(&error);
    assert_eq!(outcomes, ["put_back", "untouched"], "{error:#}");

    let (run, report) = publish(&docker, &one).await;
    run.ok();
    let digest = report["digest"].as_str().unwrap().to_owned();
    assert_everywhere(&[&one, &two], &[digest.clone(), digest]).await;
}

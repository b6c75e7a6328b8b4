//! manifold as manifest-tool, checked against what manifest-tool v2.2.1 really did (recorded as
//! `tests/golden/manifest-tool/README.md` says): `push --format manifest-tool` stores its bytes —
//! so its digest — for the same specs, `inspect` prints every line it prints, in its order, and
//! its command lines exit with its status.

use manifold_testkit::media_types::ACCEPT_ALL;
use manifold_testkit::{ImageFixture, IndexFixture, Pusher, TestRegistry};

use crate::support::cli::{manifold, write_spec};

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/golden/manifest-tool");

fn golden(name: &str) -> Vec<u8> {
    std::fs::read(format!("{GOLDEN}/{name}")).unwrap()
}

/// The sources the recording was made from (its README names them), in `registry`.
async fn seed_sources(registry: &TestRegistry) {
    let pusher = Pusher::new(registry);
    let images = [
        ("mt-amd64", ImageFixture::new("linux", "amd64", None)),
        ("mt-s390x", ImageFixture::new("linux", "s390x", None)),
        ("mt-arm64", ImageFixture::new("linux", "arm64", Some("v8"))),
        (
            "mt-oci-amd64",
            ImageFixture::new("linux", "amd64", None).oci().seed(1),
        ),
        (
            "mt-oci-arm",
            ImageFixture::new("linux", "arm", Some("v7")).oci().seed(1),
        ),
        (
            "mt-win-1809",
            ImageFixture::new("windows", "amd64", None)
                .os_version("10.0.17763.5329")
                .os_features(&["win32k"])
                .seed(2),
        ),
        (
            "mt-win-2022",
            ImageFixture::new("windows", "amd64", None)
                .os_version("10.0.20348.2227")
                .seed(3),
        ),
    ];
    for (repo, fixture) in images {
        pusher
            .push_image(repo, "v1", &fixture.build())
            .await
            .unwrap();
    }
    let amd64 = ImageFixture::new("linux", "amd64", None)
        .oci()
        .seed(4)
        .build();
    let arm64 = ImageFixture::new("linux", "arm64", Some("v8"))
        .oci()
        .seed(4)
        .build();
    let buildx = IndexFixture::new()
        .oci()
        .image(&amd64)
        .image(&arm64)
        .attestation_for(&amd64)
        .attestation_for(&arm64)
        .build();
    pusher.push_index("mt-buildx", "v1", &buildx).await.unwrap();
}

/// The recorded specs: (golden file, `--type`, the spec's `manifests:` and `annotations:`).
fn specs(host: &str) -> Vec<(&'static str, Option<&'static str>, String)> {
    let entries = |sources: &[(&str, &str)]| -> String {
        sources
            .iter()
            .map(|(repo, platform)| format!("  - image: {host}/{repo}:v1\n{platform}"))
            .collect()
    };
    let platform = |p: &str| format!("    platform: {{{p}}}\n");
    let docker = entries(&[
        ("mt-amd64", &platform("architecture: amd64, os: linux")),
        ("mt-s390x", &platform("architecture: s390x, os: linux")),
        (
            "mt-arm64",
            &platform("architecture: arm64, os: linux, variant: v8"),
        ),
    ]);
    let unplatformed = entries(&[("mt-amd64", ""), ("mt-s390x", ""), ("mt-arm64", "")]);
    let annotated = format!(
        "annotations:\n  org.opencontainers.image.description: \"a <small> & simple index — ok\"\n  \
         org.example.b: \"2\"\nmanifests:\n{}",
        entries(&[
            ("mt-oci-amd64", ""),
            (
                "mt-oci-arm",
                &platform("architecture: arm, os: linux, variant: v7")
            ),
        ])
    );
    let two = entries(&[
        ("mt-amd64", &platform("architecture: amd64, os: linux")),
        ("mt-s390x", &platform("architecture: s390x, os: linux")),
    ]);
    let buildx = entries(&[("mt-buildx", "")]);
    let windows = entries(&[("mt-win-1809", ""), ("mt-win-2022", ""), ("mt-amd64", "")]);
    vec![
        (
            "docker",
            None,
            format!("tags: [docker-extra]\nmanifests:\n{docker}"),
        ),
        ("docker", None, format!("manifests:\n{unplatformed}")),
        ("oci-annotated", Some("oci"), annotated),
        ("oci", Some("oci"), format!("manifests:\n{two}")),
        ("buildx", None, format!("manifests:\n{buildx}")),
        ("buildx-oci", Some("oci"), format!("manifests:\n{buildx}")),
        ("windows", None, format!("manifests:\n{windows}")),
    ]
}

#[tokio::test]
async fn format_manifest_tool_stores_the_bytes_manifest_tool_stored_for_the_same_specs() {
    let registry = TestRegistry::plain().await;
    let host = registry.host();
    seed_sources(&registry).await;
    let dir = tempfile::tempdir().unwrap();
    let pusher = Pusher::new(&registry);

    for (n, (name, list_type, body)) in specs(&host).into_iter().enumerate() {
        let tag = format!("{name}-{n}");
        let spec = write_spec(
            dir.path(),
            &format!("{tag}.yaml"),
            &format!("image: {host}/mt-list:{tag}\n{body}"),
        );
        let mut args = vec!["--plain-http", "push", "--format", "manifest-tool"];
        if let Some(t) = list_type {
            args.extend(["--type", t]);
        }
        args.extend(["from-spec", spec.to_str().unwrap()]);

        let run = manifold(&args).await.ok();

        let expected = golden(&format!("{name}.json"));
        let stored = pusher
            .get_manifest("mt-list", &tag, ACCEPT_ALL)
            .await
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&stored.bytes),
            String::from_utf8_lossy(&expected),
            "{name} ({tag})"
        );
        let digest = manifold_testkit::sha256_digest(&expected);
        assert_eq!(run.digest_line(), (digest, expected.len() as u64), "{tag}");
    }
}

#[tokio::test]
async fn the_spec_key_and_from_args_give_manifest_tool_digest_and_the_default_does_not() {
    let registry = TestRegistry::plain().await;
    let host = registry.host();
    seed_sources(&registry).await;
    let dir = tempfile::tempdir().unwrap();
    let (_, _, body) = specs(&host).remove(1);
    let keyed = write_spec(
        dir.path(),
        "keyed.yaml",
        &format!("format: manifest-tool\nimage: {host}/mt-list:keyed\n{body}"),
    );
    let plain = write_spec(
        dir.path(),
        "plain.yaml",
        &format!("image: {host}/mt-list:plain\n{body}"),
    );
    let expected = manifold_testkit::sha256_digest(&golden("docker.json"));

    let by_key = manifold(&["push", "from-spec", keyed.to_str().unwrap()])
        .await
        .ok();
    let by_args = manifold(&[
        "push",
        "--format",
        "manifest-tool",
        "from-args",
        "--platforms",
        "linux/amd64,linux/s390x,linux/arm64/v8",
        "--template",
        &format!("{host}/mt-ARCH:v1"),
        "--target",
        &format!("{host}/mt-list:args"),
    ])
    .await
    .ok();
    let default = manifold(&["push", "from-spec", plain.to_str().unwrap()])
        .await
        .ok();

    assert_eq!(by_key.digest_line().0, expected);
    assert_eq!(by_args.digest_line().0, expected);
    assert_ne!(
        default.digest_line().0,
        expected,
        "manifold's own is compact"
    );
}

/// The first of `wanted`'s lines that `text` does not have after the ones before it (other lines
/// may come between them); `None` when it has them all, in order.
fn first_missing<'a>(wanted: &'a str, text: &str) -> Option<&'a str> {
    let mut lines = text.lines();
    wanted.lines().find(|w| !lines.by_ref().any(|l| l == *w))
}

#[tokio::test]
async fn inspect_prints_every_line_manifest_tool_prints_in_its_order() {
    let registry = TestRegistry::plain().await;
    let host = registry.host();
    seed_sources(&registry).await;
    let dir = tempfile::tempdir().unwrap();
    let specs = specs(&host);
    for (name, list_type, body) in [&specs[0], &specs[5], &specs[6]] {
        let spec = write_spec(
            dir.path(),
            "spec.yaml",
            &format!("image: {host}/mt-list:{name}\n{body}"),
        );
        let mut args = vec!["push", "--format", "manifest-tool"];
        if let Some(t) = list_type {
            args.extend(["--type", *t]);
        }
        args.extend(["from-spec", spec.to_str().unwrap()]);
        manifold(&args).await.ok();
    }

    for (reference, recorded) in [
        ("mt-list:docker", "inspect-docker.txt"),
        ("mt-list:buildx-oci", "inspect-buildx-oci.txt"),
        ("mt-list:windows", "inspect-windows.txt"),
        ("mt-win-1809:v1", "inspect-mt-win-1809.txt"),
    ] {
        let expected = String::from_utf8(golden(recorded))
            .unwrap()
            .replace("HOST", &host);

        let run = manifold(&["inspect", &format!("{host}/{reference}")])
            .await
            .ok();

        let missing = first_missing(&expected, &run.stdout);
        assert_eq!(missing, None, "{reference}:\n{}", run.stdout);
    }
}

/// manifest-tool v2.2.1's exit status for command lines that need no registry, recorded with
/// `HOME` empty.
const EXIT_STATUS: &[(i32, &[&str])] = &[
    (0, &[]),
    (0, &["--help"]),
    (0, &["-h"]),
    (0, &["--version"]),
    (0, &["-v"]),
    (0, &["help"]),
    (0, &["help", "push"]),
    (3, &["help", "nosuch"]),
    (3, &["nosuch"]),
    (0, &["push"]),
    (0, &["push", "--help"]),
    (3, &["push", "nosuch"]),
    (1, &["push", "from-spec"]),
    (1, &["push", "from-spec", "/nonexistent/spec.yaml"]),
    (1, &["push", "from-args"]),
    (
        1,
        &[
            "push",
            "from-args",
            "--platforms",
            "linux/amd64",
            "--template",
            "r.test/x-ARCH:v1",
        ],
    ),
    (1, &["--bogus", "inspect", "r.test/x:v1"]),
    (1, &["inspect", "--bogus", "r.test/x:v1"]),
    (1, &["inspect"]),
    (0, &["inspect", "--help"]),
    (1, &["--plain-http", "inspect", "127.0.0.1:9/x:y"]),
    (
        1,
        &[
            "--docker-cfg",
            "/nonexistent/docker",
            "inspect",
            "127.0.0.1:9/x:y",
        ],
    ),
];

#[tokio::test]
async fn command_lines_exit_as_manifest_tool_exits() {
    let mut differ = Vec::new();

    for (expected, args) in EXIT_STATUS {
        let run = manifold(args).await;
        if run.code != *expected {
            differ.push(format!("{args:?}: {} (manifest-tool {expected})", run.code));
        }
    }

    assert!(differ.is_empty(), "{differ:#?}");
}

#[tokio::test]
async fn help_shown_for_a_missing_command_goes_to_stdout_and_the_unknown_one_is_named() {
    let bare = manifold(&["push"]).await;
    let unknown = manifold(&["nosuch"]).await;
    let version = manifold(&["-v"]).await;

    assert!(bare.stdout.contains("from-spec"), "{}", bare.stdout);
    assert!(unknown.stderr.contains("nosuch"), "{}", unknown.stderr);
    assert!(
        version.stdout.starts_with("manifold "),
        "{}",
        version.stdout
    );
}

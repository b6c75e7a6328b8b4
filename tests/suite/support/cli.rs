//! The `manifold` binary and what it works on: running it (no user config leaks in), writing spec
//! files, seeding images (the documentation demo's among them) and checking with skopeo what each
//! platform pulls.

use std::path::{Path, PathBuf};
use std::process::Output;

use manifold_testkit::media_types::ACCEPT_ALL;
use manifold_testkit::{
    Blob, BuiltImage, BuiltIndex, ImageFixture, IndexFixture, Pusher, TestRegistry, skopeo_pick,
};
use serde_json::Value;

/// The result of one `manifold` run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub raw_stdout: Vec<u8>,
}

impl Run {
    /// The `Digest: sha256:<hex> <size>` line, parsed.
    pub fn digest_line(&self) -> (String, u64) {
        let line = self
            .stdout
            .lines()
            .find(|l| l.starts_with("Digest: "))
            .unwrap_or_else(|| {
                panic!(
                    "no Digest line in stdout:\n{}\nstderr:\n{}",
                    self.stdout, self.stderr
                )
            });
        let mut parts = line["Digest: ".len()..].split(' ');
        let digest = parts.next().unwrap().to_owned();
        let size = parts.next().unwrap().parse().unwrap();
        (digest, size)
    }

    /// Asserts success and returns self.
    pub fn ok(self) -> Self {
        assert_eq!(
            self.code, 0,
            "manifold failed:\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Asserts failure and returns self.
    pub fn failed(self) -> Self {
        assert_ne!(
            self.code, 0,
            "manifold should have failed:\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// Runs the `manifold` binary with `args`; no user config leaks in.
pub async fn manifold(args: &[&str]) -> Run {
    manifold_env(args, &[]).await
}

/// Runs `manifold` with extra environment variables.
pub async fn manifold_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let home = tempfile::tempdir().unwrap();
    run(command(home.path(), args, env)).await
}

/// Runs `manifold` in `dir` (its working directory, and its home) with extra environment
/// variables.
pub async fn manifold_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = command(dir, args, env);
    cmd.current_dir(dir);
    run(cmd).await
}

/// Runs `manifold` with its stdout a pipe whose reader has gone away before it writes a byte (as
/// `manifold … | head` ends once `head` has its lines).
pub async fn manifold_to_a_closed_pipe(args: &[&str]) -> Run {
    let home = tempfile::tempdir().unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut cmd = command(home.path(), args, &[]);
    cmd.stdout(writer).stderr(std::process::Stdio::piped());
    let Output { status, stderr, .. } = cmd
        .spawn()
        .expect("manifold runs")
        .wait_with_output()
        .await
        .unwrap();
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::new(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        raw_stdout: Vec::new(),
    }
}

/// `manifold args` with no environment but `PATH`, `HOME=home` and `env`.
fn command(home: &Path, args: &[&str], env: &[(&str, &str)]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_manifold"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Runs `cmd` to its end, collecting what it printed.
async fn run(mut cmd: tokio::process::Command) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().await.expect("manifold runs");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        raw_stdout: stdout,
    }
}

/// Runs `manifold [global...] push from-spec SPEC`.
pub async fn push_spec(global: &[&str], spec: &Path) -> Run {
    let mut args = global.to_vec();
    args.extend(["push", "from-spec", spec.to_str().unwrap()]);
    manifold(&args).await
}

/// Writes a spec file into a temp dir; keep the dir alive while it is used.
pub fn write_spec(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Another writer putting what `repo` holds as `digest` under `tag`, byte for byte (the
/// registry's own bytes read back and PUT again).
pub async fn put_under_tag(registry: &TestRegistry, repo: &str, digest: &Value, tag: &str) {
    let pusher = Pusher::new(registry);
    let held = pusher
        .get_manifest(repo, digest.as_str().unwrap(), ACCEPT_ALL)
        .await
        .unwrap();
    pusher
        .push_manifest(repo, tag, &held.bytes, &held.media_type)
        .await
        .unwrap();
}

/// Builds and pushes one single-platform image to `repo:tag`.
pub async fn seed(
    registry: &TestRegistry,
    repo: &str,
    tag: &str,
    fixture: ImageFixture,
) -> BuiltImage {
    let image = fixture.build();
    Pusher::new(registry)
        .push_image(repo, tag, &image)
        .await
        .expect("seed push");
    image
}

/// A one-layer image of `arch` whose layer is `size` bytes (its bytes depend on `arch`), pushed
/// to `repo:v1`; its layer, and the manifest's digest (`.1`).
pub async fn seed_big_image(
    registry: &TestRegistry,
    repo: &str,
    arch: &str,
    size: u64,
) -> (Blob, String) {
    let mut data = vec![0u8; usize::try_from(size).unwrap()];
    for (i, block) in data.chunks_mut(4096).enumerate() {
        block[0] = (i % 251) as u8;
        block[1] = (i / 251 % 251) as u8;
        block[2] = arch.as_bytes()[1];
    }
    let layer = Blob::new("application/vnd.docker.image.rootfs.diff.tar.gzip", data);
    let image = ImageFixture::new("linux", arch, None).layers(1).build();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": image.config.descriptor(),
        "layers": [layer.descriptor()],
    });
    let pusher = Pusher::new(registry);
    pusher.push_blob(repo, &image.config).await.unwrap();
    pusher.push_blob(repo, &layer).await.unwrap();
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let digest = pusher
        .push_manifest(repo, "v1", &bytes, manifest["mediaType"].as_str().unwrap())
        .await
        .unwrap();
    (layer, digest)
}

/// The documentation demo: `demo-s390x:v0.2` and `demo-amd64:v0.2` in their own repositories.
pub async fn seed_demo(registry: &TestRegistry) -> (BuiltImage, BuiltImage) {
    let seed_arch = |arch| {
        let repo = format!("demo-{arch}");
        async move {
            seed(
                registry,
                &repo,
                "v0.2",
                ImageFixture::new("linux", arch, None),
            )
            .await
        }
    };
    (seed_arch("s390x").await, seed_arch("amd64").await)
}

/// Pushes an OCI index of a linux/amd64 and a linux/arm64 image as `repo:tag`; the index and
/// the two images.
pub async fn seed_two_arch_index(
    registry: &TestRegistry,
    repo: &str,
    tag: &str,
) -> (BuiltIndex, BuiltImage, BuiltImage) {
    let amd64 = ImageFixture::new("linux", "amd64", None).oci().build();
    let arm64 = ImageFixture::new("linux", "arm64", None).oci().build();
    let index = IndexFixture::new()
        .oci()
        .image(&amd64)
        .image(&arm64)
        .build();
    Pusher::new(registry)
        .push_index(repo, tag, &index)
        .await
        .expect("seed index");
    (index, amd64, arm64)
}

/// Asserts that a list's `digest` is the one the registry stores under `repo:tag`.
pub async fn assert_stored_digest(registry: &TestRegistry, repo: &str, tag: &str, list: &Value) {
    let stored = Pusher::new(registry)
        .get_manifest(repo, tag, ACCEPT_ALL)
        .await
        .unwrap();
    assert_eq!(
        list["digest"].as_str(),
        stored.digest.as_deref(),
        "{list:#}"
    );
}

/// The demo list was copied to `release/demo` of `production` under `v0.2` and `stable`, with
/// `digest`, and each platform pulls its own image there.
pub async fn assert_demo_copied(
    production: &TestRegistry,
    digest: Option<&str>,
    s390x: &BuiltImage,
    amd64: &BuiltImage,
) {
    let pusher = Pusher::new(production);
    for tag in ["v0.2", "stable"] {
        let stored = pusher
            .get_manifest("release/demo", tag, ACCEPT_ALL)
            .await
            .unwrap();
        assert_eq!(stored.digest.as_deref(), digest, "{tag}");
    }
    assert_pulls(
        production,
        "release/demo:v0.2",
        &[
            ("linux", "s390x", None, &s390x.manifest_digest),
            ("linux", "amd64", None, &amd64.manifest_digest),
        ],
    )
    .await;
}

/// Checks with skopeo that pulling `image` on each platform gets the expected child.
pub async fn assert_pulls(
    registry: &TestRegistry,
    image: &str,
    expected: &[(&str, &str, Option<&str>, &str)],
) {
    for (os, arch, variant, digest) in expected {
        let picked = skopeo_pick(registry, image, os, arch, *variant)
            .await
            .unwrap_or_else(|e| panic!("skopeo pick {os}/{arch}: {e:#}"));
        assert_eq!(
            &picked, digest,
            "pulling {image} as {os}/{arch}/{variant:?}"
        );
    }
}

/// Checks that pulling `image` as linux/s390x and linux/amd64 gets the demo's two children.
pub async fn assert_demo_pulls(
    registry: &TestRegistry,
    image: &str,
    s390x: &BuiltImage,
    amd64: &BuiltImage,
) {
    assert_pulls(
        registry,
        image,
        &[
            ("linux", "s390x", None, &s390x.manifest_digest),
            ("linux", "amd64", None, &amd64.manifest_digest),
        ],
    )
    .await;
}

/// How many `PUT /v2/<repo>/manifests/<tag>` requests the registry's access log shows.
pub fn manifest_puts(registry: &TestRegistry, repo: &str, tag: &str) -> usize {
    let request = format!("\"PUT /v2/{repo}/manifests/{tag} HTTP/");
    registry
        .log()
        .lines()
        .filter(|l| l.contains(&request))
        .count()
}

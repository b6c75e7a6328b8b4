//! Long blob transfers: a layer of a few hundred MiB copied between two registries through a
//! throttling proxy, taking far longer than the request timeout while the idle timeout is short,
//! with one chunk's connection cut on the way (the upload resumes after the last chunk the target
//! holds); the CLI's peak memory stays far below the layer's size. A chunk cut part way (the
//! target then holds other bytes than were sent) starts the blob again. A target that reads
//! slowly and takes its time to commit each upload is waited for (the commit budget), not given
//! up on after the idle or answer timeout. A config the platform check read is not read from its
//! source again to copy it.

use std::time::{Duration, Instant};

use manifold_testkit::{ImageFixture, Pusher, TestRegistry};

use crate::support::cli::seed_big_image;
use crate::support::proxy::{Behaviour, ThrottlingProxy};

const MIB: u64 = 1024 * 1024;
/// The layer copied.
const LAYER: u64 = 256 * MIB;
/// What the proxy passes on towards the target, a second.
const RATE: u64 = 16 * MIB;
/// Upload chunks.
const CHUNK_MIB: u64 = 32;

/// Runs `manifold args` and samples its peak resident set (`VmHWM`) while it runs: exit code,
/// stderr, peak in KiB, and how long it took.
async fn run_measured(args: &[&str]) -> (i32, String, u64, Duration) {
    let home = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_manifold"))
        .args(args)
        .env_clear()
        .env("HOME", home.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let status_path = format!("/proc/{}/status", child.id().unwrap());
    let mut stderr = child.stderr.take().unwrap();
    let reader = tokio::spawn(async move {
        let mut text = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut text)
            .await
            .unwrap();
        text
    });
    let mut peak_kib = 0;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if let Some(kib) = std::fs::read_to_string(&status_path)
            .ok()
            .and_then(|s| vm_hwm_kib(&s))
        {
            peak_kib = peak_kib.max(kib);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let took = started.elapsed();
    (
        status.code().unwrap_or(-1),
        reader.await.unwrap(),
        peak_kib,
        took,
    )
}

/// Where a whole chunk of the layer starting where `range` starts ends (the config blob's one
/// chunk ends elsewhere).
fn range_end(range: &str, chunk: u64) -> u64 {
    let start: u64 = range.split('-').next().unwrap().parse().unwrap();
    (start + chunk).min(LAYER) - 1
}

fn vm_hwm_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_large_layer_copies_through_a_slow_proxy_for_longer_than_the_request_timeout_resuming_a_cut_chunk()
 {
    let source = TestRegistry::plain().await;
    let target = TestRegistry::plain().await;
    let (layer, _) = seed_big_image(&source, "big", "amd64", LAYER).await;
    let proxy = ThrottlingProxy::start(
        &target.host(),
        Behaviour {
            upload_rate: RATE,
            cut_patch_at: Some(CHUNK_MIB * MIB),
            cut_after: 0,
            commit_delay: Duration::ZERO,
        },
    )
    .await;
    let from = source.reference("big", "v1");
    let to = format!("{}/big:v1", proxy.addr);
    let chunk = CHUNK_MIB.to_string();

    let (code, stderr, peak_kib, took) = run_measured(&[
        "--request-timeout",
        "2",
        "--idle-timeout",
        "3",
        "--upload-chunk-mib",
        &chunk,
        "copy",
        &from,
        &to,
    ])
    .await;

    eprintln!(
        "copied {} MiB at {} MiB/s in {:.1} s; peak RSS {} KiB",
        LAYER / MIB,
        RATE / MIB,
        took.as_secs_f64(),
        peak_kib
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        took > Duration::from_secs(2),
        "longer than the request timeout"
    );
    let target_pusher = Pusher::new(&target);
    assert!(
        target_pusher
            .blob_exists("big", &layer.digest)
            .await
            .unwrap()
    );
    assert!(target_pusher.manifest_exists("big", "v1").await.unwrap());
    let chunk_bytes = CHUNK_MIB * MIB;
    let layer_chunks: Vec<_> = proxy
        .seen()
        .into_iter()
        .filter(|s| s.method == "PATCH")
        .filter_map(|s| Some((s.content_range?, s.cut)))
        .filter(|(range, _)| range.ends_with(&format!("-{}", range_end(range, chunk_bytes))))
        .collect();
    let first = format!("0-{}", chunk_bytes - 1);
    let second = format!("{chunk_bytes}-{}", 2 * chunk_bytes - 1);
    let cut: Vec<_> = layer_chunks.iter().filter(|(_, cut)| *cut).collect();
    assert_eq!(cut, [&(second.clone(), true)], "{layer_chunks:#?}");
    let sent = |range: &str| layer_chunks.iter().filter(|(r, _)| r == range).count();
    assert_eq!(
        sent(&first),
        1,
        "not started again from byte 0: {layer_chunks:#?}"
    );
    assert_eq!(
        sent(&second),
        2,
        "the cut chunk is sent again: {layer_chunks:#?}"
    );
    assert_eq!(
        layer_chunks.len() as u64,
        LAYER / chunk_bytes + 1,
        "{layer_chunks:#?}\n{stderr}"
    );
    assert!(
        peak_kib * 1024 < LAYER / 4,
        "peak RSS {peak_kib} KiB for a {LAYER}-byte layer"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_cut_inside_a_chunk_is_started_again_when_the_target_holds_other_bytes_than_sent()
{
    let source = TestRegistry::plain().await;
    let target = TestRegistry::plain().await;
    let (layer, _) = seed_big_image(&source, "mid", "amd64", 8 * MIB).await;
    let proxy = ThrottlingProxy::start(
        &target.host(),
        Behaviour {
            upload_rate: 1024 * MIB,
            cut_patch_at: Some(2 * MIB),
            cut_after: MIB,
            commit_delay: Duration::ZERO,
        },
    )
    .await;
    let from = source.reference("mid", "v1");
    let to = format!("{}/mid:v1", proxy.addr);

    let (code, stderr, _, _) = run_measured(&["--upload-chunk-mib", "2", "copy", &from, &to]).await;

    assert_eq!(code, 0, "{stderr}");
    let target_pusher = Pusher::new(&target);
    assert!(
        target_pusher
            .blob_exists("mid", &layer.digest)
            .await
            .unwrap()
    );
    let chunk = |n: u64| format!("{}-{}", n * 2 * MIB, (n + 1) * 2 * MIB - 1);
    let layer_ranges: Vec<String> = proxy
        .seen()
        .into_iter()
        .filter(|s| s.method == "PATCH")
        .filter_map(|s| s.content_range)
        .filter(|r| {
            let end: u64 = r.rsplit('-').next().unwrap().parse().unwrap();
            (end + 1).is_multiple_of(2 * MIB)
        })
        .collect();
    let restarted = [0, 1, 0, 1, 2, 3].map(chunk);
    assert_eq!(
        layer_ranges, restarted,
        "distribution 2.8 keeps part of a cut chunk, so the upload starts again from byte 0"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_reader_and_a_slow_commit_are_waited_for_within_the_commit_budget() {
    let source = TestRegistry::plain().await;
    let target = TestRegistry::plain().await;
    let (layer, _) = seed_big_image(&source, "slow", "amd64", 32 * 1024).await;
    // The layer is read at 16 KiB/s (2 s) and each commit is held 2 s: both far longer than the
    // idle and answer timeouts below.
    let proxy = ThrottlingProxy::start(
        &target.host(),
        Behaviour {
            upload_rate: 16 * 1024,
            cut_patch_at: None,
            cut_after: 0,
            commit_delay: Duration::from_secs(2),
        },
    )
    .await;
    let from = source.reference("slow", "v1");
    let to = format!("{}/slow:v1", proxy.addr);
    let short = ["--answer-timeout", "1", "--idle-timeout", "1"];

    let (code, stderr, _, took) = run_measured(&[&short[..], &["copy", &from, &to]].concat()).await;

    assert_eq!(code, 0, "{stderr}");
    assert!(took >= Duration::from_secs(4), "{took:?}");
    assert!(
        !stderr.contains("retrying"),
        "nothing was sent twice: {stderr}"
    );
    let target_pusher = Pusher::new(&target);
    assert!(
        target_pusher
            .blob_exists("slow", &layer.digest)
            .await
            .unwrap()
    );
    assert!(target_pusher.manifest_exists("slow", "v1").await.unwrap());

    let to = format!("{}/other:v1", proxy.addr);
    let bounded = [&short[..], &["--commit-timeout", "1", "copy", &from, &to]].concat();
    let (code, stderr, _, _) = run_measured(&bounded).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("--commit-timeout"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_config_read_for_the_platform_check_is_not_read_again_to_copy_it() {
    let (source, target) = (TestRegistry::plain().await, TestRegistry::plain().await);
    let image = ImageFixture::new("linux", "amd64", None).layers(1).build();
    Pusher::new(&source)
        .push_image("app-amd64", "v1", &image)
        .await
        .unwrap();
    let spec = format!(
        "image: {}/app:v1\nmanifests:\n  - image: {}/app-amd64:v1\n    platform: {{os: linux, architecture: amd64}}\n",
        target.host(),
        source.host()
    );
    let dir = tempfile::tempdir().unwrap();
    let file = crate::support::cli::write_spec(dir.path(), "spec.yaml", &spec);

    crate::support::cli::manifold(&["push", "from-spec", file.to_str().unwrap()])
        .await
        .ok();

    let reads = |digest: &str| {
        let request = format!("\"GET /v2/app-amd64/blobs/{digest} HTTP/");
        source
            .log()
            .lines()
            .filter(|l| l.contains(&request))
            .count()
    };
    assert_eq!(reads(&image.config.digest), 1, "read once, for the check");
    assert_eq!(reads(&image.layers[0].digest), 1);
    let copied = Pusher::new(&target);
    assert!(
        copied
            .blob_exists("app", &image.config.digest)
            .await
            .unwrap()
    );
    assert!(copied.manifest_exists("app", "v1").await.unwrap());
}

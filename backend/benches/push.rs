//! Push benchmark against a local `docker-registry`: N single-platform sources in separate
//! repositories, a cold push into a new target repository, a re-push of the same list, and a push
//! after one source was rebuilt, for N = 2, 16, 64.
//!
//! Clients in the same run: manifold (8 and 16 sources at a time, and one at a time), a
//! sequential client that makes manifest-tool v2's requests (9N+2: HEAD+GET manifest, GET
//! config, HEAD+mount per blob, HEAD+PUT child; HEAD+PUT list), and a floor client that makes
//! only the 4N+1 requests a cold push needs, 8 sources at a time (and once more reading each
//! source's config, as a platform check must), and manifold taking the spec's platforms. Prints
//! the median wall time of `RUNS` runs and the requests made. Last, each source is signed and given
//! an SBOM and the list pushed with `--referrers`, and the extra requests per child are printed.
//! Last, a line sets each goal beside its figure at the largest N (the re-push against the
//! sequential client, its requests against 2N+1, the cold push against the floor reading configs).
//! Last, a list of 16 platforms published to three registries in one submission, against three
//! pushes and against a push and two copies, one after another (`publish_rows`).
//! Run with `cargo bench -p manifold --bench push`; `-- publish` runs only that last part.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use manifold::engine::{self, PushOptions};
use manifold::model::Reference;
use manifold::model::{ListOptions, ListType};
use manifold::registry::{ClientConfig, RegistryClient};
use manifold::spec::{CopySpec, ListSpec, PlatformSpec, SourceEntry, Work};
use manifold_testkit::{ImageFixture, Pusher, TestRegistry};

const RUNS: usize = 5;
const SIZES: [usize; 3] = [2, 16, 64];

#[tokio::main]
async fn main() {
    let registry = TestRegistry::builder().log_level("error").start().await;
    if std::env::args().any(|a| a == "publish") {
        publish_rows(&registry).await;
        return;
    }
    let host = registry.host();
    println!("manifold push benchmark — docker-registry on {host}, median of {RUNS} runs");
    println!("| N | client | cold push | requests | re-push | requests | one rebuilt | requests |");
    println!("|---|---|---|---|---|---|---|---|");
    let (mut run_id, mut per_child) = (0, Vec::new());
    let mut goals = GoalFigures::default();
    for n in SIZES {
        goals.n = n;
        let sources = seed(&registry, n).await;
        for (name, concurrency) in [
            ("manifold (8 at a time)", 8),
            ("manifold (16 at a time)", 16),
            ("manifold (1 at a time)", 1),
        ] {
            let (mut cold, mut warm, mut partial) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..RUNS {
                run_id += 1;
                let spec = spec(&host, &format!("bench{n}-t{run_id}"), &sources);
                cold.push(manifold_push(&spec, concurrency).await);
                warm.push(manifold_push(&spec, concurrency).await);
                rebuild(&registry, &sources[0], run_id).await;
                partial.push(manifold_push(&spec, concurrency).await);
            }
            let medians = print_row(n, name, [&cold, &warm, &partial]);
            if concurrency == 8 {
                goals.manifold = medians;
            }
        }
        let (mut cold, mut warm, mut partial) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..RUNS {
            run_id += 1;
            let target = format!("bench{n}-t{run_id}");
            cold.push(sequential_reference(&host, &target, &sources).await);
            warm.push(sequential_reference(&host, &target, &sources).await);
            rebuild(&registry, &sources[0], run_id).await;
            partial.push(sequential_reference(&host, &target, &sources).await);
        }
        let sequential = print_row(
            n,
            "sequential, manifest-tool's requests",
            [&cold, &warm, &partial],
        );
        goals.sequential_re_push = sequential[1].0;
        for (name, read_config) in [
            ("floor client (4N+1, 8 at a time)", false),
            ("floor client reading each config (5N+1)", true),
        ] {
            let mut floor = Vec::new();
            for _ in 0..RUNS {
                run_id += 1;
                let target = format!("bench{n}-t{run_id}");
                floor.push(floor_client(&host, &target, &sources, read_config).await);
            }
            print_cold_row(n, name, &floor);
            if read_config {
                goals.floor_reading_configs = median(&floor).0;
            }
        }
        let mut trusted = Vec::new();
        for _ in 0..RUNS {
            run_id += 1;
            let spec = spec(&host, &format!("bench{n}-t{run_id}"), &sources);
            let mut options = options(8);
            options.list.trust_platforms = true;
            trusted.push(push_with(&spec, &options).await);
        }
        print_cold_row(n, "manifold --trust-platforms (8 at a time)", &trusted);
        per_child.push(referrers_row(&registry, n, &sources, &mut run_id).await);
    }
    for (n, extra) in per_child {
        println!(
            "N={n}: --referrers adds {extra:.1} requests per child (a signature and an SBOM each)"
        );
    }
    goals.print();
    publish_rows(&registry).await;
}

/// Platforms of the list published to three registries.
const PUBLISHED: usize = 16;

/// A list of [`PUBLISHED`] platforms (sources in `registry`) to three registries — `registry`
/// itself (mounts) and two more (streamed) — in one submission (`engine::publish`, two phases),
/// against the same three targets one push after another (three commands: a client each) and
/// against one push then two copies; the median of `RUNS` of each, fresh targets every run.
/// `cargo bench -p manifold --bench push -- publish` runs only this part.
async fn publish_rows(registry: &TestRegistry) {
    let others = [
        TestRegistry::builder().log_level("error").start().await,
        TestRegistry::builder().log_level("error").start().await,
    ];
    let hosts = [registry.host(), others[0].host(), others[1].host()];
    let sources = seed(registry, PUBLISHED).await;
    let (mut together, mut pushes, mut copies) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..RUNS {
        // The sources are in the first registry; the target in `host`.
        let single = |host: &str, kind: &str| ListSpec {
            image: Reference::parse(&format!("{host}/pub-{kind}{run}:v1")).unwrap(),
            ..spec(&hosts[0], "unused", &sources)
        };
        let mut spec = single(&hosts[0], "together");
        spec.more_targets = hosts[1..]
            .iter()
            .map(|h| single(h, "together").image)
            .collect();
        let client = RegistryClient::new(ClientConfig::default()).unwrap();
        let started = Instant::now();
        let report = engine::publish(&client, &Work::List(spec), &options(8)).await;
        together.push((started.elapsed(), report.expect("publish").requests));
        let mut sequential = (Duration::ZERO, 0);
        for host in &hosts {
            let (time, requests) = manifold_push(&single(host, "push"), 8).await;
            sequential = (sequential.0 + time, sequential.1 + requests);
        }
        pushes.push(sequential);
        let first = single(&hosts[0], "copy");
        let mut sequential = manifold_push(&first, 8).await;
        for host in &hosts[1..] {
            let copy = CopySpec::parse(
                &first.image.to_string(),
                &[single(host, "copy").image.to_string()],
                &[],
            );
            let client = RegistryClient::new(ClientConfig::default()).unwrap();
            let started = Instant::now();
            let report = engine::run(&client, &Work::Copy(copy.unwrap()), &options(8)).await;
            let requests = report.expect("copy").requests;
            sequential = (sequential.0 + started.elapsed(), sequential.1 + requests);
        }
        copies.push(sequential);
    }
    println!("| N | 3 registries | wall time | requests |");
    println!("|---|---|---|---|");
    for (name, samples) in [
        ("one manifold publish (two phases)", &together),
        ("3 pushes, one after another", &pushes),
        ("1 push, then 2 copies, one after another", &copies),
    ] {
        let (time, requests) = median(samples);
        println!(
            "| {PUBLISHED} | {name} | {:.0} ms | {requests} |",
            time.as_secs_f64() * 1e3
        );
    }
    let ratio = |samples: &[(Duration, u64)]| {
        median(samples).0.as_secs_f64() / median(&together).0.as_secs_f64()
    };
    println!(
        "publish to 3 registries: {:.2}x faster than 3 pushes, {:.2}x faster than a push and 2 copies",
        ratio(&pushes),
        ratio(&copies)
    );
}

/// Signs every source (a cosign `.sig` tag) and gives it an SBOM in the tag schema, then pushes
/// with `--referrers`, cold and again, 8 at a time; prints the row and returns (N, the extra
/// requests per child against the same cold push without the flag).
async fn referrers_row(
    registry: &TestRegistry,
    n: usize,
    sources: &[(String, String)],
    run_id: &mut u64,
) -> (usize, f64) {
    use manifold_testkit::referrers::{cosign_signature, digest_tag, sbom};
    let pusher = Pusher::new(registry);
    for (i, (repo, _)) in sources.iter().enumerate() {
        let image = pusher
            .get_manifest(repo, "v1", manifold_testkit::media_types::ACCEPT_ALL)
            .await
            .expect("source");
        let digest = image.digest.clone().expect("digest");
        let signature = cosign_signature(&digest, repo, i as u64);
        pusher
            .push_artifact(repo, &digest_tag(&digest, Some("sig")), &signature)
            .await
            .expect("signature");
        let subject = serde_json::json!({
            "mediaType": image.media_type, "digest": digest, "size": image.bytes.len(),
        });
        pusher
            .attach(repo, &digest, &sbom(&subject, i as u64))
            .await
            .expect("sbom");
    }
    let (mut plain, mut cold, mut warm) = (Vec::new(), Vec::new(), Vec::new());
    let mut with = options(8);
    with.list.referrers = true;
    for _ in 0..RUNS {
        *run_id += 1;
        plain.push(
            manifold_push(
                &spec(&registry.host(), &format!("bench{n}-t{run_id}"), sources),
                8,
            )
            .await,
        );
        *run_id += 1;
        let spec = spec(&registry.host(), &format!("bench{n}-t{run_id}"), sources);
        cold.push(push_with(&spec, &with).await);
        warm.push(push_with(&spec, &with).await);
    }
    let cells: Vec<String> = [&cold, &warm]
        .iter()
        .map(|samples| {
            let (time, requests) = median(samples);
            format!("{:.0} ms | {requests}", time.as_secs_f64() * 1e3)
        })
        .collect();
    println!(
        "| {n} | manifold --referrers (8 at a time; each child signed, with an SBOM) | {} | | |",
        cells.join(" | ")
    );
    let extra = median(&cold).1 as f64 - median(&plain).1 as f64;
    (n, extra / n as f64)
}

fn print_cold_row(n: usize, name: &str, samples: &[(Duration, u64)]) {
    let (time, requests) = median(samples);
    println!(
        "| {n} | {name} | {:.0} ms | {requests} | | | | |",
        time.as_secs_f64() * 1e3
    );
}

/// The least a cold push can do, 8 sources at a time: GET each source, mount its config and
/// layer and PUT it by digest; then PUT the list (4N+1 requests, no checks, no target read).
/// With `read_config`, each source's config is read too, as a platform check needs (5N+1).
async fn floor_client(
    host: &str,
    target: &str,
    sources: &[(String, String)],
    read_config: bool,
) -> (Duration, u64) {
    use futures::StreamExt as _;
    let http = manifold_testkit::http_client().build().unwrap();
    let base = format!("http://{host}/v2");
    let started = Instant::now();
    let entries: Vec<serde_json::Value> = futures::stream::iter(sources)
        .map(|(repo, arch)| {
            let (http, base) = (&http, &base);
            async move {
                let url = format!("{base}/{repo}/manifests/v1");
                let (media_type, bytes, manifest) = get_manifest(http, &url).await;
                if read_config {
                    let config = manifest["config"]["digest"].as_str().unwrap();
                    let url = format!("{base}/{repo}/blobs/{config}");
                    http.get(url).send().await.unwrap().bytes().await.unwrap();
                }
                let blobs = std::iter::once(&manifest["config"])
                    .chain(manifest["layers"].as_array().unwrap())
                    .map(|b| b["digest"].as_str().unwrap().to_owned());
                futures::future::join_all(blobs.map(|digest| {
                    http.post(format!(
                        "{base}/{target}/blobs/uploads/?mount={digest}&from={repo}"
                    ))
                    .send()
                }))
                .await;
                let digest = manifold::model::Digest::of(&bytes);
                http.put(format!("{base}/{target}/manifests/{digest}"))
                    .header("Content-Type", &media_type)
                    .body(bytes.clone())
                    .send()
                    .await
                    .unwrap();
                serde_json::json!({
                    "mediaType": media_type, "size": bytes.len(), "digest": digest,
                    "platform": {"architecture": arch, "os": "linux"}
                })
            }
        })
        .buffered(8)
        .collect()
        .await;
    let list = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
        "manifests": entries,
    });
    let put = http
        .put(format!("{base}/{target}/manifests/v1"))
        .header(
            "Content-Type",
            "application/vnd.docker.distribution.manifest.list.v2+json",
        )
        .body(serde_json::to_vec(&list).unwrap())
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success());
    let requests = sources.len() as u64 * if read_config { 5 } else { 4 } + 1;
    (started.elapsed(), requests)
}

/// Prints a row of medians (cold push, re-push, one rebuilt) and returns them.
fn print_row(n: usize, name: &str, columns: [&[(Duration, u64)]; 3]) -> [(Duration, u64); 3] {
    let medians = columns.map(median);
    let cells: Vec<String> = medians
        .iter()
        .map(|(time, requests)| format!("{:.0} ms | {requests}", time.as_secs_f64() * 1e3))
        .collect();
    println!("| {n} | {name} | {} |", cells.join(" | "));
    medians
}

/// The medians the goals are measured by, at the largest N.
#[derive(Default)]
struct GoalFigures {
    n: usize,
    manifold: [(Duration, u64); 3],
    sequential_re_push: Duration,
    floor_reading_configs: Duration,
}

impl GoalFigures {
    /// One line: each goal beside its figure and ratio.
    fn print(&self) {
        let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
        let verdict = |met: bool| if met { "met" } else { "MISSED" };
        let [(cold, _), (re_push, re_push_requests), _] = self.manifold;
        let faster = ratio(self.sequential_re_push, re_push);
        let budget = 2 * self.n as u64 + 1;
        let floor = ratio(cold, self.floor_reading_configs);
        println!(
            "Goals (N={}, manifold 8 at a time): unchanged re-push with the children check ≥ 6× \
             faster than manifest-tool's requests made one at a time: {} ({faster:.1}×); its \
             requests ≤ 2N+1: {} ({re_push_requests} of {budget}); cold push ≤ 1.05× the floor \
             client reading each config: {} ({floor:.2}×)",
            self.n,
            verdict(faster >= 6.0),
            verdict(re_push_requests <= budget),
            verdict(floor <= 1.05),
        );
    }
}

/// Pushes a new build of one source under its tag (another seed: other layers, another digest).
async fn rebuild(registry: &TestRegistry, (repo, arch): &(String, String), seed: u64) {
    let image = ImageFixture::new("linux", arch, None)
        .layers(1)
        .seed(1_000 + seed)
        .build();
    Pusher::new(registry)
        .push_image(repo, "v1", &image)
        .await
        .expect("rebuild");
}

fn median(samples: &[(Duration, u64)]) -> (Duration, u64) {
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

/// Pushes N one-layer images for N distinct platforms, each in its own repository.
async fn seed(registry: &TestRegistry, n: usize) -> Vec<(String, String)> {
    let pusher = Pusher::new(registry);
    let mut sources = Vec::new();
    for i in 0..n {
        let arch = format!("arch{i:02}");
        let repo = format!("bench{n}-src{i:02}");
        let image = ImageFixture::new("linux", &arch, None)
            .layers(1)
            .seed(n as u64)
            .build();
        pusher.push_image(&repo, "v1", &image).await.expect("seed");
        sources.push((repo, arch));
    }
    sources
}

fn spec(host: &str, target: &str, sources: &[(String, String)]) -> ListSpec {
    ListSpec {
        image: Reference::parse(&format!("{host}/{target}:v1")).unwrap(),
        more_targets: Vec::new(),
        tags: Vec::new(),
        annotations: BTreeMap::new(),
        manifests: sources
            .iter()
            .map(|(repo, arch)| SourceEntry {
                image: Reference::parse(&format!("{host}/{repo}:v1")).unwrap(),
                platform: Some(PlatformSpec {
                    architecture: Some(arch.clone()),
                    os: Some("linux".into()),
                    ..PlatformSpec::default()
                }),
                annotations: BTreeMap::new(),
            })
            .collect(),
    }
}

fn options(concurrency: usize) -> PushOptions {
    let list = ListOptions {
        list_type: ListType::Docker,
        ..ListOptions::default()
    };
    PushOptions::new(list, concurrency)
}

async fn manifold_push(spec: &ListSpec, concurrency: usize) -> (Duration, u64) {
    push_with(spec, &options(concurrency)).await
}

async fn push_with(spec: &ListSpec, options: &PushOptions) -> (Duration, u64) {
    let client = RegistryClient::new(ClientConfig::default()).unwrap();
    let started = Instant::now();
    let report = engine::push(&client, spec, options).await.expect("push");
    (started.elapsed(), report.requests)
}

/// Every manifest type manifest-tool v2 accepts.
const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// GET a manifest: its media type, bytes and JSON.
async fn get_manifest(
    http: &reqwest::Client,
    url: &str,
) -> (String, bytes::Bytes, serde_json::Value) {
    let response = http.get(url).header("Accept", ACCEPT).send().await.unwrap();
    let media_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    let bytes = response.bytes().await.unwrap();
    let manifest = serde_json::from_slice(&bytes).unwrap();
    (media_type, bytes, manifest)
}

/// manifest-tool v2's request sequence, one source after another.
async fn sequential_reference(
    host: &str,
    target: &str,
    sources: &[(String, String)],
) -> (Duration, u64) {
    let http = manifold_testkit::http_client().build().unwrap();
    let base = format!("http://{host}/v2");
    let mut requests = 0u64;
    let started = Instant::now();
    let mut entries = Vec::new();
    for (repo, arch) in sources {
        let url = format!("{base}/{repo}/manifests/v1");
        http.head(&url)
            .header("Accept", ACCEPT)
            .send()
            .await
            .unwrap();
        let (media_type, bytes, manifest) = get_manifest(&http, &url).await;
        requests += 2;
        let config = manifest["config"]["digest"].as_str().unwrap().to_owned();
        http.get(format!("{base}/{repo}/blobs/{config}"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        requests += 1;
        let mut blobs = vec![config];
        blobs.extend(
            manifest["layers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["digest"].as_str().unwrap().to_owned()),
        );
        for digest in &blobs {
            http.head(format!("{base}/{target}/blobs/{digest}"))
                .send()
                .await
                .unwrap();
            let mount = http
                .post(format!(
                    "{base}/{target}/blobs/uploads/?mount={digest}&from={repo}"
                ))
                .send()
                .await
                .unwrap();
            assert_eq!(mount.status().as_u16(), 201);
            requests += 2;
        }
        let digest = manifold::model::Digest::of(&bytes);
        http.head(format!("{base}/{target}/manifests/{digest}"))
            .header("Accept", ACCEPT)
            .send()
            .await
            .unwrap();
        let put = http
            .put(format!("{base}/{target}/manifests/{digest}"))
            .header("Content-Type", &media_type)
            .body(bytes.clone())
            .send()
            .await
            .unwrap();
        assert!(put.status().is_success());
        requests += 2;
        entries.push(serde_json::json!({
            "mediaType": media_type, "size": bytes.len(), "digest": digest,
            "platform": {"architecture": arch, "os": "linux"}
        }));
    }
    let list = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
        "manifests": entries,
    }))
    .unwrap();
    http.head(format!("{base}/{target}/manifests/v1"))
        .header("Accept", ACCEPT)
        .send()
        .await
        .unwrap();
    let put = http
        .put(format!("{base}/{target}/manifests/v1"))
        .header(
            "Content-Type",
            "application/vnd.docker.distribution.manifest.list.v2+json",
        )
        .body(list)
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success());
    requests += 2;
    (started.elapsed(), requests)
}

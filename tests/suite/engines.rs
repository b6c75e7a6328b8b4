//! Real container engines pull and run what manifold pushes: the documentation demo run by
//! docker, and a list of five platforms (as a Docker list and as an OCI index) pulled per
//! platform by `ctr`, docker and podman, each pick compared with the entry `manifold verify` says
//! the platform resolves to, and run (foreign children through qemu) to see its `uname -m`.
//!
//! The engines start once per test process (`manifold_testkit::engines`); a test skips, saying
//! why on stderr, where the machine does not let one run. `cargo test -p manifold --test suite
//! engines -- --nocapture` shows the start, each pull and run, and how long each took.

use std::time::Instant;

use manifold_testkit::{
    Arch, BuiltImage, BusyboxFixture, Engine, EngineKind, Format, Pusher, TestRegistry,
};

use crate::support::cli::{manifold, push_spec, write_spec};
use crate::support::demo::demo_spec;
use crate::support::engines::{
    Fleet, Resolution, docker_or_skip, engine_or_skip, runs_or_say, verify,
};

#[tokio::test(flavor = "multi_thread")]
async fn docker_runs_the_demo_list_as_this_host_and_as_s390x() {
    let test = "docker_runs_the_demo_list_as_this_host_and_as_s390x";
    let Some(docker) = docker_or_skip(test).await else {
        return;
    };
    let started = Instant::now();
    let (amd64, s390x) = (
        Arch::by_architecture("amd64").unwrap(),
        Arch::by_architecture("s390x").unwrap(),
    );
    if !amd64.is_host() {
        return eprintln!("SKIPPED {test}: the demo's amd64 child runs on an x86_64 host only");
    }
    let registry = TestRegistry::plain().await;
    for arch in [s390x, amd64] {
        let image = match BusyboxFixture::new(arch).build() {
            Ok(image) => image,
            Err(why) => return eprintln!("SKIPPED {test}: {why:#}"),
        };
        Pusher::new(&registry)
            .push_image(&format!("demo-{}", arch.architecture), "v0.2", &image)
            .await
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let spec = demo_spec(&registry.host()).write(dir.path(), "demo.yaml");
    push_spec(&[], &spec).await.ok();
    let demo = format!("{}/demo:v0.2", registry.host());

    let here = docker.run_reference(&demo, None).await.unwrap();
    let there = if runs_or_say(s390x, test).await {
        let platform = s390x.platform();
        Some(docker.run_reference(&demo, Some(&platform)).await.unwrap())
    } else {
        None
    };

    eprintln!(
        "{test}: printed {here:?}, as s390x {there:?}; took {:?}",
        started.elapsed()
    );
    assert_eq!(here.trim(), "x86_64", "docker run {demo} on this host");
    if let Some(there) = there {
        assert_eq!(
            there.trim(),
            "s390x",
            "docker run --platform linux/s390x {demo}"
        );
    }
}

/// Pushes the fleet as a list of `format` with manifold, then pulls it for each platform with
/// `kind` and checks what it took ([`pulls_as_verify_resolves`]).
async fn each_platform_pulls_as_verify_resolves(kind: EngineKind, format: Format, test: &str) {
    let Some(engine) = engine_or_skip(kind, test).await else {
        return;
    };
    let started = Instant::now();
    let registry = TestRegistry::plain().await;
    let fleet = match Fleet::seed(&registry, format).await {
        Ok(fleet) => fleet,
        Err(why) => return eprintln!("SKIPPED {test}: {why:#}"),
    };
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(
        dir.path(),
        "fleet.yaml",
        &fleet.spec(&registry.host(), "fleet:v1"),
    );
    let list_type = match format {
        Format::Docker => "docker",
        Format::Oci => "oci",
    };
    let spec = spec.to_str().unwrap();
    manifold(&["push", "--type", list_type, "from-spec", spec])
        .await
        .ok();
    let reference = format!("{}/fleet:v1", registry.host());
    let resolutions = verify(&reference).await;
    assert_eq!(resolutions.len(), fleet.images.len(), "{resolutions:?}");

    for (arch, image) in &fleet.images {
        let resolution = resolutions
            .iter()
            .find(|r| r.digest == image.manifest_digest)
            .unwrap_or_else(|| panic!("verify names no entry of {image:?}: {resolutions:?}"));
        pulls_as_verify_resolves(engine, &fleet, &reference, (arch, image), resolution, test).await;
    }
    eprintln!("{test}: took {:?}", started.elapsed());
}

/// Pulls `reference` for `arch`'s platform with `engine`: it takes the entry `manifold verify`
/// resolves the platform to (compared by config digest, and by the manifest digests the engine
/// records), which is the platform's own `image`; where the engine runs it (foreign children
/// through qemu), it prints the platform's `uname -m`.
async fn pulls_as_verify_resolves(
    engine: Engine<'_>,
    fleet: &Fleet,
    reference: &str,
    (arch, image): (&Arch, &BuiltImage),
    resolution: &Resolution,
    test: &str,
) {
    let (kind, platform) = (engine.kind(), arch.platform());
    let resolved = resolution
        .resolves_to
        .as_deref()
        .and_then(|digest| fleet.by_manifest(digest))
        .unwrap_or_else(|| panic!("verify: {platform} resolves to no image: {resolution:?}"));

    let started = Instant::now();
    let pulled = engine.pull(reference, &platform).await.unwrap();
    eprintln!(
        "{test}: {kind} pull for {platform} (verify: {} resolves to {:?}) in {:?}: config {}, \
         recorded {:?}",
        resolution.platform,
        resolution.resolves_to,
        started.elapsed(),
        pulled.config,
        pulled.recorded
    );

    assert_eq!(
        pulled.config, resolved.config.digest,
        "{kind} pulled another image for {platform} than the entry verify resolves it to"
    );
    // Of the list's entries, the engine records the one it took (docker 20.10 records only the
    // list's digest: none).
    let recorded: Vec<&String> = (pulled.recorded.iter())
        .filter(|digest| fleet.by_manifest(digest).is_some())
        .collect();
    let expected: Vec<&String> = match kind {
        EngineKind::Docker => Vec::new(),
        EngineKind::Ctr | EngineKind::Podman => resolution.resolves_to.iter().collect(),
    };
    assert_eq!(
        recorded, expected,
        "the entries {kind} records for {platform}"
    );
    assert_eq!(
        pulled.config, image.config.digest,
        "{kind} pulled another platform's image for {platform}"
    );
    if runs_or_say(arch, test).await {
        let started = Instant::now();
        let printed = engine.run(&pulled).await.unwrap();
        eprintln!(
            "{test}: {kind} run for {platform} printed {printed:?} in {:?}",
            started.elapsed()
        );
        assert_eq!(
            printed.trim(),
            arch.uname,
            "{kind} run of the {platform} child"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ctr_pulls_each_platform_of_a_docker_list_as_verify_resolves_it() {
    each_platform_pulls_as_verify_resolves(
        EngineKind::Ctr,
        Format::Docker,
        "ctr_pulls_each_platform_of_a_docker_list_as_verify_resolves_it",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ctr_pulls_each_platform_of_an_oci_index_as_verify_resolves_it() {
    each_platform_pulls_as_verify_resolves(
        EngineKind::Ctr,
        Format::Oci,
        "ctr_pulls_each_platform_of_an_oci_index_as_verify_resolves_it",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_pulls_each_platform_of_a_docker_list_as_verify_resolves_it() {
    each_platform_pulls_as_verify_resolves(
        EngineKind::Docker,
        Format::Docker,
        "docker_pulls_each_platform_of_a_docker_list_as_verify_resolves_it",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_pulls_each_platform_of_an_oci_index_as_verify_resolves_it() {
    each_platform_pulls_as_verify_resolves(
        EngineKind::Docker,
        Format::Oci,
        "docker_pulls_each_platform_of_an_oci_index_as_verify_resolves_it",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn podman_pulls_each_platform_of_a_docker_list_as_verify_resolves_it() {
    each_platform_pulls_as_verify_resolves(
        EngineKind::Podman,
        Format::Docker,
        "podman_pulls_each_platform_of_a_docker_list_as_verify_resolves_it",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn podman_pulls_each_platform_of_an_oci_index_as_verify_resolves_it() {
    each_platform_pulls_as_verify_resolves(
        EngineKind::Podman,
        Format::Oci,
        "podman_pulls_each_platform_of_an_oci_index_as_verify_resolves_it",
    )
    .await;
}

//! Registries in the wild, part three: a self-signed `CA:TRUE` certificate made as Docker's
//! documentation makes it, given with `--ca-cert` (pinned exactly, full verification otherwise),
//! and hosts that accept connections and never answer.

use std::net::IpAddr;

use manifold_testkit::media_types::ACCEPT_ALL;
use manifold_testkit::{ImageFixture, Pusher, SelfSignedCert, TestRegistry};

use crate::support::cli::push_spec;
use crate::support::demo::demo_spec;

const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

/// A registry serving `cert` over HTTPS, holding the demo's two sources.
async fn self_signed_registry(cert: &SelfSignedCert) -> (TestRegistry, Pusher) {
    let registry = TestRegistry::builder()
        .tls(&cert.cert_path, &cert.key_path)
        .start()
        .await;
    let pusher = Pusher::for_url(&registry.url(), None).unwrap().insecure();
    for arch in ["s390x", "amd64"] {
        let image = ImageFixture::new("linux", arch, None).build();
        pusher
            .push_image(&format!("demo-{arch}"), "v0.2", &image)
            .await
            .unwrap();
    }
    (registry, pusher)
}

#[tokio::test]
async fn a_self_signed_certificate_made_as_dockers_docs_say_is_trusted_when_given_with_ca_cert() {
    let cert = SelfSignedCert::docker_docs(LOOPBACK);
    let (registry, pusher) = self_signed_registry(&cert).await;
    let dir = tempfile::tempdir().unwrap();
    let spec = demo_spec(&registry.host())
        .flow()
        .write(dir.path(), "demo.yaml");

    let run = push_spec(&["--ca-cert", cert.cert_path.to_str().unwrap()], &spec)
        .await
        .ok();

    assert!(
        cert.text().unwrap().contains("CA:TRUE"),
        "the documented command makes a CA certificate"
    );
    let stored = pusher
        .get_manifest("demo", "v0.2", ACCEPT_ALL)
        .await
        .unwrap();
    assert_eq!(stored.digest, Some(run.digest_line().0));
}

#[tokio::test]
async fn another_certificate_or_another_name_is_still_refused_and_the_advice_fits_what_was_given() {
    let cert = SelfSignedCert::docker_docs(LOOPBACK);
    let other = SelfSignedCert::docker_docs(LOOPBACK);
    let (registry, pusher) = self_signed_registry(&cert).await;
    let dir = tempfile::tempdir().unwrap();
    let spec = demo_spec(&registry.host())
        .flow()
        .write(dir.path(), "demo.yaml");
    let named = format!("registry.test:{}", registry.port());
    let spec_by_name = demo_spec(&named).flow().write(dir.path(), "named.yaml");

    let wrong_cert = push_spec(&["--ca-cert", other.cert_path.to_str().unwrap()], &spec)
        .await
        .failed();
    let wrong_name = push_spec(
        &[
            "--ca-cert",
            cert.cert_path.to_str().unwrap(),
            "--resolve",
            "registry.test:127.0.0.1",
        ],
        &spec_by_name,
    )
    .await
    .failed();
    let none_given = push_spec(&[], &spec).await.failed();

    let err = &wrong_cert.stderr;
    assert!(!err.contains("pass its CA"), "{err}");
    assert!(
        err.contains("neither signed by a CA given with --ca-cert"),
        "{err}"
    );
    assert!(err.contains("--insecure"), "{err}");
    let err = &wrong_name.stderr;
    assert!(err.contains("does not name registry.test"), "{err}");
    assert!(!err.contains("pass its CA"), "{err}");
    let err = &none_given.stderr;
    assert!(
        err.contains("pass its CA") && err.contains("self-signed"),
        "{err}"
    );
    assert!(pusher.get_tags("demo").await.unwrap().is_empty());
}

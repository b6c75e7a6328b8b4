//! Out of the box: `manifold serve` with no database configured keeps its data in a SQLite file in
//! its working directory, keeps it across a restart, and refuses a second process on that file.

use manifold_testkit::TestRegistry;

use crate::support::cli::{assert_stored_digest, seed_demo};
use crate::support::demo::demo_spec;
use crate::support::serve::Serve;

#[tokio::test(flavor = "multi_thread")]
async fn the_binary_with_no_database_configured_pushes_the_demo_and_remembers_it_after_a_restart() {
    let registry = TestRegistry::plain().await;
    let (s390x, amd64) = seed_demo(&registry).await;
    let host = registry.host();
    let dir = tempfile::tempdir().unwrap();
    let no_settings: [(&str, &str); 0] = [];
    let mut first = Serve::start_in(dir.path(), &no_settings).await;

    let id = first.submit(&demo_spec(&host).json()).await;
    let pushed = first.wait_status(&id, "succeeded").await;
    assert!(
        first.log().contains("keeping data in SQLite (manifold.db)"),
        "{}",
        first.log()
    );
    assert!(dir.path().join("manifold.db").exists());

    // A second process on the same file is refused, pointing at PostgreSQL.
    let second = tokio::process::Command::new(env!("CARGO_BIN_EXE_manifold"))
        .arg("serve")
        .env_clear()
        .env("MANIFOLD_ADDR", "127.0.0.1:0")
        .current_dir(dir.path())
        .output()
        .await
        .unwrap();
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success());
    assert!(
        said.contains("another manifold process") && said.contains("PostgreSQL"),
        "{said}"
    );

    first.kill().await;
    let restarted = Serve::start_in(dir.path(), &no_settings).await;
    let remembered = restarted.get_json(&format!("/lists/{id}")).await;

    assert_eq!(remembered["status"], "succeeded");
    assert_eq!(remembered["digest"], pushed["digest"]);
    assert_eq!(
        remembered["entries"][0]["digest"],
        s390x.manifest_digest.as_str()
    );
    assert_eq!(
        remembered["entries"][1]["digest"],
        amd64.manifest_digest.as_str()
    );
    assert_stored_digest(&registry, "demo", "v0.2", &remembered).await;
    let page = restarted.get_json("/lists").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
}

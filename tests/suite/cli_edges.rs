//! The command line at the edges a newcomer meets: output cut short by its reader (`| head`) ends
//! quietly with the status of a closed pipe, every page the manual names is there, a registry that
//! is down says its error once (each retry in a line of its own), and `serve` on a taken port
//! fails before it makes a database.

use manifold_testkit::TestRegistry;

use crate::support::cli::{manifold, manifold_in, manifold_to_a_closed_pipe, seed_demo};
use crate::support::client::PATIENCE;

/// 128 + SIGPIPE: what a shell shows for a Unix tool that a closed pipe ended.
const CLOSED_PIPE: i32 = 141;

#[tokio::test]
async fn output_cut_short_by_its_reader_ends_quietly_with_the_status_of_a_closed_pipe() {
    let registry = TestRegistry::plain().await;
    seed_demo(&registry).await;
    let image = format!("{}/demo-s390x:v0.2", registry.host());
    let commands: [&[&str]; 9] = [
        &["completions", "bash"],
        &["man"],
        &["--help"],
        &["push"],
        &["-v"],
        &["openapi"],
        &["inspect", "--raw", &image],
        &["inspect", "--json", &image],
        &["-q", "inspect", &image],
    ];

    for args in commands {
        let run = manifold_to_a_closed_pipe(args).await;

        assert_eq!(run.code, CLOSED_PIPE, "{args:?}: {}", run.stderr);
        for noise in ["panicked", "Broken pipe", "error"] {
            assert!(!run.stderr.contains(noise), "{args:?}: {}", run.stderr);
        }
    }
}

/// The pages a manual page names (`manifold\-push(1)` → `manifold-push`).
fn pages_named(roff: &str) -> Vec<String> {
    roff.lines()
        .filter_map(|line| line.strip_suffix("(1)"))
        .filter(|name| name.starts_with("manifold\\-"))
        .map(|name| name.replace("\\-", "-"))
        .collect()
}

#[tokio::test]
async fn every_page_the_manual_names_is_there() {
    let mut pending = vec![(Vec::<String>::new(), "manifold".to_owned())];
    let mut read = Vec::new();

    while let Some((path, name)) = pending.pop() {
        let args: Vec<&str> = std::iter::once("man")
            .chain(path.iter().map(String::as_str))
            .collect();
        let roff = manifold(&args).await.ok().stdout;
        let title = format!(".TH {name} 1");
        assert!(roff.contains(&title), "{args:?} is not {name}(1):\n{roff}");
        for named in pages_named(&roff) {
            let command = named
                .strip_prefix(&format!("{name}-"))
                .unwrap_or_else(|| panic!("{name}(1) names {named}(1)"));
            let mut deeper = path.clone();
            deeper.push(command.to_owned());
            pending.push((deeper, named));
        }
        read.push(name);
    }
    let unknown = manifold(&["man", "push", "from-yaml"]).await;

    for page in [
        "manifold",
        "manifold-push",
        "manifold-push-from-spec",
        "manifold-serve",
    ] {
        assert!(read.iter().any(|r| r == page), "{page} not named: {read:?}");
    }
    assert_eq!(unknown.code, 3, "an unknown command: {}", unknown.stderr);
    assert!(
        unknown.stderr.contains("from-spec, from-args"),
        "{}",
        unknown.stderr
    );
}

#[tokio::test]
async fn a_registry_that_is_down_says_its_error_once_and_each_retry_in_a_line_of_its_own() {
    let run = manifold(&["--plain-http", "inspect", "127.0.0.1:9/x:y"])
        .await
        .failed();

    let retries: Vec<&str> = run
        .stderr
        .lines()
        .filter(|line| line.contains("retrying (attempt"))
        .collect();
    assert_eq!(retries.len(), 3, "{}", run.stderr);
    for line in retries {
        assert!(
            line.contains("GET manifest 127.0.0.1:9/x:y: Connection refused"),
            "{line}"
        );
    }
    for said_once in [
        "error sending request",
        "is the registry at 127.0.0.1:9 running?",
        "the request was tried 4 times",
    ] {
        assert_eq!(run.stderr.matches(said_once).count(), 1, "{}", run.stderr);
    }
}

#[tokio::test]
async fn serve_on_a_taken_port_fails_before_it_makes_its_database() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let env = [("MANIFOLD_ADDR", addr.as_str())];

    let serve = manifold_in(dir.path(), &["serve"], &env);
    let run = tokio::time::timeout(PATIENCE, serve)
        .await
        .expect("serve gives up on a taken port")
        .failed();

    assert!(
        run.stderr.contains(&format!("cannot listen on {addr}")),
        "{}",
        run.stderr
    );
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

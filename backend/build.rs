//! Rebuilds the crate when a migration is added or changed (`sqlx::migrate!` embeds the files of
//! `migrations/` at compile time, and cargo does not know it reads them), and gives `--version`
//! the commit it was built from (`MANIFOLD_COMMIT`: `git describe`, or `unknown` outside a git
//! checkout, as in a source archive).

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=../migrations");
    // Only paths that exist: cargo would run a script watching a missing one on every build (a
    // worktree's `.git` is a file).
    for watched in ["../.git/HEAD", "../.git/refs"] {
        if std::path::Path::new(watched).exists() {
            println!("cargo:rerun-if-changed={watched}");
        }
    }
    println!("cargo:rerun-if-env-changed=MANIFOLD_COMMIT");
    let commit = std::env::var("MANIFOLD_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| {
            let out = Command::new("git")
                .args(["describe", "--always", "--abbrev=12"])
                .output()
                .ok()?;
            let text = String::from_utf8(out.stdout).ok()?;
            (out.status.success() && !text.trim().is_empty()).then(|| text.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=MANIFOLD_COMMIT={commit}");
}

//! The layer rule of `docs/ARCHITECTURE.md`, checked: each module of `backend/src` imports
//! (`crate::…`) only what the rule lets it, and what the document's table of layers says is what
//! the code does.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each module and what it may import, top to bottom; every other module is off limits.
const RULE: &[(&str, &[&str])] = &[
    (
        "cli",
        &[
            "api", "config", "engine", "model", "oidc", "registry", "spec", "startup", "store",
        ],
    ),
    (
        "startup",
        &["api", "config", "http", "jobs", "pages", "service", "store"],
    ),
    ("api", &["auth", "http", "model", "service", "spec"]),
    ("pages", &["auth", "http", "model", "service", "spec"]),
    (
        "jobs",
        &[
            "config", "engine", "model", "registry", "service", "spec", "store",
        ],
    ),
    ("http", &["service"]),
    (
        "service",
        &[
            "config", "engine", "metrics", "model", "oidc", "registry", "spec", "store",
        ],
    ),
    (
        "config",
        &["auth", "engine", "model", "oidc", "registry", "retry"],
    ),
    ("oidc", &["model", "registry"]),
    ("engine", &["model", "registry", "spec"]),
    ("store", &["model", "spec"]),
    ("registry", &["model", "retry"]),
    ("spec", &["model"]),
    ("model", &[]),
    ("auth", &[]),
    ("retry", &[]),
    ("metrics", &[]),
];

/// The crate's source.
fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file of a module: its folder, or its file, or both.
fn files_of(module: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let file = src().join(format!("{module}.rs"));
    if file.exists() {
        files.push(file);
    }
    let mut folders = vec![src().join(module)];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files
}

/// The modules of the crate a module's files name as `crate::<module>`.
fn imports_of(module: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for file in files_of(module) {
        let text = std::fs::read_to_string(&file).unwrap();
        for (at, _) in text.match_indices("crate::") {
            let name: String = text[at + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if !name.is_empty() && name != module {
                found.insert(name);
            }
        }
    }
    found
}

#[test]
fn each_module_imports_only_the_layers_below_it() {
    let mut broken = BTreeMap::new();
    for (module, allowed) in RULE {
        assert!(!files_of(module).is_empty(), "no source for {module}");
        let beyond: Vec<String> = imports_of(module)
            .into_iter()
            .filter(|m| !allowed.contains(&m.as_str()))
            .collect();
        if !beyond.is_empty() {
            broken.insert(*module, beyond);
        }
    }

    assert!(broken.is_empty(), "imports the rule forbids: {broken:#?}");
}

#[test]
fn every_module_of_the_crate_is_in_the_rule() {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    let declared: BTreeSet<&str> = lib
        .lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("pub mod ")
                .or(l.trim().strip_prefix("mod "))
        })
        .map(|l| l.trim_end_matches(';'))
        .collect();
    let ruled: BTreeSet<&str> = RULE.iter().map(|(m, _)| *m).collect();

    assert_eq!(declared, ruled, "lib.rs's modules and the rule's");
}

#[test]
fn the_architecture_document_states_the_rule_the_code_keeps() {
    let doc = std::fs::read_to_string(src().join("../../docs/ARCHITECTURE.md")).unwrap();
    for (module, allowed) in RULE {
        let line = format!("| `{module}` | {} |", allowed.join(", "));
        assert!(
            doc.contains(&line),
            "docs/ARCHITECTURE.md has no line `{line}` in its table of imports"
        );
    }
}

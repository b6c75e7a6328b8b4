//! The documentation holds together: every relative link of the README and of `docs/*.md` names a
//! file that is there and, with a `#fragment`, a heading of it (as GitHub makes anchors of
//! headings), and the README stays short enough for a newcomer to finish.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The most lines the README may have.
const README_LINES: usize = 160;

/// The checkout's root.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

/// The README and every page in `docs/`.
fn documents(root: &Path) -> Vec<PathBuf> {
    let mut pages: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    pages.insert(0, root.join("README.md"));
    pages
}

/// The lines of a Markdown text outside fenced code blocks.
fn outside_fences(text: &str) -> Vec<&str> {
    let mut fenced = false;
    let mut lines = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced {
            lines.push(line);
        }
    }
    lines
}

/// The targets of the links and images in a Markdown text (`[text](target)`), in order.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    for line in outside_fences(text) {
        // Inline code spans hold no links.
        let line: String = line.split('`').step_by(2).collect::<Vec<_>>().join(" ");
        let mut rest = line.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            let target = after[..end].split_whitespace().next().unwrap_or_default();
            targets.push(target.to_owned());
            rest = &after[end..];
        }
    }
    targets
}

/// The anchors GitHub gives the headings of a Markdown text: lower case, punctuation (backticks
/// included) dropped, spaces made hyphens, a repeated one numbered (`-1`, `-2`, …).
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for line in outside_fences(text) {
        let Some(heading) = line.strip_prefix('#') else {
            continue;
        };
        let title = heading.trim_start_matches('#').trim();
        let slug: String = title
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let mut anchor = slug.clone();
        let mut n = 0;
        while !seen.insert(anchor.clone()) {
            n += 1;
            anchor = format!("{slug}-{n}");
        }
    }
    seen
}

/// What is wrong with the relative links of `document`: each as `file: target (why)`.
fn broken_links(document: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(document).unwrap();
    let dir = document.parent().unwrap();
    let mut broken = Vec::new();
    for target in link_targets(&text) {
        if target.contains("://") || target.starts_with("mailto:") {
            continue;
        }
        let (path, fragment) = target.split_once('#').unwrap_or((&target, ""));
        let file = if path.is_empty() {
            document.to_path_buf()
        } else {
            dir.join(path)
        };
        let why = if !file.exists() {
            Some("no such file")
        } else if fragment.is_empty() {
            None
        } else if file.extension().is_none_or(|e| e != "md") {
            Some("an anchor into a file that is not Markdown")
        } else if !anchors(&std::fs::read_to_string(&file).unwrap()).contains(fragment) {
            Some("no such heading")
        } else {
            None
        };
        if let Some(why) = why {
            broken.push(format!("{}: {target} ({why})", document.display()));
        }
    }
    broken
}

#[test]
fn every_relative_link_of_the_readme_and_the_docs_resolves() {
    let root = root();

    let broken: Vec<String> = documents(&root)
        .iter()
        .flat_map(|document| broken_links(document))
        .collect();

    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn a_missing_file_or_heading_is_found() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("other.md"),
        "# Other\n\n## The two stores\n\n```\n# not a heading\n```\n",
    )
    .unwrap();
    let page = dir.path().join("page.md");
    std::fs::write(
        &page,
        "# Page\n\n[ok](other.md#the-two-stores) [here](#page) [web](https://example.com/x)\n\
         [gone](missing.md) [no heading](other.md#not-a-heading) `[code](nowhere.md)`\n",
    )
    .unwrap();

    let broken = broken_links(&page);

    assert_eq!(broken.len(), 2, "{broken:?}");
    assert!(
        broken[0].ends_with("missing.md (no such file)"),
        "{broken:?}"
    );
    assert!(
        broken[1].ends_with("other.md#not-a-heading (no such heading)"),
        "{broken:?}"
    );
}

#[test]
fn the_readme_is_short_enough_to_finish() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();

    let lines = readme.lines().count();

    assert!(
        lines <= README_LINES,
        "README.md has {lines} lines, more than {README_LINES}: move a subject into docs/"
    );
}

//! Every relative link in README.md, ARCHITECTURE.md, the crates' READMEs
//! and `docs/` resolves to a file or directory of the repository (issue
//! 25: a front door whose links rot is worse than none). Links to the web
//! and to anchors within the same page are not checked here.

use std::path::{Path, PathBuf};

/// The repository's root (this crate's parent).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The Markdown pages checked: the top-level pages, each crate's
/// README.md and bench README, and everything under `docs/`.
fn pages(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![root.join("docs")];
    while let Some(d) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "md") {
                out.push(p);
            }
        }
    }
    for top in ["README.md", "ARCHITECTURE.md"] {
        out.push(root.join(top));
    }
    for krate in [
        "pool",
        "sim",
        "datasets",
        "models",
        "reports",
        "experiments",
    ] {
        for f in ["README.md", "bench/README.md"] {
            let p = root.join(krate).join(f);
            if p.exists() {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The targets of the Markdown links `[text](target)` in `text`, with
/// their line numbers, outside fenced code blocks.
fn links(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut fenced = false;
    for (n, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let mut rest = line;
        while let Some(i) = rest.find("](") {
            let after = &rest[i + 2..];
            let Some(end) = after.find(')') else {
                break;
            };
            out.push((n + 1, after[..end].trim().to_string()));
            rest = &after[end..];
        }
    }
    out
}

#[test]
fn every_relative_link_in_the_docs_resolves() {
    let root = root();
    let mut broken = Vec::new();
    let mut checked = 0;
    for page in pages(&root) {
        let text = std::fs::read_to_string(&page).unwrap();
        for (line, target) in links(&text) {
            let target = target.split_whitespace().next().unwrap_or("");
            if target.is_empty()
                || target.starts_with('#')
                || target.contains("://")
                || target.starts_with("mailto:")
            {
                continue;
            }
            let path = target.split('#').next().unwrap_or(target);
            checked += 1;
            if !page.parent().unwrap().join(path).exists() {
                broken.push(format!(
                    "{}:{line}: `{target}`",
                    page.strip_prefix(&root).unwrap().display()
                ));
            }
        }
    }
    assert!(checked > 0, "no relative link found: the scan is broken");
    assert!(
        broken.is_empty(),
        "links that resolve to nothing:\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_link_scan_finds_links_and_skips_code() {
    let t = "see [a](docs/a.md) and [b](../b.md#x)\n```\n[c](nowhere.md)\n```\n";
    let l: Vec<String> = links(t).into_iter().map(|(_, s)| s).collect();
    assert_eq!(l, ["docs/a.md", "../b.md#x"]);
}

//! The documentation holds together: every relative link in README.md and docs/*.md reaches a
//! file (and, for a `#fragment` into a Markdown file, one of its headings), and the sections
//! table of docs/configuration.md names exactly the sections of config.example.toml, the file
//! the man page chat2desk-b24.toml(5) is generated from.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// README.md and every Markdown file in docs/.
fn documents() -> Vec<PathBuf> {
    let mut out = vec![root().join("README.md")];
    for entry in std::fs::read_dir(root().join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The lines of `text` outside fenced code blocks.
fn prose(text: &str) -> impl Iterator<Item = &str> {
    let mut fenced = false;
    text.lines().filter(move |line| {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            return false;
        }
        !fenced
    })
}

/// The targets of the inline links `[text](target)` of a line.
fn link_targets(line: &str) -> Vec<&str> {
    line.match_indices("](")
        .filter_map(|(at, _)| {
            let rest = &line[at + 2..];
            rest.find(')').map(|end| &rest[..end])
        })
        .collect()
}

/// GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of a Markdown file's headings.
fn anchors(text: &str) -> BTreeSet<String> {
    prose(text)
        .filter_map(|line| line.strip_prefix('#'))
        .map(|h| anchor(h.trim_start_matches('#')))
        .collect()
}

#[test]
fn every_relative_link_in_the_docs_resolves() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for doc in documents() {
        let text = std::fs::read_to_string(&doc).unwrap();
        let dir = doc.parent().unwrap();
        for target in prose(&text).flat_map(link_targets) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (file, fragment) = target.split_once('#').unwrap_or((target, ""));
            let path = if file.is_empty() {
                doc.clone()
            } else {
                dir.join(file)
            };
            let name = doc.strip_prefix(root()).unwrap().display().to_string();
            if !path.exists() {
                broken.push(format!("{name}: {target} (no such file)"));
                continue;
            }
            checked += 1;
            if !fragment.is_empty() && path.extension().is_some_and(|e| e == "md") {
                let target_text = std::fs::read_to_string(&path).unwrap();
                if !anchors(&target_text).contains(fragment) {
                    broken.push(format!("{name}: {target} (no such heading)"));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
    assert!(
        checked > 20,
        "only {checked} links found: is the parser right?"
    );
}

/// The sections of config.example.toml: `[name]`, `[[name]]`, set or commented out.
fn example_sections() -> BTreeSet<String> {
    let text = std::fs::read_to_string(root().join("config.example.toml")).unwrap();
    text.lines()
        .filter_map(|line| {
            let body = line.trim().trim_start_matches('#').trim();
            let inner = body.strip_prefix('[')?.strip_suffix(']')?;
            let name = inner.trim_start_matches('[').trim_end_matches(']');
            let plain = name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.');
            (!name.is_empty() && plain).then(|| body.to_string())
        })
        .collect()
}

/// The first column of the sections table of docs/configuration.md.
fn documented_sections() -> BTreeSet<String> {
    let text = std::fs::read_to_string(root().join("docs/configuration.md")).unwrap();
    prose(&text)
        .filter_map(|line| {
            let cell = line.strip_prefix("| `[")?.split('`').next()?;
            Some(format!("[{cell}"))
        })
        .collect()
}

#[test]
fn the_configuration_doc_lists_every_section_of_the_example_and_no_other() {
    let example = example_sections();
    assert!(example.contains("[chat2desk]") && example.contains("[[openlines.lines]]"));
    assert_eq!(
        documented_sections(),
        example,
        "docs/configuration.md (left) vs config.example.toml (right)"
    );
}

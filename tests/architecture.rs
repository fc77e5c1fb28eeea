//! The house's floors: every `crate::<folder>` path (and `super::` chain that leaves a folder)
//! in `src/` is an import edge between top-level folders; each must run down the floors, and
//! no flow may import another. `src/sim` (the simulators) is exempt. Prints the graph.
//! And small files: no `.rs` file under `src/` (outside `src/sim`), `tests/` or `benches/`
//! is over [`MAX_LINES`] lines; prints the largest five.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The floors, lowest first: a folder may import only folders on a lower floor.
const FLOORS: &[&str] = &[
    "config",
    "http",
    "store",
    "metrics",
    "chat2desk",
    "portal",
    "engine",
    "server",
    "flows",
    "app",
    "cli",
];

/// Folders the floors do not apply to.
const EXEMPT: &[&str] = &["sim"];

/// The unit of a module path: `flows/<flow>` for each folder or file inside `flows` (every one
/// is a flow, and none imports another), else its top folder.
fn unit(path: &[String]) -> Option<String> {
    let top = path.first()?;
    if top == "flows" {
        if let Some(flow) = path.get(1) {
            return Some(format!("flows/{flow}"));
        }
    }
    Some(top.clone())
}

/// The module path of a file under `src/` (`src/a/b.rs` and `src/a/b/mod.rs` are `a::b`).
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .with_extension("")
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// The code of `text` without comments (doc links name folders without importing them) and
/// without string literals.
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut in_str = false;
        let mut prev = ' ';
        let mut kept = String::new();
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if !in_str && c == '/' && chars.get(i + 1) == Some(&'/') {
                break;
            }
            if c == '"' && prev != '\\' {
                in_str = !in_str;
            } else if !in_str {
                kept.push(c);
            }
            prev = if prev == '\\' && c == '\\' { ' ' } else { c };
            i += 1;
        }
        out.push_str(&kept);
        out.push('\n');
    }
    out
}

/// The module paths `code` (of the file whose module is `module`) names: `crate::a::b`, and
/// `super::…` resolved against `module`.
fn paths_named(code: &str, module: &[String]) -> Vec<Vec<String>> {
    let mut starts: Vec<usize> = ["crate::", "super::"]
        .iter()
        .flat_map(|h| code.match_indices(h).map(|(i, _)| i))
        .filter(|&i| {
            let before = code[..i].chars().next_back();
            !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
        })
        .collect();
    starts.sort_unstable();
    starts
        .into_iter()
        .map(|i| {
            let rest = &code[i..];
            let len = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(rest.len());
            let segments: Vec<&str> = rest[..len].split("::").filter(|s| !s.is_empty()).collect();
            if segments[0] == "crate" {
                return segments[1..].iter().map(|s| s.to_string()).collect();
            }
            let mut base: Vec<String> = module[..module.len().saturating_sub(1)].to_vec();
            let ups = segments.iter().take_while(|s| **s == "super").count();
            base.truncate(base.len().saturating_sub(ups - 1));
            base.extend(segments[ups..].iter().map(|s| s.to_string()));
            base
        })
        .collect()
}

/// Import edges between units: (from, to) → the files that make the edge.
fn edges_of(files: &[(Vec<String>, String)]) -> BTreeMap<(String, String), BTreeSet<String>> {
    let mut edges: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for (module, text) in files {
        let Some(from) = unit(module) else { continue };
        for path in paths_named(&code_only(text), module) {
            let Some(to) = unit(&path) else { continue };
            if to != from && FLOORS.contains(&to.split('/').next().unwrap_or("")) {
                let name = module.join("::");
                edges.entry((from.clone(), to)).or_default().insert(name);
            }
        }
    }
    edges
}

/// Every edge that runs up (or across) a floor, or from one flow into another.
fn violations(edges: &BTreeMap<(String, String), BTreeSet<String>>) -> Vec<String> {
    let floor = |u: &str| {
        FLOORS
            .iter()
            .position(|f| *f == u.split('/').next().unwrap_or(""))
    };
    let mut bad = Vec::new();
    for ((from, to), files) in edges {
        if EXEMPT.contains(&from.as_str()) {
            continue;
        }
        let (Some(a), Some(b)) = (floor(from), floor(to)) else {
            bad.push(format!(
                "{from} -> {to}: a folder outside the floors ({files:?})"
            ));
            continue;
        };
        let flows_cross = a == b && from.starts_with("flows/") && to.starts_with("flows/");
        if b > a || (b == a && !flows_cross && from != to) {
            bad.push(format!("{from} -> {to} runs up a floor ({files:?})"));
        } else if flows_cross {
            bad.push(format!(
                "{from} -> {to}: one flow imports another ({files:?})"
            ));
        }
    }
    bad
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("the folder is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The library's files under `src/` as (module path, text); `main.rs` is the binary, not a
/// floor.
fn sources() -> Vec<(Vec<String>, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    rust_files(&src, &mut paths);
    paths
        .into_iter()
        .filter_map(|p| {
            let rel = p.strip_prefix(&src).expect("under src").to_path_buf();
            let module = module_of(&rel);
            let is_root = module == ["lib"] || module == ["main"];
            (!is_root).then(|| (module, std::fs::read_to_string(&p).expect("readable")))
        })
        .collect()
}

#[test]
fn imports_run_down_the_floors_and_no_flow_imports_another() {
    let edges = edges_of(&sources());
    let mut graph: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (from, to) in edges.keys() {
        graph.entry(from).or_default().insert(to);
    }
    println!("Import graph (folder -> folders it imports), sim exempt:");
    for (from, tos) in &graph {
        let tos: Vec<&str> = tos.iter().copied().collect();
        println!("  {from} -> {}", tos.join(" "));
    }
    // The parser sees the house: the daemon wires the engine, the flows use the store.
    assert!(graph.get("app").is_some_and(|t| t.contains("engine")));
    assert!(graph
        .get("flows/transcript")
        .is_some_and(|t| t.contains("store")));
    let bad = violations(&edges);
    assert!(
        bad.is_empty(),
        "imports against the floors:\n{}",
        bad.join("\n")
    );
}

#[test]
fn an_import_up_a_floor_or_across_flows_is_caught() {
    let module = |m: &str| m.split("::").map(str::to_string).collect::<Vec<_>>();
    let files = vec![
        (
            module("engine::worker"),
            "use crate::app::Rules;".to_string(),
        ),
        (
            module("flows::openlines::line_out"),
            "use crate::flows::bizproc::Outcome; // crate::cli in a comment".to_string(),
        ),
        (
            module("server::listen"),
            "use super::super::flows::X;".to_string(),
        ),
        (
            module("portal::client"),
            "let s = \"crate::app\";".to_string(),
        ),
    ];
    let bad = violations(&edges_of(&files));
    assert_eq!(bad.len(), 3, "{bad:#?}");
    assert!(bad[0].starts_with("engine -> app runs up"), "{bad:#?}");
    assert!(
        bad[1].starts_with("flows/openlines -> flows/bizproc: one flow"),
        "{bad:#?}"
    );
    assert!(bad[2].starts_with("server -> flows/X runs up"), "{bad:#?}");
}

/// The most lines a source file may have (the simulators are exempt).
const MAX_LINES: usize = 500;

#[test]
fn no_source_file_is_over_500_lines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths = Vec::new();
    for dir in ["src", "tests", "benches"] {
        rust_files(&root.join(dir), &mut paths);
    }
    let mut sizes: Vec<(usize, String)> = paths
        .iter()
        .map(|p| {
            let rel = p
                .strip_prefix(root)
                .expect("under the crate")
                .to_string_lossy();
            let text = std::fs::read_to_string(p).expect("readable");
            (text.lines().count(), rel.replace('\\', "/"))
        })
        .filter(|(_, rel)| !rel.starts_with("src/sim/"))
        .collect();
    sizes.sort_by(|a, b| b.cmp(a));
    println!("The largest files (src/sim exempt):");
    for (lines, rel) in sizes.iter().take(5) {
        println!("  {lines:>5} {rel}");
    }
    let over: Vec<String> = sizes
        .iter()
        .filter(|(lines, _)| *lines > MAX_LINES)
        .map(|(lines, rel)| format!("{rel}: {lines} lines"))
        .collect();
    assert!(
        over.is_empty(),
        "files over {MAX_LINES} lines (split them by what the code does):\n{}",
        over.join("\n")
    );
}

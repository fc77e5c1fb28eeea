//! Reading a Prometheus exposition (text 0.0.4 or OpenMetrics) and the metrics table of
//! docs/operations.md, so a test can compare what is served with what is documented.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Label names of one sample, sorted.
pub type LabelNames = Vec<String>;

/// Metric name → (type, the label-name sets its samples carry). A histogram is named by its
/// family (`x`, not `x_bucket`) without `le`; a counter by its samples (`x_total`), which is
/// what Prometheus stores whatever the format calls the family.
pub fn parse_exposition(page: &str) -> BTreeMap<String, (String, BTreeSet<LabelNames>)> {
    let mut out: BTreeMap<String, (String, BTreeSet<LabelNames>)> = BTreeMap::new();
    let mut family = (String::new(), String::new());
    for line in page.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name type");
            family = (name.to_string(), kind.to_string());
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let name_end = line.find(['{', ' ']).unwrap_or(line.len());
        let sample = &line[..name_end];
        let (family_name, kind) = &family;
        assert!(
            sample.starts_with(family_name.as_str()),
            "sample `{sample}` outside its family `{family_name}`"
        );
        let metric = if kind == "histogram" {
            family_name.clone()
        } else {
            sample.to_string()
        };
        let mut labels: LabelNames = label_names(&line[name_end..])
            .into_iter()
            .filter(|l| !(kind == "histogram" && l == "le"))
            .collect();
        labels.sort();
        let entry = out
            .entry(metric)
            .or_insert_with(|| (kind.clone(), BTreeSet::new()));
        entry.1.insert(labels);
    }
    out
}

/// The names in `{a="x",b="y \"quoted\" {id}"} 1`.
fn label_names(rest: &str) -> Vec<String> {
    let Some(body) = rest.strip_prefix('{') else {
        return Vec::new();
    };
    let mut names = Vec::new();
    let mut chars = body.chars();
    let mut name = String::new();
    while let Some(c) = chars.next() {
        match c {
            '}' => break,
            ',' | ' ' => {}
            '=' => {
                assert_eq!(chars.next(), Some('"'), "a quoted label value");
                while let Some(v) = chars.next() {
                    match v {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
                names.push(std::mem::take(&mut name));
            }
            c => name.push(c),
        }
    }
    names
}

/// The metrics table of docs/operations.md ("Health and metrics"): metric name → (type,
/// sorted label names).
pub fn documented_metrics() -> BTreeMap<String, (String, LabelNames)> {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/operations.md"))
            .expect("docs/operations.md");
    let mut out = BTreeMap::new();
    for line in doc.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let [_, name, kind, labels, ..] = cells[..] else {
            continue;
        };
        let Some(name) = name
            .strip_prefix("`chat2desk_b24_")
            .and_then(|n| n.strip_suffix('`'))
        else {
            continue;
        };
        let mut labels: LabelNames = labels
            .split(',')
            .map(|l| l.trim().trim_matches('`').to_string())
            .filter(|l| !l.is_empty() && l != "—")
            .collect();
        labels.sort();
        out.insert(format!("chat2desk_b24_{name}"), (kind.to_string(), labels));
    }
    assert!(!out.is_empty(), "docs/operations.md documents the metrics");
    out
}

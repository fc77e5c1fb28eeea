//! What every list method shares: CRM filter prefixes, ordering, `select`, and 50-row pages
//! with `total`/`next` (doc §1.2, §1.5).

use super::values::{int, items, text};
use super::{ApiError, Reply};
use serde_json::{Map, Value};
use std::cmp::Ordering;

/// Rows per page.
pub(crate) const PAGE: usize = 50;

/// The filter prefixes, longest first so `>=` wins over `>`.
const PREFIXES: [&str; 13] = [
    "!@", ">=", "<=", "!=", "=%", "%=", "!%", "=", "!", ">", "<", "@", "%",
];

fn compare(a: &str, b: &str) -> Ordering {
    match (a.trim().parse::<f64>(), b.trim().parse::<f64>()) {
        (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        _ => a.cmp(b),
    }
}

fn equal(a: &str, b: &str) -> bool {
    compare(a, b) == Ordering::Equal || a.eq_ignore_ascii_case(b)
}

/// True when `row` passes every condition of `filter`. Unknown fields compare as empty.
pub(crate) fn matches(row: &Map<String, Value>, filter: &Value) -> bool {
    let Some(filter) = filter.as_object() else {
        return true;
    };
    filter.iter().all(|(key, wanted)| {
        let prefix = PREFIXES
            .iter()
            .find(|p| key.starts_with(*p))
            .copied()
            .unwrap_or("");
        let field = &key[prefix.len()..];
        // A multifield (`PHONE`, `EMAIL`, …) matches when one of its values does.
        if let (Some(Value::Array(values)), "" | "=") = (row.get(field), prefix) {
            let wanted_text = text(wanted).unwrap_or_default();
            return values
                .iter()
                .filter_map(|v| v.get("VALUE").and_then(text))
                .any(|v| equal(&v, &wanted_text));
        }
        let actual = row.get(field).and_then(text).unwrap_or_default();
        let wanted_text = text(wanted).unwrap_or_default();
        let like = |a: &str| {
            a.to_lowercase()
                .contains(&wanted_text.trim_matches('%').to_lowercase())
        };
        let any_of = || {
            items(wanted)
                .iter()
                .any(|w| equal(&actual, &text(w).unwrap_or_default()))
        };
        match prefix {
            "" | "=" if wanted.is_array() || wanted.is_object() => any_of(),
            "" | "=" => equal(&actual, &wanted_text),
            "!" | "!=" if wanted.is_array() => !any_of(),
            "!" | "!=" => !equal(&actual, &wanted_text),
            ">" => compare(&actual, &wanted_text) == Ordering::Greater,
            ">=" => compare(&actual, &wanted_text) != Ordering::Less,
            "<" => compare(&actual, &wanted_text) == Ordering::Less,
            "<=" => compare(&actual, &wanted_text) != Ordering::Greater,
            "@" => any_of(),
            "!@" => !any_of(),
            "%" | "=%" | "%=" => like(&actual),
            "!%" => !like(&actual),
            _ => true,
        }
    })
}

/// Sorts rows by an `order` map (`{"ID": "DESC"}`); numbers compare as numbers.
pub(crate) fn sort(rows: &mut [Map<String, Value>], order: Option<&Value>) {
    let keys: Vec<(String, bool)> = match order.and_then(Value::as_object) {
        Some(map) if !map.is_empty() => map
            .iter()
            .map(|(k, v)| {
                let desc = text(v).is_some_and(|d| d.eq_ignore_ascii_case("desc"));
                (k.to_uppercase(), desc)
            })
            .collect(),
        _ => vec![("ID".into(), false)],
    };
    rows.sort_by(|a, b| {
        for (field, desc) in &keys {
            let x = a.get(field).and_then(text).unwrap_or_default();
            let y = b.get(field).and_then(text).unwrap_or_default();
            let ord = compare(&x, &y);
            let ord = if *desc { ord.reverse() } else { ord };
            if ord != Ordering::Equal {
                return ord;
            }
        }
        Ordering::Equal
    });
}

/// Keeps the selected fields (plus `ID`). `*` or no `select` keeps `ordinary`; other fields
/// (multifields such as `PHONE`) appear only when named and non-empty.
pub(crate) fn project(
    row: &Map<String, Value>,
    select: Option<&Value>,
    ordinary: &[&str],
) -> Map<String, Value> {
    let names: Vec<String> = select
        .map(items)
        .unwrap_or_default()
        .iter()
        .filter_map(text)
        .collect();
    let mut wanted: Vec<String> = Vec::new();
    if names.is_empty() || names.iter().any(|n| n == "*") {
        wanted.extend(ordinary.iter().map(|s| s.to_string()));
    }
    wanted.extend(names.into_iter().filter(|n| n != "*"));
    let mut out = Map::new();
    out.insert("ID".into(), row.get("ID").cloned().unwrap_or(Value::Null));
    for name in wanted {
        if let Some(value) = row.get(&name) {
            let empty_multi = value.as_array().is_some_and(|a| a.is_empty());
            if !empty_multi {
                out.insert(name, value.clone());
            }
        } else if ordinary.contains(&name.as_str()) {
            out.insert(name, Value::Null);
        }
    }
    out
}

/// One page from `start` (`-1` = first page without counting).
pub(crate) fn page(rows: Vec<Map<String, Value>>, params: &Value) -> Result<Reply, ApiError> {
    let start = params.get("start").and_then(int).unwrap_or(0);
    let count = start >= 0;
    let start = start.max(0) as usize;
    let total = rows.len();
    let page: Vec<Value> = rows
        .into_iter()
        .skip(start)
        .take(PAGE)
        .map(Value::Object)
        .collect();
    Ok(Reply {
        result: Value::Array(page),
        total: count.then_some(total as u64),
        next: (count && start + PAGE < total).then_some((start + PAGE) as u64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn filter_prefixes() {
        let r = row(json!({"ID": "10", "STATUS_ID": "NEW", "TITLE": "Hello World"}));
        assert!(matches(&r, &json!({"=STATUS_ID": "NEW", ">ID": 9})));
        assert!(!matches(&r, &json!({">ID": "10"})));
        assert!(matches(
            &r,
            &json!({">=ID": "10", "<ID": 11, "!STATUS_ID": "JUNK"})
        ));
        assert!(matches(&r, &json!({"@STATUS_ID": ["JUNK", "NEW"]})));
        assert!(!matches(&r, &json!({"!@STATUS_ID": ["NEW"]})));
        assert!(matches(&r, &json!({"%TITLE": "world"})));
        assert!(matches(&r, &json!({"STATUS_ID": {"0": "NEW"}})));
        assert!(!matches(&r, &json!({"ASSIGNED_BY_ID": 1})));
    }

    #[test]
    fn pages_of_fifty() {
        let rows: Vec<_> = (1..=120)
            .map(|i| row(json!({"ID": i.to_string()})))
            .collect();
        let p = page(rows.clone(), &json!({"start": 100})).unwrap();
        assert_eq!(p.result.as_array().unwrap().len(), 20);
        assert_eq!((p.total, p.next), (Some(120), None));
        let p = page(rows.clone(), &json!({"start": "50"})).unwrap();
        assert_eq!((p.total, p.next), (Some(120), Some(100)));
        let p = page(rows, &json!({"start": -1})).unwrap();
        assert_eq!((p.total, p.next), (None, None));
    }

    #[test]
    fn order_numeric_desc() {
        let mut rows: Vec<_> = ["9", "10", "2"]
            .iter()
            .map(|i| row(json!({"ID": i})))
            .collect();
        sort(&mut rows, Some(&json!({"ID": "DESC"})));
        let ids: Vec<_> = rows.iter().map(|r| r["ID"].as_str().unwrap()).collect();
        assert_eq!(ids, ["10", "9", "2"]);
    }
}

//! `$result[...]` references inside one `batch` (doc §1.6), placed only where a round asks
//! for them.
//!
//! The portal resolves references in every parameter of a sub-call, text included, so a
//! client who types `$result[q0]` in a chat would see another call's answer pasted into the
//! comment. Free text is therefore defused before it goes into a batch (a zero-width space
//! after the `$`, invisible in the CRM card), and the references a round needs are written
//! into their places afterwards.

use serde_json::Value;

/// The reference sections the portal resolves.
const SECTIONS: [&str; 4] = ["result", "next", "total", "error"];
/// Breaks `$result[` apart without changing what a reader sees.
const ZERO_WIDTH_SPACE: char = '\u{200B}';

/// One reference a call of a round carries: the parameter at `at` (a JSON pointer into the
/// call's params) becomes `$result[<batch key of call to>]<path>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// JSON pointer of the parameter, e.g. `/fields/ENTITY_ID`.
    pub at: String,
    /// The name of the earlier call in the same round.
    pub to: String,
    /// What to take of its result, e.g. `[LEAD]` or `[0][ID]`; empty for the whole result.
    pub path: String,
}

/// `params` ready for a batch: free text defused, then each link written as a reference to
/// the batch key `key_of(link.to)` gives.
pub fn place(params: &Value, links: &[Link], key_of: impl Fn(&str) -> Option<String>) -> Value {
    let mut out = defuse(params);
    for link in links {
        let Some(key) = key_of(&link.to) else {
            continue;
        };
        let reference = Value::String(format!("$result[{key}]{}", link.path));
        match out.pointer_mut(&link.at) {
            Some(slot) => *slot = reference,
            None => insert(&mut out, &link.at, reference),
        }
    }
    out
}

/// Writes `value` at a pointer whose last step does not exist yet (its parent must).
fn insert(root: &mut Value, pointer: &str, value: Value) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return;
    };
    if let Some(Value::Object(map)) = root.pointer_mut(parent) {
        map.insert(last.replace("~1", "/").replace("~0", "~"), value);
    }
}

/// Every string leaf with a `$result[`-like sequence broken apart.
fn defuse(value: &Value) -> Value {
    match value {
        Value::String(s) if s.contains('$') => Value::String(defuse_text(s)),
        Value::Array(list) => Value::Array(list.iter().map(defuse).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), defuse(v))).collect())
        }
        other => other.clone(),
    }
}

fn defuse_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 3);
    for (index, ch) in s.char_indices() {
        out.push(ch);
        if ch == '$' {
            let rest = &s[index + 1..];
            if SECTIONS
                .iter()
                .any(|name| rest.starts_with(name) && rest[name.len()..].starts_with('['))
            {
                out.push(ZERO_WIDTH_SPACE);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn links_become_references_and_text_is_defused() {
        let params =
            json!({"fields": {"ENTITY_ID": 0, "COMMENT": "pay $5, see $result[q0] and $total[x]"}});
        let links = [Link {
            at: "/fields/ENTITY_ID".into(),
            to: "lead".into(),
            path: String::new(),
        }];
        let placed = place(&params, &links, |name| {
            (name == "lead").then(|| "q3".into())
        });
        assert_eq!(placed["fields"]["ENTITY_ID"], json!("$result[q3]"));
        let text = placed["fields"]["COMMENT"].as_str().unwrap();
        assert!(!text.contains("$result["), "{text}");
        assert!(!text.contains("$total["), "{text}");
        assert_eq!(
            text.replace(ZERO_WIDTH_SPACE, ""),
            "pay $5, see $result[q0] and $total[x]"
        );
    }

    #[test]
    fn a_link_may_add_a_parameter_with_a_path() {
        let params = json!({"filter": {"CATEGORY_ID": 0}});
        let links = [Link {
            at: "/filter/@CONTACT_ID".into(),
            to: "found".into(),
            path: "[CONTACT]".into(),
        }];
        let placed = place(&params, &links, |_| Some("q0".into()));
        assert_eq!(
            placed,
            json!({"filter": {"CATEGORY_ID": 0, "@CONTACT_ID": "$result[q0][CONTACT]"}})
        );
    }
}

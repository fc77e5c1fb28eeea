//! Loose reading of parameters: JSON bodies bring numbers and booleans, form bodies bring
//! strings only, and the portal accepts both.

use serde_json::Value;

/// Text of a scalar (`5` and `"5"` alike); `None` for null, arrays and objects.
pub(crate) fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(true) => Some("Y".into()),
        Value::Bool(false) => Some("N".into()),
        _ => None,
    }
}

/// An integer from a number or a numeric string.
pub(crate) fn int(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A boolean from `true`, `1`, `"Y"`, `"true"`, `"1"`.
pub(crate) fn truthy(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => matches!(s.trim().to_ascii_lowercase().as_str(), "y" | "1" | "true"),
        _ => false,
    }
}

/// A parameter by name, trying each spelling (`fields`, `FIELDS`).
pub(crate) fn param<'a>(params: &'a Value, names: &[&str]) -> Option<&'a Value> {
    names.iter().find_map(|n| params.get(*n))
}

/// Items of an array, or the values of a PHP map (`{"0": …}`), or one scalar.
pub(crate) fn items(value: &Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items.clone(),
        Value::Object(map) => map.values().cloned().collect(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

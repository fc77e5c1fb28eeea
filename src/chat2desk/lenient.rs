//! Lenient readers for JSON fields whose type the API does not keep stable: numbers may
//! come as strings, flags as `0/1`, `"0"/"1"` or booleans, lists as arrays or comma lists.

use serde_json::Value;

/// The first of `names` present in `obj` with a non-null value.
pub(crate) fn field<'a>(obj: &'a Value, names: &[&str]) -> Option<&'a Value> {
    names
        .iter()
        .filter_map(|n| obj.get(n))
        .find(|v| !v.is_null())
}

/// An integer given as a JSON number (integral) or a numeric string.
pub(crate) fn int(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Text given as a string (empty = absent) or a number.
pub(crate) fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A flag given as a boolean, `0/1` or a string such as `"1"`, `"true"`.
pub(crate) fn flag(v: Option<&Value>) -> Option<bool> {
    match v? {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_f64().map(|f| f != 0.0),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" => Some(true),
            "0" | "false" | "no" | "" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// A list of strings given as an array (strings or numbers) or one comma-separated string.
pub(crate) fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(items)) => items.iter().filter_map(|i| text(Some(i))).collect(),
        Some(Value::String(s)) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_flags_and_lists_in_every_dress() {
        assert_eq!(int(Some(&json!(17))), Some(17));
        assert_eq!(int(Some(&json!(" 17 "))), Some(17));
        assert_eq!(int(Some(&json!(17.0))), Some(17));
        assert_eq!(int(Some(&json!(17.5))), None);
        assert_eq!(int(Some(&json!("x"))), None);
        assert_eq!(flag(Some(&json!("1"))), Some(true));
        assert_eq!(flag(Some(&json!(0))), Some(false));
        assert_eq!(flag(Some(&json!(true))), Some(true));
        assert_eq!(strings(Some(&json!(["a", 2]))), vec!["a", "2"]);
        assert_eq!(strings(Some(&json!("a, b"))), vec!["a", "b"]);
        assert_eq!(text(Some(&json!(""))), None);
        let obj = json!({"a": null, "b": 2});
        assert_eq!(field(&obj, &["a", "b"]), Some(&json!(2)));
    }
}

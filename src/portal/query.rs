//! PHP-bracket query strings (doc §1.2, §1.6): the form in which `batch` carries each
//! sub-call's parameters (`"crm.lead.list?filter[%3EID]=0&select[0]=ID"`), and in which a
//! portal reads form or query parameters.

use serde_json::{Map, Value};

/// Encodes JSON parameters as a PHP-bracket query string.
///
/// Objects become `key[sub]=…`, arrays `key[0]=…` (indexed, which PHP reads exactly like
/// `key[]`), booleans `1`/`0` (as PHP's `http_build_query` does), `null` an empty value, and
/// numbers their JSON text. Empty arrays and objects produce nothing, as in PHP. Key parts
/// and values are percent-encoded (everything but `A-Z a-z 0-9 - . _ ~`); brackets stay literal.
/// A non-object top level is encoded under no key and yields an empty string.
pub fn encode(params: &Value) -> String {
    let mut pairs = Vec::new();
    if let Value::Object(map) = params {
        for (key, value) in map {
            push_pairs(&mut pairs, percent_encode(key), value);
        }
    }
    pairs.join("&")
}

fn push_pairs(pairs: &mut Vec<String>, prefix: String, value: &Value) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                push_pairs(pairs, format!("{prefix}[{}]", percent_encode(key)), inner);
            }
        }
        Value::Array(items) => {
            for (index, inner) in items.iter().enumerate() {
                push_pairs(pairs, format!("{prefix}[{index}]"), inner);
            }
        }
        Value::Null => pairs.push(format!("{prefix}=")),
        Value::Bool(flag) => pairs.push(format!("{prefix}={}", if *flag { 1 } else { 0 })),
        Value::Number(number) => pairs.push(format!("{prefix}={number}")),
        Value::String(text) => pairs.push(format!("{prefix}={}", percent_encode(text))),
    }
}

/// Percent-encodes every byte outside the RFC 3986 unreserved set.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// How much of a query the decoder accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most bracket levels in one key (`a[b][c]` has 2).
    pub max_depth: usize,
    /// Most `key=value` pairs.
    pub max_fields: usize,
}

impl Limits {
    /// PHP's defaults (`max_input_nesting_level` 64, `max_input_vars` 1000): what a portal
    /// reads of a form.
    pub const PHP: Limits = Limits {
        max_depth: 64,
        max_fields: 1000,
    };
    /// What the daemon's own routes accept (their forms nest two levels at most).
    pub const ROUTE: Limits = Limits {
        max_depth: 5,
        max_fields: 1000,
    };
}

/// A query the daemon's routes refuse (answered 400 naming the reason).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// A key nests deeper than [`Limits::max_depth`].
    #[error("form field `{name}` nests more than {max} brackets deep")]
    TooDeep {
        /// The key's name before its first bracket (cut to 40 characters).
        name: String,
        /// The limit.
        max: usize,
    },
    /// More pairs than [`Limits::max_fields`].
    #[error("more than {max} form fields")]
    TooManyFields {
        /// The limit.
        max: usize,
    },
}

/// Decodes a PHP-bracket query string into JSON, the way PHP fills `$_GET`/`$_POST`: every
/// leaf is a string, `key[]` appends, and a map whose keys are exactly `0..n` becomes an array.
/// `+` means a space. Later duplicates of a plain key win. As PHP does, pairs past
/// [`Limits::PHP`]'s field count are dropped and keys nested deeper are skipped.
pub fn decode(query: &str) -> Value {
    decode_pairs(query, Limits::PHP, false).unwrap_or_default()
}

/// [`decode`] for the daemon's routes: a query over `limits` is an error instead of being cut.
pub fn decode_strict(query: &str, limits: Limits) -> Result<Value, QueryError> {
    decode_pairs(query, limits, true)
}

/// The value of the first pair whose decoded key is exactly `key` (e.g.
/// `auth[application_token]`), found in one pass without building the form: a route checks
/// its secret with this before it decodes anything else.
pub fn find(query: &str, key: &str) -> Option<String> {
    query
        .split('&')
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .find(|(raw_key, _)| percent_decode(raw_key) == key)
        .map(|(_, raw_value)| percent_decode(raw_value))
}

fn decode_pairs(query: &str, limits: Limits, strict: bool) -> Result<Value, QueryError> {
    let mut root = Map::new();
    let pairs = query.split('&').filter(|p| !p.is_empty());
    for (count, pair) in pairs.enumerate() {
        if count == limits.max_fields {
            if strict {
                return Err(QueryError::TooManyFields {
                    max: limits.max_fields,
                });
            }
            break;
        }
        let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode(raw_key);
        let (name, path) = split_key(&key, limits.max_depth);
        if name.is_empty() {
            continue;
        }
        let Some(path) = path else {
            if strict {
                return Err(QueryError::TooDeep {
                    name: name.chars().take(40).collect(),
                    max: limits.max_depth,
                });
            }
            continue;
        };
        insert(
            &mut root,
            name,
            &path,
            Value::String(percent_decode(raw_value)),
        );
    }
    Ok(normalise(Value::Object(root)))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push(high * 16 + low);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(byte: u8) -> Option<u8> {
    (byte as char).to_digit(16).map(|d| d as u8)
}

/// `a[b][][c]` → (`a`, [Some(b), None, Some(c)]); the path is `None` past `max_depth` levels.
fn split_key(key: &str, max_depth: usize) -> (String, Option<Vec<Option<String>>>) {
    let Some(open) = key.find('[') else {
        return (key.to_string(), Some(Vec::new()));
    };
    let name = key[..open].to_string();
    let mut path = Vec::new();
    let mut rest = &key[open..];
    while let Some(stripped) = rest.strip_prefix('[') {
        let Some(close) = stripped.find(']') else {
            break;
        };
        if path.len() == max_depth {
            return (name, None);
        }
        let part = &stripped[..close];
        path.push(if part.is_empty() {
            None
        } else {
            Some(part.to_string())
        });
        rest = &stripped[close + 1..];
    }
    (name, Some(path))
}

/// Puts `value` at `name` + `path`, making objects on the way (a loop, not a recursion: the
/// path's length is the caller's depth limit, not the stack's).
fn insert(root: &mut Map<String, Value>, name: String, path: &[Option<String>], value: Value) {
    let mut map = root;
    let mut key = name;
    for part in path {
        let slot = map.entry(key).or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        let Value::Object(inner) = slot else {
            return;
        };
        key = match part {
            Some(part) => part.clone(),
            None => next_index(inner).to_string(),
        };
        map = inner;
    }
    map.insert(key, value);
}

fn next_index(map: &Map<String, Value>) -> u64 {
    map.keys()
        .filter_map(|k| k.parse::<u64>().ok())
        .max()
        .map_or(0, |max| max.saturating_add(1))
}

/// Turns every map whose keys are exactly `0..n` (in any order: the map sorts `10` before
/// `2`) into an array. Recursion as deep as the decoder's depth limit.
fn normalise(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let len = map.len();
            let index = |k: &str| {
                k.parse::<usize>()
                    .ok()
                    .filter(|i| *i < len && i.to_string() == k)
            };
            if len > 0 && map.keys().all(|k| index(k).is_some()) {
                let mut items = vec![Value::Null; len];
                for (k, v) in map {
                    if let Some(i) = index(&k) {
                        items[i] = normalise(v);
                    }
                }
                Value::Array(items)
            } else {
                Value::Object(map.into_iter().map(|(k, v)| (k, normalise(v))).collect())
            }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn encodes_nested_objects_arrays_and_scalars() {
        let params = json!({
            "filter": {">ID": 10, "=STATUS_ID": "NEW"},
            "select": ["ID", "TITLE"],
            "fields": {"PHONE": [{"VALUE": "+7 916", "VALUE_TYPE": "WORK"}], "OPENED": true, "X": null},
            "start": 0,
        });
        let query = encode(&params);
        assert_eq!(
            query,
            // serde_json maps iterate in key order.
            "fields[OPENED]=1&fields[PHONE][0][VALUE]=%2B7%20916&\
             fields[PHONE][0][VALUE_TYPE]=WORK&fields[X]=&filter[%3DSTATUS_ID]=NEW&\
             filter[%3EID]=10&select[0]=ID&select[1]=TITLE&start=0"
        );
    }

    #[test]
    fn percent_encodes_utf8_and_specials() {
        let query = encode(&json!({"COMMENT": "Привет & =?#[x]"}));
        assert_eq!(
            query,
            "COMMENT=%D0%9F%D1%80%D0%B8%D0%B2%D0%B5%D1%82%20%26%20%3D%3F%23%5Bx%5D"
        );
        assert_eq!(decode(&query), json!({"COMMENT": "Привет & =?#[x]"}));
    }

    #[test]
    fn false_and_empty_containers() {
        assert_eq!(encode(&json!({"a": false, "b": [], "c": {}})), "a=0");
        assert_eq!(encode(&json!([1, 2])), "");
    }

    #[test]
    fn decodes_php_style() {
        let decoded =
            decode("select[]=ID&select[]=TITLE&filter[%3EID]=5&id=7&q=a+b&order[ID]=DESC");
        assert_eq!(
            decoded,
            json!({"select": ["ID", "TITLE"], "filter": {">ID": "5"}, "id": "7", "q": "a b", "order": {"ID": "DESC"}})
        );
    }

    #[test]
    fn round_trip_keeps_structure_with_string_leaves() {
        let params = json!({"fields": {"ENTITY_ID": 5, "PHONE": [{"VALUE": "1"}, {"VALUE": "2"}]}});
        assert_eq!(
            decode(&encode(&params)),
            json!({"fields": {"ENTITY_ID": "5", "PHONE": [{"VALUE": "1"}, {"VALUE": "2"}]}})
        );
    }

    #[test]
    fn deep_or_wide_forms_are_capped_without_recursion() {
        let deep = format!("a{}=1", "[]".repeat(100_000));
        assert_eq!(decode(&deep), json!({}));
        assert_eq!(
            decode_strict(&deep, Limits::ROUTE),
            Err(QueryError::TooDeep {
                name: "a".into(),
                max: 5
            })
        );
        assert_eq!(decode("a[][][][][]=1"), json!({"a": [[[[["1"]]]]]}));
        let wide = vec!["a[]=1"; 40_000].join("&");
        assert_eq!(decode(&wide)["a"].as_array().map(Vec::len), Some(1000));
        assert_eq!(
            decode_strict(&wide, Limits::ROUTE),
            Err(QueryError::TooManyFields { max: 1000 })
        );
        assert_eq!(
            decode("a[18446744073709551615]=x&a[]=y"),
            json!({"a": {"18446744073709551615": "y"}})
        );
    }

    #[test]
    fn finds_one_key_without_decoding_the_form() {
        let form = "x[]=1&auth%5Bapplication_token%5D=s%20t&auth[application_token]=late";
        assert_eq!(
            find(form, "auth[application_token]").as_deref(),
            Some("s t")
        );
        assert_eq!(find(form, "auth"), None);
    }

    #[test]
    fn tolerates_broken_percent_sequences() {
        assert_eq!(decode("a=%zz&b=%4"), json!({"a": "%zz", "b": "%4"}));
    }
}

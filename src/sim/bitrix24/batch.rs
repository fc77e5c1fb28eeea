//! `batch` (doc §1.6): up to 50 sub-calls as `"method?query"`, `$result[key][…]` references,
//! `halt`, and PHP's habit of turning empty maps into `[]`.

use super::state::State;
use super::values::{text, truthy};
use super::{execute, ApiError, Reply};
use crate::portal::query;
use serde_json::{json, Map, Value};

/// Sub-calls run per batch.
const MAX_COMMANDS: usize = 50;

/// What earlier sub-calls produced, for references.
#[derive(Default)]
struct Done {
    result: Map<String, Value>,
    error: Map<String, Value>,
    total: Map<String, Value>,
    next: Map<String, Value>,
    time: Map<String, Value>,
}

/// Runs a batch. `order` lists `cmd` keys in the order the request spelled them (JSON maps
/// here are sorted); keys it does not name run after, in key order.
pub(crate) fn run(state: &mut State, params: &Value, order: &[String]) -> Result<Reply, ApiError> {
    let mut commands: Vec<(String, String)> = match params.get("cmd") {
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| (k.clone(), text(v).unwrap_or_default()))
            .collect(),
        Some(Value::Array(list)) => list
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), text(v).unwrap_or_default()))
            .collect(),
        _ => Vec::new(),
    };
    commands.sort_by_key(|(key, _)| order.iter().position(|k| k == key).unwrap_or(usize::MAX));
    let halt = params.get("halt").is_some_and(truthy);
    let mut done = Done::default();
    for (index, (key, line)) in commands.into_iter().enumerate() {
        if index >= MAX_COMMANDS {
            done.error.insert(
                key,
                error_json(&ApiError::new(
                    400,
                    "ERROR_BATCH_LENGTH_EXCEEDED",
                    "Max batch length exceeded",
                )),
            );
            continue;
        }
        let (method, raw_query) = line.split_once('?').unwrap_or((line.as_str(), ""));
        let method = method.trim().to_lowercase();
        let outcome = if method == "batch" {
            Err(ApiError::new(
                400,
                "ERROR_BATCH_METHOD_NOT_ALLOWED",
                "Method is not allowed for batch usage",
            ))
        } else {
            let params = resolve(&query::decode(raw_query), &done);
            execute(state, &method, &params)
        };
        match outcome {
            Ok(reply) => {
                done.result.insert(key.clone(), reply.result);
                if let Some(total) = reply.total {
                    done.total.insert(key.clone(), json!(total));
                }
                if let Some(next) = reply.next {
                    done.next.insert(key.clone(), json!(next));
                }
                done.time
                    .insert(key, super::time_json(std::time::Instant::now()));
            }
            Err(error) => {
                done.error.insert(key, error_json(&error));
                if halt {
                    break;
                }
            }
        }
    }
    Ok(Reply::of(json!({
        "result": php_map(done.result),
        "result_error": php_map(done.error),
        "result_total": php_map(done.total),
        "result_next": php_map(done.next),
        "result_time": php_map(done.time),
    })))
}

/// The `cmd` keys in the order the request wrote them: from a JSON body, or from the form
/// body and query string (`cmd[key]=…`).
pub(crate) fn command_order(json_body: Option<&[u8]>, form: &[&str]) -> Vec<String> {
    let mut order = Vec::new();
    if let Some(body) = json_body {
        let mut de = serde_json::Deserializer::from_slice(body);
        if let Ok(CmdOrder(keys)) = serde::Deserialize::deserialize(&mut de) {
            order.extend(keys);
        }
    }
    for text in form {
        for (key, _) in url::form_urlencoded::parse(text.as_bytes()) {
            let inner = key.strip_prefix("cmd[").and_then(|k| k.split(']').next());
            if let Some(inner) = inner {
                if !order.iter().any(|k| k == inner) {
                    order.push(inner.to_string());
                }
            }
        }
    }
    order
}

/// The keys of a top-level `cmd` object, in document order.
struct CmdOrder(Vec<String>);

impl<'de> serde::Deserialize<'de> for CmdOrder {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Top;
        struct Keys;
        impl<'de> serde::de::Visitor<'de> for Top {
            type Value = CmdOrder;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<CmdOrder, A::Error> {
                let mut keys = Vec::new();
                while let Some(name) = map.next_key::<String>()? {
                    if name == "cmd" {
                        keys = map.next_value_seed(Keys)?;
                    } else {
                        map.next_value::<serde::de::IgnoredAny>()?;
                    }
                }
                Ok(CmdOrder(keys))
            }
        }
        impl<'de> serde::de::DeserializeSeed<'de> for Keys {
            type Value = Vec<String>;
            fn deserialize<D: serde::Deserializer<'de>>(
                self,
                d: D,
            ) -> Result<Vec<String>, D::Error> {
                d.deserialize_any(self)
            }
        }
        impl<'de> serde::de::Visitor<'de> for Keys {
            type Value = Vec<String>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("the cmd map")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Vec<String>, A::Error> {
                let mut keys = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    map.next_value::<serde::de::IgnoredAny>()?;
                    keys.push(key);
                }
                Ok(keys)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Vec<String>, A::Error> {
                let mut count = 0;
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {
                    count += 1;
                }
                Ok((0..count).map(|i: usize| i.to_string()).collect())
            }
            fn visit_unit<E>(self) -> Result<Vec<String>, E> {
                Ok(Vec::new())
            }
            fn visit_str<E>(self, _: &str) -> Result<Vec<String>, E> {
                Ok(Vec::new())
            }
            fn visit_u64<E>(self, _: u64) -> Result<Vec<String>, E> {
                Ok(Vec::new())
            }
            fn visit_i64<E>(self, _: i64) -> Result<Vec<String>, E> {
                Ok(Vec::new())
            }
            fn visit_f64<E>(self, _: f64) -> Result<Vec<String>, E> {
                Ok(Vec::new())
            }
            fn visit_bool<E>(self, _: bool) -> Result<Vec<String>, E> {
                Ok(Vec::new())
            }
        }
        d.deserialize_map(Top)
    }
}

fn error_json(error: &ApiError) -> Value {
    json!({"error": error.code, "error_description": error.description})
}

/// How PHP's `json_encode` prints an array: `[]` when empty, a list for keys `0..n`, else a map.
fn php_map(map: Map<String, Value>) -> Value {
    let sequential = map
        .keys()
        .enumerate()
        .all(|(i, k)| k.parse::<usize>().ok() == Some(i));
    if sequential {
        Value::Array(map.into_iter().map(|(_, v)| v).collect())
    } else {
        Value::Object(map)
    }
}

/// Replaces references in every string leaf. A string that is exactly one reference takes
/// the referenced value with its type; references inside text are replaced by their text.
fn resolve(value: &Value, done: &Done) -> Value {
    match value {
        Value::String(s) if s.contains('$') => resolve_text(s, done),
        Value::Array(list) => Value::Array(list.iter().map(|v| resolve(v, done)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), resolve(v, done)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn resolve_text(s: &str, done: &Done) -> Value {
    let mut out = String::new();
    let mut rest = s;
    let mut only: Option<Value> = None;
    let mut pieces = 0;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        match parse_reference(tail) {
            Some((len, section, path)) => {
                let value = lookup(done, section, &path).unwrap_or(Value::Null);
                if pos == 0 && len == rest.len() && out.is_empty() && pieces == 0 {
                    only = Some(value.clone());
                }
                out.push_str(&text(&value).unwrap_or_default());
                pieces += 1;
                rest = &tail[len..];
            }
            None => {
                out.push('$');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    match only {
        Some(value) if pieces == 1 => value,
        _ => Value::String(out),
    }
}

/// `$result[key][a][0]…` → (length, section, [key, a, 0]).
fn parse_reference(s: &str) -> Option<(usize, &str, Vec<String>)> {
    let section = ["result", "next", "total", "error"]
        .into_iter()
        .find(|name| s[1..].starts_with(name) && s[1 + name.len()..].starts_with('['))?;
    let mut len = 1 + section.len();
    let mut path = Vec::new();
    while s[len..].starts_with('[') {
        let close = s[len..].find(']')?;
        path.push(s[len + 1..len + close].to_string());
        len += close + 1;
    }
    Some((len, section, path))
}

fn lookup(done: &Done, section: &str, path: &[String]) -> Option<Value> {
    let (key, inner) = path.split_first()?;
    let map = match section {
        "result" => &done.result,
        "next" => &done.next,
        "total" => &done.total,
        _ => &done.error,
    };
    let mut value = map.get(key)?;
    for step in inner {
        value = match value {
            Value::Object(m) => m.get(step)?,
            Value::Array(list) => list.get(step.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(value.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_keep_types_inside_and_stringify_in_text() {
        let mut done = Done::default();
        done.result
            .insert("a".into(), json!({"ID": 5, "ROWS": [{"ID": "7"}]}));
        done.result.insert("b".into(), json!(12));
        assert_eq!(resolve_text("$result[b]", &done), json!(12));
        assert_eq!(resolve_text("$result[a][ROWS][0][ID]", &done), json!("7"));
        assert_eq!(
            resolve_text("id $result[a][ID] and $result[b]!", &done),
            json!("id 5 and 12!")
        );
        assert_eq!(resolve_text("cost $5", &done), json!("cost $5"));
    }

    #[test]
    fn command_order_follows_the_request() {
        let body = br#"{"halt":0,"cmd":{"z":"profile","q10":"scope","a":"scope"}}"#;
        assert_eq!(command_order(Some(body), &[]), ["z", "q10", "a"]);
        assert_eq!(
            command_order(None, &["cmd[b]=x&cmd[a]=y&halt=1"]),
            ["b", "a"]
        );
    }
}

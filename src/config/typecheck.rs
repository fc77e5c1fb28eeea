//! Every key of one layer (the file or the environment) checked on its own against the config
//! types, so one wrong value never hides the others: unknown sections and keys, wrong types
//! and wrong choices each become one problem in plain words, and the key is dropped (its
//! default applies) so the rest still loads and is validated.

use super::expect::{describe, expect, wants_text, Expect};
use super::keys::{likely, suggest, unhoist, KeyTable, SECRET_KEYS};
use super::{Config, Problem};
use figment::error::Kind;
use figment::providers::Serialized;
use figment::value::{Dict, Value};
use figment::Figment;
use std::collections::BTreeMap;

/// Where a layer's values come from: the file, or environment variables (by `section.key`).
pub(crate) enum Origin<'a> {
    /// The configuration file.
    File,
    /// The environment; maps `section.key` to the variable that set it.
    Env(&'a BTreeMap<String, String>),
}

/// Problems of one layer, and the keys a "did you mean" already points at (a problem saying
/// such a key is missing would only follow from the misspelling).
pub(crate) struct Checked {
    /// One problem per unusable key or item.
    pub problems: Vec<Problem>,
    /// `(section.key, cause)`: a key the layer lacks because it is misspelt (or sits in a
    /// misspelt section), with the key of the problem that names the misspelling.
    pub suggested: Vec<(String, String)>,
}

/// Checks every key of `layer`, removes the unusable ones and returns a problem for each.
pub(crate) fn check_layer(layer: &mut Dict, origin: &Origin, keys: &KeyTable) -> Checked {
    let mut out = Vec::new();
    let mut suggested = Vec::new();
    let defaults = match Value::serialize(Config::default()) {
        Ok(Value::Dict(_, d)) => d,
        _ => Dict::new(),
    };
    let sections: Vec<String> = layer.keys().cloned().collect();
    for section in sections {
        let known = keys.sections();
        if !known.contains(&section.as_str()) {
            let value = layer.remove(&section).expect("listed key");
            if let (Value::Dict(_, fields), Some(best)) =
                (&value, suggest(&section, known.iter().copied()))
            {
                let lacks = |k: &&String| !layer_has(layer, best, k);
                suggested.extend(
                    fields
                        .keys()
                        .filter(lacks)
                        .map(|k| (format!("{best}.{k}"), section.clone())),
                );
            }
            out.push(unknown_section(&section, &value, keys));
            continue;
        }
        let Some(Value::Dict(_, fields)) = layer.get_mut(&section) else {
            out.push(Problem::new(
                section.clone(),
                format!(
                    "is a single value, but [{section}] is a section; write [{section}] on a line \
                     of its own and its keys (key = value) on the lines below"
                ),
            ));
            layer.remove(&section);
            continue;
        };
        let names: Vec<String> = fields.keys().cloned().collect();
        for key in names {
            if !keys.keys_of(&section).contains(&key.as_str()) {
                fields.remove(&key);
                out.push(unknown_key(&section, &key, keys));
                if let Some(best) = likely(&key, &keys.keys_of(&section)) {
                    if !fields.contains_key(best) {
                        suggested.push((format!("{section}.{best}"), format!("{section}.{key}")));
                    }
                }
                continue;
            }
            let value = &fields[&key];
            let default = defaults
                .get(&section)
                .and_then(Value::as_dict)
                .and_then(|d| d.get(&key));
            let found = check_value(&section, &key, value, default, origin);
            if !found.is_empty() {
                fields.remove(&key);
                out.extend(found);
            }
        }
    }
    Checked {
        problems: out,
        suggested,
    }
}

/// Problems of one key's value; for a list, one per wrong item.
fn check_value(
    section: &str,
    key: &str,
    value: &Value,
    default: Option<&Value>,
    origin: &Origin,
) -> Vec<Problem> {
    let dotted = format!("{section}.{key}");
    let Err(e) = trial(section, key, value) else {
        return Vec::new();
    };
    if let (Value::Array(_, items), Some(Value::Array(..))) = (value, default) {
        let per_item: Vec<Problem> = items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| {
                let e = trial(section, key, &Value::from(vec![item.clone()])).err()?;
                Some(translate(&e, &dotted, Some(i), item, default, origin))
            })
            .collect();
        if !per_item.is_empty() {
            return per_item;
        }
    }
    vec![translate(&e, &dotted, None, value, default, origin)]
}

/// Extracts a default config with only this one value set.
fn trial(section: &str, key: &str, value: &Value) -> Result<(), Box<figment::Error>> {
    let mut inner = Dict::new();
    inner.insert(key.to_string(), value.clone());
    let mut outer = Dict::new();
    outer.insert(section.to_string(), Value::from(inner));
    unhoist(&mut outer);
    Figment::from(Serialized::defaults(Config::default()))
        .merge(Serialized::defaults(outer))
        .extract::<Config>()
        .map(drop)
        .map_err(Box::new)
}

/// One figment error as a problem in plain words. `item` is the list index when the value is
/// one item of a list.
fn translate(
    e: &figment::Error,
    dotted: &str,
    item: Option<usize>,
    value: &Value,
    default: Option<&Value>,
    origin: &Origin,
) -> Problem {
    let x = expect(dotted, default);
    let secret = SECRET_KEYS
        .iter()
        .any(|(s, k)| dotted == format!("{s}.{k}"));
    let leaf = dotted.rsplit('.').next().unwrap_or(dotted);
    let var = match origin {
        Origin::Env(vars) => vars.get(dotted).map(String::as_str),
        Origin::File => None,
    };
    // Within a list item: the rest of the error path (e.g. `bitrix24` of an operator).
    let inner: Vec<&str> = e.path.iter().skip(3).map(String::as_str).collect();
    let mut key = match item {
        Some(i) => format!("{dotted}[{i}]"),
        None => dotted.to_string(),
    };
    for part in &inner {
        if part.parse::<usize>().is_ok() {
            key.push_str(&format!("[{part}]"));
        } else {
            key.push('.');
            key.push_str(part);
        }
    }
    let message = match &e.kind {
        Kind::UnknownVariant(name, choices) => choice(name, choices, leaf, var),
        Kind::UnknownField(name, expected) => {
            if inner.last() != Some(&name.as_str()) {
                key = format!("{key}.{name}");
            }
            let mut m = "unknown key".to_string();
            if let Some(best) = suggest(name, expected.iter().copied()) {
                m.push_str(&format!("; did you mean `{best}`?"));
            }
            m.push_str(&format!("; this table takes {}", expected.join(" and ")));
            m
        }
        Kind::MissingField(field) => {
            if inner.last() != Some(&field.as_ref()) {
                key = format!("{key}.{field}");
            }
            format!(
                "missing; add {field} = … to this table ({})",
                x.item.unwrap_or(x.words)
            )
        }
        _ if !inner.is_empty() => {
            let found = nested(value, &inner);
            match inner.as_slice() {
                [.., "channels", index] if index.parse::<usize>().is_ok() => format!(
                    "{} is not a Chat2Desk channel id (a whole number); write the ids without \
                     quotes like channels = [17, 18]",
                    describe(&found, false)
                ),
                [.., field] => operator_field(field, &found),
                [] => unreachable!("inner is not empty"),
            }
        }
        _ => {
            let words = match item {
                Some(_) => x.item.unwrap_or(x.words),
                None => x.words,
            };
            wrong_type(value, secret, words, &x, leaf, var, item.is_some())
        }
    };
    Problem::new(key, message)
}

fn choice(name: &str, choices: &[&str], leaf: &str, var: Option<&str>) -> String {
    let quoted: Vec<String> = choices.iter().map(|c| format!("\"{c}\"")).collect();
    let hint = suggest(name, choices.iter().copied())
        .map(|best| format!(" (did you mean \"{best}\"?)"))
        .unwrap_or_default();
    match var {
        Some(var) => format!(
            "{var} is \"{name}\", which is not a choice{hint}; set it to one of {}",
            choices.join(", ")
        ),
        None => format!(
            "\"{name}\" is not a choice{hint}; use one of {}, e.g. {leaf} = {}",
            quoted.join(", "),
            quoted.first().cloned().unwrap_or_default()
        ),
    }
}

fn wrong_type(
    value: &Value,
    secret: bool,
    words: &str,
    x: &Expect,
    leaf: &str,
    var: Option<&str>,
    is_item: bool,
) -> String {
    let found = describe(value, secret);
    let is_text = matches!(value, Value::String(..) | Value::Char(..));
    if let Some(var) = var {
        let example = x.example.trim_matches('"');
        return format!("{var} is {found}, not {words}; set it like {var}={example}");
    }
    let quotes = match (is_text, wants_text(x)) {
        (true, false) => " (without quotes)",
        (false, true) => " (in quotes)",
        _ => "",
    };
    let example = format!("{leaf} = {}", x.example);
    if is_item {
        format!("{found} is not {words}; each item must be one{quotes}, e.g. {example}")
    } else {
        format!("{found} is not {words}; write it{quotes} like {example}")
    }
}

/// The value at `path` inside a list item (for a wrong field of a table).
fn nested(value: &Value, path: &[&str]) -> Value {
    let mut v = value.clone();
    for part in path {
        v = match v {
            Value::Dict(_, d) => d.get(*part).cloned().unwrap_or(Value::from("")),
            Value::Array(_, items) => part
                .parse::<usize>()
                .ok()
                .and_then(|i| items.get(i).cloned())
                .unwrap_or(Value::from("")),
            other => other,
        };
    }
    v
}

/// A wrong field of a `[[crm.operators]]` or `[[openlines.lines]]` table.
fn operator_field(field: &str, found: &Value) -> String {
    let found = describe(found, false);
    match field {
        "chat2desk" => format!(
            "{found} is not a Chat2Desk operator id or e-mail; write chat2desk = 42 (the id, \
             without quotes) or chat2desk = \"anna@example.com\""
        ),
        "bitrix24" => format!(
            "{found} is not a Bitrix24 user id (a whole number); write it without quotes like \
             bitrix24 = 7"
        ),
        "line" => format!(
            "{found} is not an Open Line id (a whole number); write it without quotes like \
             line = 3"
        ),
        "channels" => format!(
            "{found} is not a list of Chat2Desk channel ids; write it like channels = [17, 18]"
        ),
        _ => format!("{found} is not valid here"),
    }
}

fn unknown_section(name: &str, value: &Value, keys: &KeyTable) -> Problem {
    let sections = keys.sections();
    if !matches!(value, Value::Dict(..)) {
        // A key above every header, or a misspelt section written as a value.
        let home: Vec<&str> = sections
            .iter()
            .copied()
            .filter(|s| keys.keys_of(s).contains(&name))
            .collect();
        let message = match home.first() {
            Some(section) => format!(
                "unknown key here: keys go under their section header; move it below [{section}]"
            ),
            None => format!(
                "unknown key; the file holds the sections {}",
                sections.join(", ")
            ),
        };
        return Problem::new(name, message);
    }
    let mut message = "unknown section".to_string();
    if let Some(best) = suggest(name, sections.iter().copied()) {
        message.push_str(&format!("; did you mean [{best}] (`{best}`)?"));
    }
    message.push_str(&format!("; the sections are {}", sections.join(", ")));
    Problem::new(name, message)
}

/// True when `layer` sets `section.key`.
fn layer_has(layer: &Dict, section: &str, key: &str) -> bool {
    matches!(layer.get(section), Some(Value::Dict(_, fields)) if fields.contains_key(key))
}

fn unknown_key(section: &str, key: &str, keys: &KeyTable) -> Problem {
    let here = keys.keys_of(section);
    let sections = keys.sections();
    let subsections: Vec<&str> = sections
        .iter()
        .filter_map(|s| s.strip_prefix(section)?.strip_prefix('.'))
        .collect();
    let mut message = "unknown key".to_string();
    if let Some(best) = likely(key, &here) {
        message.push_str(&format!("; did you mean `{best}`?"));
    } else if let Some(sub) = suggest(key, subsections.iter().copied()) {
        message.push_str(&format!("; did you mean the section [{section}.{sub}]?"));
    } else if let Some(home) = keys
        .sections()
        .into_iter()
        .find(|s| keys.keys_of(s).contains(&key))
    {
        message.push_str(&format!("; it belongs in [{home}]: move it there"));
    }
    message.push_str(&format!("; [{section}] takes {}", here.join(", ")));
    Problem::new(format!("{section}.{key}"), message)
}

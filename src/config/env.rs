//! The environment layer: `CHAT2DESK_B24_<SECTION>__<KEY>` variables as a figment value tree.
//!
//! Values of string keys are taken verbatim (a numeric token or source id stays a string);
//! other values are parsed the way figment's `Env` provider parses them (`5`, `true`, `[1,2]`).
//! Variables that name no key are reported as warnings, so a typo does not go unnoticed.

use super::keys::{suggest, KeyKind, KeyTable};
use super::Problem;
use figment::value::{Dict, Value};
use std::collections::BTreeMap;

/// Prefix of every configuration environment variable.
pub const ENV_PREFIX: &str = "CHAT2DESK_B24_";

/// Environment variables with the prefix that are not configuration keys (read by the CLI).
pub const NON_CONFIG_ENV_VARS: &[&str] = &["CHAT2DESK_B24_CONFIG"];

/// The environment layer and the warnings about variables that name no key.
pub(crate) struct EnvLayer {
    /// Nested `{section: {key: value}}` tree.
    pub dict: Dict,
    /// Unknown or unreadable `CHAT2DESK_B24_*` variables.
    pub warnings: Vec<Problem>,
    /// The variable that set each `section.key`, as it was spelt.
    pub vars: BTreeMap<String, String>,
}

/// Builds the environment layer from `(name, value)` pairs; names without the prefix are ignored.
pub(crate) fn env_layer(env: &[(String, String)], keys: &KeyTable) -> EnvLayer {
    let mut dict = Dict::new();
    let mut warnings = Vec::new();
    let mut vars = BTreeMap::new();
    for (name, raw) in env {
        let Some(rest) = strip_prefix(name) else {
            continue;
        };
        if NON_CONFIG_ENV_VARS
            .iter()
            .any(|n| n.eq_ignore_ascii_case(name))
        {
            continue;
        }
        let rest = rest.to_ascii_lowercase();
        let path: Vec<&str> = rest.split("__").collect();
        let (section, key) = match path.as_slice() {
            [section, key] => (section.to_string(), key.to_string()),
            [outer, inner, key] => (format!("{outer}.{inner}"), key.to_string()),
            _ => (String::new(), String::new()),
        };
        let kind = keys.kind(&section, &key);
        let Some(kind) = kind else {
            warnings.push(unknown_var(name, &rest, keys));
            continue;
        };
        let value = match kind {
            KeyKind::Text => Value::from(raw.clone()),
            // figment 0.10's string-escape parser slices by char index and panics on a
            // backslash after a non-ASCII character; such a value is no number, bool or
            // list anyway, so it stays a string and fails type validation normally.
            KeyKind::Other if !raw.is_ascii() && raw.contains('\\') => Value::from(raw.clone()),
            KeyKind::Other => raw.parse::<Value>().unwrap_or_else(|never| match never {}),
        };
        vars.insert(format!("{section}.{key}"), name.clone());
        let table = dict
            .entry(section)
            .or_insert_with(|| Value::from(Dict::new()));
        if let Value::Dict(_, d) = table {
            d.insert(key, value);
        }
    }
    EnvLayer {
        dict,
        warnings,
        vars,
    }
}

/// A warning for a `CHAT2DESK_B24_*` variable whose value is not UTF-8 (the value is not shown).
pub(crate) fn non_utf8_var(name: &str) -> Option<Problem> {
    strip_prefix(name)?;
    Some(Problem::new(
        name,
        "value is not valid UTF-8; the variable is ignored",
    ))
}

fn strip_prefix(name: &str) -> Option<&str> {
    let head = name.get(..ENV_PREFIX.len())?;
    head.eq_ignore_ascii_case(ENV_PREFIX)
        .then(|| &name[ENV_PREFIX.len()..])
}

fn unknown_var(name: &str, rest: &str, keys: &KeyTable) -> Problem {
    let dotted = rest.replace("__", ".");
    let mut message = format!(
        "unknown configuration variable (no key `{dotted}`); it is ignored. Expected \
         {ENV_PREFIX}<SECTION>__<KEY>, e.g. {ENV_PREFIX}BITRIX24__WEBHOOK_URL"
    );
    let all: Vec<String> = keys.dotted();
    if let Some(best) = suggest(&dotted, all.iter().map(String::as_str)) {
        let var = format!(
            "{ENV_PREFIX}{}",
            best.replace('.', "__").to_ascii_uppercase()
        );
        message.push_str(&format!("; did you mean {var}?"));
    }
    Problem::new(name, message)
}

//! Layered loading: defaults < TOML < environment, `*_file` secrets, then validation.
//!
//! Each layer is read into a figment value tree first, so `token_file` / `webhook_url_file`
//! (and their `CHAT2DESK_B24_*__*_FILE` forms) can be resolved inside their own layer (an
//! environment token still beats a `token_file` in the TOML) while every other unknown key
//! stays an error through `deny_unknown_fields`.

use super::env::{env_layer, non_utf8_var};
use super::keys::{suggest, KeyTable, SECRET_KEYS};
use super::validate::{validate, warnings};
use super::{Config, ConfigError, Problem};
use figment::error::{Actual, Kind};
use figment::providers::Serialized;
use figment::value::{Dict, Value};
use figment::Figment;
use std::path::Path;

/// A usable configuration and the warnings found while loading it.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The validated configuration.
    pub config: Config,
    /// Things worth a log line at startup: plain http:// to a non-loopback host, unknown
    /// `CHAT2DESK_B24_*` variables, values that were normalised.
    pub warnings: Vec<Problem>,
}

/// Loads `path` (which must exist) and the process environment, then validates.
pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        let what = if e.kind() == std::io::ErrorKind::NotFound {
            "configuration file not found".to_string()
        } else {
            format!("cannot read the configuration file ({e})")
        };
        ConfigError::single(
            path.display().to_string(),
            format!(
                "{what}; create it from config.example.toml (shipped with the package and in the \
                 source tree), e.g. `install -m 0640 config.example.toml {}`, then fill in \
                 chat2desk.token and bitrix24.webhook_url",
                path.display()
            ),
        )
    })?;
    let mut env_warnings = Vec::new();
    let env: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let k = k.into_string().ok()?;
            match v.into_string() {
                Ok(v) => Some((k, v)),
                Err(_) => {
                    env_warnings.extend(non_utf8_var(&k));
                    None
                }
            }
        })
        .collect();
    let mut loaded = pipeline(&text, &env, &path.display().to_string())?;
    loaded.warnings.splice(0..0, env_warnings);
    Ok(loaded)
}

/// The same pipeline as [`load`] over TOML text and an explicit environment (the process
/// environment is not read).
pub fn load_from_str(toml: &str, env: &[(String, String)]) -> Result<Loaded, ConfigError> {
    pipeline(toml, env, "configuration")
}

fn pipeline(text: &str, env: &[(String, String)], source: &str) -> Result<Loaded, ConfigError> {
    let keys = KeyTable::new();
    let mut toml_layer = parse_toml(text, source)?;
    let env = env_layer(env, &keys);
    let mut env_dict = env.dict;
    let mut problems = Vec::new();
    resolve_secret_files(&mut toml_layer, "", &mut problems);
    resolve_secret_files(&mut env_dict, " (from the environment)", &mut problems);
    one_database(&[&toml_layer, &env_dict], &mut problems);
    if !problems.is_empty() {
        return Err(ConfigError { problems });
    }
    let mut config: Config = Figment::from(Serialized::defaults(Config::default()))
        .merge(Serialized::defaults(toml_layer))
        .merge(Serialized::defaults(env_dict))
        .extract()
        .map_err(|e| ConfigError {
            problems: e.into_iter().map(translate).collect(),
        })?;
    let mut warned = env.warnings;
    normalize(&mut config, &mut warned);
    let problems = validate(&config);
    if !problems.is_empty() {
        return Err(ConfigError { problems });
    }
    warned.extend(warnings(&config));
    Ok(Loaded {
        config,
        warnings: warned,
    })
}

fn parse_toml(text: &str, source: &str) -> Result<Dict, ConfigError> {
    toml::from_str::<Dict>(text).map_err(|e| {
        // The message only, never the snippet: the offending line may hold a secret.
        let at = e
            .span()
            .map(|span| {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                format!(" at line {line}, column {column}")
            })
            .unwrap_or_default();
        ConfigError::single(
            source,
            format!(
                "not valid TOML{at}: {}; expected `key = value` lines under [section] headers, \
                 see config.example.toml",
                e.message().trim().replace('\n', "; ")
            ),
        )
    })
}

/// Replaces `<secret>_file` in one layer by the trimmed contents of the named file.
fn resolve_secret_files(layer: &mut Dict, origin: &str, problems: &mut Vec<Problem>) {
    for (section, key) in SECRET_KEYS {
        let Some(Value::Dict(_, fields)) = layer.get_mut(*section) else {
            continue;
        };
        let file_key = format!("{key}_file");
        let Some(value) = fields.remove(&file_key) else {
            continue;
        };
        let dotted = format!("{section}.{file_key}");
        let Some(path) = value.as_str().map(str::to_owned) else {
            problems.push(Problem::new(
                dotted,
                format!("wrong type{origin}: expected a file path string"),
            ));
            continue;
        };
        let inline_set = fields
            .get(*key)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.trim().is_empty());
        if inline_set {
            problems.push(Problem::new(
                dotted,
                format!("both {section}.{key} and {file_key} are set{origin}; keep only one"),
            ));
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(secret) => {
                fields.insert(key.to_string(), Value::from(secret.trim().to_string()));
            }
            Err(e) => problems.push(Problem::new(
                dotted,
                format!(
                    "cannot read `{path}`{origin} ({e}); expected a file holding {section}.{key}, \
                     readable by the service user"
                ),
            )),
        }
    }
}

/// `[database] path` and `url` (or `url_file`) are exclusive: SQLite on this host, or a
/// MySQL/MariaDB database shared by several nodes. Both set, in any layer, is an error.
fn one_database(layers: &[&Dict], problems: &mut Vec<Problem>) {
    let set = |key: &str| {
        layers.iter().any(|layer| match layer.get("database") {
            Some(Value::Dict(_, fields)) => fields.contains_key(key),
            _ => false,
        })
    };
    if set("path") && set("url") {
        problems.push(Problem::new(
            "database.url",
            "both database.path and database.url (or url_file) are set; keep exactly one: path \
             for a SQLite file on this host, url for a MySQL/MariaDB database shared by several \
             nodes (copy the SQLite state over with `chat2desk-b24 store migrate --to <url>`)",
        ));
    }
}

/// Tidies values whose intent is clear, with a warning each.
fn normalize(c: &mut Config, warned: &mut Vec<Problem>) {
    let api = c.chat2desk.api_url.trim().trim_end_matches('/');
    if let Some(base) = api.strip_suffix("/v1") {
        warned.push(Problem::new(
            "chat2desk.api_url",
            "ends with /v1, which the client adds itself; it was removed (write the URL without \
             /v1, e.g. https://api.chat2desk.com)",
        ));
        c.chat2desk.api_url = base.to_string();
    } else {
        c.chat2desk.api_url = api.to_string();
    }
    // An empty optional value (typical of `KEY=` in an environment file) means "not set".
    c.chat2desk.web_url = c
        .chat2desk
        .web_url
        .take()
        .map(|web| web.trim().trim_end_matches('/').to_string())
        .filter(|web| !web.is_empty());
    c.bitrix24.ca_file = c
        .bitrix24
        .ca_file
        .take()
        .filter(|path| !path.as_os_str().is_empty());
    // Method names are appended to the webhook URL, so it must end with `/`.
    let hook = c.bitrix24.webhook_url.expose().trim();
    if !hook.is_empty() && !hook.ends_with('/') && !hook.contains(['?', '#']) {
        c.bitrix24.webhook_url = super::Secret::new(format!("{hook}/"));
    } else if hook.len() != c.bitrix24.webhook_url.expose().len() {
        c.bitrix24.webhook_url = super::Secret::new(hook);
    }
}

fn is_secret_key(key: &str) -> bool {
    SECRET_KEYS
        .iter()
        .any(|(section, name)| key == format!("{section}.{name}"))
}

/// A figment error as a problem naming the key (never showing a secret's value).
fn translate(e: figment::Error) -> Problem {
    let mut key = render_path(&e.path);
    // A value that landed on a whole section may be a misplaced secret: show its kind only.
    let secret = is_secret_key(&key) || e.path.len() < 2;
    let found = |actual: &Actual| {
        if secret {
            kind_of(actual).to_string()
        } else {
            actual.to_string()
        }
    };
    let message = match &e.kind {
        Kind::UnknownField(name, expected) => {
            let mut m = "unknown key".to_string();
            if let Some(best) = suggest(name, expected.iter().copied()) {
                m.push_str(&format!("; did you mean `{best}`?"));
            }
            m.push_str(&format!("; expected one of: {}", expected.join(", ")));
            m
        }
        Kind::InvalidType(actual, expected) => {
            format!("wrong type: expected {expected}, found {}", found(actual))
        }
        Kind::InvalidValue(actual, expected) => {
            format!("invalid value {}: expected {expected}", found(actual))
        }
        Kind::InvalidLength(len, expected) => format!("{len} items: expected {expected}"),
        Kind::UnknownVariant(name, expected) => format!(
            "`{name}` is not a valid choice; expected one of: {}",
            expected.join(", ")
        ),
        Kind::MissingField(field) => {
            key = join_key(&key, field);
            "missing; this key is required here".to_string()
        }
        Kind::DuplicateField(field) => {
            key = join_key(&key, field);
            "set twice; keep one".to_string()
        }
        Kind::Message(m) if m.contains("untagged enum OperatorRef") => {
            "wrong type: expected a Chat2Desk operator id (number) or e-mail (string)".to_string()
        }
        _ if secret => "invalid value: expected a string".to_string(),
        other => other.to_string(),
    };
    Problem::new(
        if key.is_empty() {
            "configuration".into()
        } else {
            key
        },
        message,
    )
}

fn join_key(base: &str, field: &str) -> String {
    if base.is_empty() {
        field.to_string()
    } else {
        format!("{base}.{field}")
    }
}

/// `["crm", "operators", "0", "bitrix24"]` → `crm.operators[0].bitrix24`.
fn render_path(path: &[String]) -> String {
    let mut out = String::new();
    for part in path {
        if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{part}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(part);
        }
    }
    out
}

fn kind_of(actual: &Actual) -> &'static str {
    match actual {
        Actual::Bool(_) => "a boolean",
        Actual::Unsigned(_) | Actual::Signed(_) => "an integer",
        Actual::Float(_) => "a float",
        Actual::Char(_) | Actual::Str(_) => "a string",
        Actual::Seq => "an array",
        Actual::Map => "a table",
        _ => "another type",
    }
}

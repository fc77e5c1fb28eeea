//! Layered loading: defaults < TOML < environment, `*_file` secrets, then validation.
//!
//! Each layer is read into a figment value tree first, so `token_file` / `webhook_url_file`
//! (and their `CHAT2DESK_B24_*__*_FILE` forms) can be resolved inside their own layer (an
//! environment token still beats a `token_file` in the TOML). Loading never stops at the first
//! problem: syntax errors, unknown keys, wrong types and choices (per key, per layer) and the
//! semantic checks are all collected, each naming its key (and the variable, for a value from
//! the environment).

use super::env::{env_layer, non_utf8_var};
use super::expect::describe;
use super::keys::{hoist, unhoist, KeyTable, SECRET_KEYS};
use super::syntax;
use super::typecheck::{check_layer, Origin};
use super::validate::{validate, warnings};
use super::{Config, ConfigError, Problem};
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
    let parsed = syntax::parse(text, source);
    let mut problems = parsed.problems;
    let mut toml_layer = parsed.dict;
    let env = env_layer(env, &keys);
    let mut env_dict = env.dict;
    let env_origin = Origin::Env(&env.vars);
    hoist(&mut toml_layer);
    hoist(&mut env_dict);
    resolve_secret_files(&mut toml_layer, &Origin::File, &mut problems);
    resolve_secret_files(&mut env_dict, &env_origin, &mut problems);
    one_database(&[&toml_layer, &env_dict], &mut problems);
    // Keys already named by a problem, with the key of that problem: a semantic problem
    // about them would repeat it (dropped) or follow from it (a skip), unless the
    // environment sets them anew.
    let mut reported: Vec<(String, String)> = parsed.skipped.into_iter().map(own).collect();
    let file = check_layer(&mut toml_layer, &Origin::File, &keys);
    let environment = check_layer(&mut env_dict, &env_origin, &keys);
    reported.extend(file.suggested);
    reported.extend(problems.iter().flat_map(|p| named(&p.key)));
    reported.extend(file.problems.iter().flat_map(|p| named(&p.key)));
    reported.retain(|(k, _)| !env.vars.contains_key(base_key(k)));
    reported.extend(environment.suggested);
    reported.extend(environment.problems.iter().flat_map(|p| named(&p.key)));
    problems.extend(file.problems);
    problems.extend(environment.problems);
    unhoist(&mut toml_layer);
    unhoist(&mut env_dict);
    let extracted = Figment::from(Serialized::defaults(Config::default()))
        .merge(Serialized::defaults(toml_layer))
        .merge(Serialized::defaults(env_dict))
        .extract::<Config>();
    let mut config = match extracted {
        Ok(config) => config,
        Err(e) => {
            // Every key passed on its own; a combination that still fails is reported plainly.
            problems.extend(e.into_iter().map(|e| {
                Problem::new(
                    e.path.join("."),
                    "this value cannot be used together with the others; compare it with \
                     config.example.toml",
                )
            }));
            return Err(ConfigError::new(problems, Vec::new()));
        }
    };
    let mut warned = env.warnings;
    normalize(&mut config, &mut warned);
    let mut skipped = Vec::new();
    for mut p in validate(&config) {
        let base = base_key(&p.key);
        let cause = reported
            .iter()
            .find(|(r, _)| base == base_key(r) || base.starts_with(&format!("{r}.")))
            .map(|(_, cause)| cause);
        if let Some(cause) = cause {
            if base_key(cause) != base {
                skipped.push(Problem::new(p.key, format!("follows from {cause} above")));
            }
            continue;
        }
        if let Some(var) = env.vars.get(base) {
            p.message.push_str(&format!(
                " [the value comes from the environment variable {var}]"
            ));
        }
        problems.push(p);
    }
    if !problems.is_empty() {
        return Err(ConfigError::new(problems, skipped));
    }
    warned.extend(warnings(&config));
    Ok(Loaded {
        config,
        warnings: warned,
    })
}

/// A key reported by its own problem.
fn own(key: String) -> (String, String) {
    (key.clone(), key)
}

/// The keys a problem with `key` names: itself, and for `<secret>_file` the secret it was
/// to hold (a missing `token_file` leaves `token` unset).
fn named(key: &str) -> Vec<(String, String)> {
    let mut out = vec![own(key.to_string())];
    if let Some(secret) = key.strip_suffix("_file") {
        out.push((secret.to_string(), key.to_string()));
    }
    out
}

/// `crm.operators[0].bitrix24` → `crm.operators`.
fn base_key(key: &str) -> &str {
    key.split('[').next().unwrap_or(key)
}

/// Replaces `<secret>_file` in one layer by the trimmed contents of the named file.
fn resolve_secret_files(layer: &mut Dict, origin: &Origin, problems: &mut Vec<Problem>) {
    for (section, key) in SECRET_KEYS {
        let Some(Value::Dict(_, fields)) = layer.get_mut(*section) else {
            continue;
        };
        let file_key = format!("{key}_file");
        let Some(value) = fields.remove(&file_key) else {
            continue;
        };
        let dotted = format!("{section}.{file_key}");
        let named = match origin {
            Origin::Env(vars) => vars
                .get(&dotted)
                .map(|v| format!(" (set by the environment variable {v})"))
                .unwrap_or_default(),
            Origin::File => String::new(),
        };
        let Some(path) = value.as_str().map(str::to_owned) else {
            problems.push(Problem::new(
                dotted,
                format!(
                    "{}{named} is not a file path in quotes; write it like {file_key} = \
                     \"/etc/chat2desk-b24/{key}\"",
                    describe(&value, false)
                ),
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
                format!("both {section}.{key} and {file_key} are set{named}; keep only one"),
            ));
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(secret) if secret.trim().is_empty() => problems.push(Problem::new(
                dotted,
                format!("`{path}`{named} is empty; put {section}.{key} in it (one line)"),
            )),
            Ok(secret) => {
                fields.insert(key.to_string(), Value::from(secret.trim().to_string()));
            }
            Err(e) => problems.push(Problem::new(
                dotted,
                format!(
                    "cannot read `{path}`{named} ({}); expected a file holding {section}.{key}, \
                     readable by the service user",
                    io_words(&e)
                ),
            )),
        }
    }
}

/// An I/O error in words, without the OS error code.
fn io_words(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file",
        std::io::ErrorKind::PermissionDenied => "permission denied",
        std::io::ErrorKind::IsADirectory => "it is a directory",
        _ => "it cannot be read",
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

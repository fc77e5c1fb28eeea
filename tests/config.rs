//! Configuration loading as a sysadmin and the independent test suite use it: layering,
//! `*_file` secrets, errors naming keys, warnings, and secrets never shown.

#[path = "config/errors.rs"]
mod errors;
#[path = "config/layering.rs"]
mod layering;
#[path = "config/secrets.rs"]
mod secrets;
#[path = "config/sections.rs"]
mod sections;
#[path = "config/warnings.rs"]
mod warnings;

use chat2desk_b24::config::{load_from_str, ConfigError, Loaded};
use std::io::Write;

pub(crate) const TOKEN: &str = "tok-SECRET-4711";
pub(crate) const HOOK_SECRET: &str = "hooksecret0042xyz";

pub(crate) fn hook() -> String {
    format!("https://portal.example/rest/1/{HOOK_SECRET}/")
}

pub(crate) fn minimal() -> String {
    format!(
        "[chat2desk]\ntoken = \"{TOKEN}\"\n[bitrix24]\nwebhook_url = \"{}\"\n[crm]\n\
         default_responsibles = [1]\n",
        hook()
    )
}

pub(crate) fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub(crate) fn ok(toml: &str, vars: &[(&str, &str)]) -> Loaded {
    match load_from_str(toml, &env(vars)) {
        Ok(loaded) => loaded,
        Err(e) => panic!("expected a usable config, got:\n{e}"),
    }
}

pub(crate) fn err(toml: &str, vars: &[(&str, &str)]) -> ConfigError {
    match load_from_str(toml, &env(vars)) {
        Ok(loaded) => panic!("expected an error, got {:?}", loaded.config),
        Err(e) => e,
    }
}

pub(crate) fn keys(e: &ConfigError) -> Vec<&str> {
    e.problems.iter().map(|p| p.key.as_str()).collect()
}

pub(crate) fn secret_file(content: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(content.as_bytes()).unwrap();
    f
}

//! `check` as a sysadmin meets it: a table of misconfigurations (wrong types, wrong choices,
//! out of range, unknown keys, values from the environment, TOML syntax errors, hosts that
//! cannot be reached in each way, a run as root), each giving exactly one line naming the key
//! and the fix, and the exit code; every problem of a file in one run.

#[path = "check/hosts.rs"]
mod hosts;
#[path = "check/misconfig.rs"]
mod misconfig;
#[path = "check/setup.rs"]
mod setup;

use std::path::Path;
use std::process::Command;

#[path = "check/cases.rs"]
mod cases;

pub(crate) const TOKEN: &str = "tok-SECRET-4711";
pub(crate) const HOOK: &str = "https://portal.example/rest/1/hooksecret0042/";

/// A valid offline config; `{x}` marks where a case adds lines to section x.
pub(crate) fn base(db: &Path) -> String {
    format!(
        "{{top}}\n[chat2desk]\ntoken = \"{TOKEN}\"\n{{chat2desk}}\n[bitrix24]\nwebhook_url = \"{HOOK}\"\n\
         {{bitrix24}}\n[crm]\ndefault_responsibles = [1]\n{{crm}}\n[sync]\n{{sync}}\n[database]\n\
         path = \"{}\"\n{{database}}\n[log]\n{{log}}\n[server]\nlisten = \"127.0.0.1:0\"\n{{server}}\n",
        db.display()
    )
}

/// Fills the section marks with the case's lines (the rest empty).
pub(crate) fn fill(template: &str, adds: &[(&str, &str)]) -> String {
    let mut text = template.to_string();
    for section in [
        "top",
        "chat2desk",
        "bitrix24",
        "crm",
        "sync",
        "database",
        "log",
        "server",
    ] {
        let lines: Vec<&str> = adds
            .iter()
            .filter(|(s, _)| *s == section)
            .map(|(_, l)| *l)
            .collect();
        text = text.replace(&format!("{{{section}}}"), &lines.join("\n"));
    }
    text
}

/// Runs the binary; returns (exit code, stdout + stderr).
pub(crate) fn run(config: &Path, env: &[(&str, &str)], args: &[&str]) -> (i32, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chat2desk-b24"));
    cmd.arg("-c").arg(config).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("binary runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// Words of serde, figment or the TOML parser that must never reach a sysadmin.
pub(crate) const PARSER_WORDS: &[&str] = &[
    "expected usize",
    "expected u32",
    "expected u64",
    "expected i64",
    "invalid type",
    "invalid value",
    "signed int",
    "invalid basic string",
    "invalid table header",
    "untagged enum",
    "\n^",
];

/// Asserts the run printed exactly `expected` as the only line naming its key, and `code`.
pub(crate) fn assert_case(name: &str, code: i32, out: &str, expected: &str, want_code: i32) {
    let key = expected
        .split_once(' ')
        .and_then(|(_, rest)| rest.split_once(": "))
        .map(|(k, _)| k)
        .unwrap_or("");
    let naming: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("FAIL") && l.contains(&format!(" {key}: ")))
        .collect();
    assert_eq!(naming, [expected], "{name}: one line naming {key}:\n{out}");
    let fails = out.lines().filter(|l| l.starts_with("FAIL")).count();
    assert_eq!(fails, 1, "{name}: one mistake, one FAIL line:\n{out}");
    assert_eq!(code, want_code, "{name}: exit code\n{out}");
    for w in PARSER_WORDS {
        assert!(
            !out.contains(w),
            "{name}: parser words {w:?} reached the user:\n{out}"
        );
    }
    assert!(
        !out.contains(TOKEN) && !out.contains("hooksecret0042"),
        "{name}: secret shown:\n{out}"
    );
}

type Case = (
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static [(&'static str, &'static str)],
    &'static str,
);

/// A mistake replacing `from` with `to` in the base file, its FAIL line, and the keys it
/// leaves unchecked (`skip` lines naming the cause).
type Cascade = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
);

//! TOML syntax errors in the sysadmin's words: the line, the key on it and the likely cause
//! (a missing quote or bracket), never the value itself, which may be a secret.
//!
//! Every broken line is reported, not just the first: the broken line is blanked (or a
//! section header missing its `]` repaired) and the rest is parsed again, so the keys on the
//! good lines are still checked.

use super::Problem;
use figment::value::Dict;

/// Parse rounds before giving up on a hopelessly broken file.
const MAX_ROUNDS: usize = 25;

/// The parsed file, the syntax problems and the keys whose lines were dropped.
pub(crate) struct Parsed {
    /// The value tree of the lines that parse.
    pub dict: Dict,
    /// One problem per broken line.
    pub problems: Vec<Problem>,
    /// `section.key` (or `section`) of every dropped line: the key is already reported, so a
    /// "missing" problem about it would only repeat it.
    pub skipped: Vec<String>,
}

/// What is wrong with one line and what to do with it to parse the rest.
struct Diagnosis {
    line: usize,
    key: Option<String>,
    cause: String,
    fix: String,
    /// Lines to blank before parsing again.
    blank: Vec<usize>,
    /// A replacement for `line` (a repaired section header).
    repair: Option<String>,
}

/// Parses `text`, collecting one problem per broken line. `source` names the file for
/// problems on lines without a key.
pub(crate) fn parse(text: &str, source: &str) -> Parsed {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut problems = Vec::new();
    let mut skipped = Vec::new();
    for _ in 0..MAX_ROUNDS {
        let joined = lines.join("\n");
        let e = match toml::from_str::<Dict>(&joined) {
            Ok(dict) => {
                return Parsed {
                    dict,
                    problems,
                    skipped,
                }
            }
            Err(e) => e,
        };
        let offset = e.span().map_or(0, |s| s.start).min(joined.len());
        let at = joined[..offset].matches('\n').count();
        let d = diagnose(&lines, at, e.message());
        let section = section_at(&lines, d.line);
        let key = match (&d.key, section.is_empty()) {
            (Some(k), true) => k.clone(),
            (Some(k), false) if !lines[d.line].trim_start().starts_with('[') => {
                format!("{section}.{k}")
            }
            (Some(k), false) => k.clone(),
            (None, false) => section.clone(),
            (None, true) => source.to_string(),
        };
        problems.push(Problem::new(
            key.clone(),
            format!(
                "line {} is not valid TOML: {}; {}",
                d.line + 1,
                d.cause,
                d.fix
            ),
        ));
        skipped.push(key);
        let progress = d.repair.is_some() || d.blank.iter().any(|&i| !lines[i].trim().is_empty());
        for i in d.blank {
            lines[i].clear();
        }
        if let Some(fixed) = d.repair {
            lines[d.line] = fixed;
        }
        if !progress {
            break;
        }
    }
    Parsed {
        dict: Dict::new(),
        problems,
        skipped,
    }
}

fn diagnose(lines: &[String], at: usize, message: &str) -> Diagnosis {
    let at = at.min(lines.len().saturating_sub(1));
    let text = lines.get(at).map(String::as_str).unwrap_or("");
    let key = key_of(text);
    let leaf = key.clone().unwrap_or_else(|| "key".into());
    let first = message.lines().next().unwrap_or("").trim();
    let simple = |cause: &str, fix: String| Diagnosis {
        line: at,
        key: key.clone(),
        cause: cause.to_string(),
        fix,
        blank: vec![at],
        repair: None,
    };
    match first {
        "invalid basic string" | "invalid literal string" if closed_quote(text) => simple(
            "the text holds a backslash that starts no valid escape",
            format!("write each backslash as \\\\, or use single quotes: {leaf} = 'C:\\path'"),
        ),
        "invalid basic string" | "invalid literal string" => simple(
            "the text value has no closing quote",
            format!("end it with the quote it starts with: {leaf} = \"…\""),
        ),
        m if m.starts_with("invalid multiline") => simple(
            "the multi-line text has no closing triple quote",
            "end it with \"\"\" (or ''')".to_string(),
        ),
        "invalid table header" if message.contains("duplicate key") => {
            let name = header_name(text);
            // `sync = 5` above every header, then [sync]: the value line is the mistake.
            let top = lines
                .iter()
                .take_while(|l| !l.trim_start().starts_with('['))
                .position(|l| key_of(l).as_deref() == Some(name.as_str()));
            if let Some(value_line) = top {
                return Diagnosis {
                    line: value_line,
                    key: Some(name.clone()),
                    cause: format!("`{name} = …` is a single value, but [{name}] is a section"),
                    fix: format!("remove this line; keys go on the lines below [{name}]"),
                    blank: vec![value_line],
                    repair: None,
                };
            }
            let end = (at + 1..lines.len())
                .find(|&i| lines[i].trim_start().starts_with('['))
                .unwrap_or(lines.len());
            Diagnosis {
                line: at,
                key: Some(name.clone()),
                cause: format!("the section [{name}] is written a second time"),
                fix: format!("merge the two [{name}] sections into one"),
                blank: (at..end).collect(),
                repair: None,
            }
        }
        "invalid table header" => {
            let name = header_name(text);
            let double = text.trim_start().starts_with("[[");
            Diagnosis {
                line: at,
                key: Some(name.clone()),
                cause: "the section header has no closing bracket `]`".into(),
                fix: if double {
                    format!("write it as [[{name}]]")
                } else {
                    format!("write it as [{name}]")
                },
                blank: Vec::new(),
                repair: Some(if double {
                    format!("[[{name}]]")
                } else {
                    format!("[{name}]")
                }),
            }
        }
        "invalid array" | "invalid inline table" => {
            let (open, close, what) = if first == "invalid array" {
                ('[', ']', "list")
            } else {
                ('{', '}', "inline table")
            };
            let start = (0..=at)
                .rev()
                .find(|&i| key_of(&lines[i]).is_some() && value_of(&lines[i]).contains(open))
                .unwrap_or(at);
            let key = key_of(&lines[start]);
            let leaf = key.clone().unwrap_or_else(|| "key".into());
            let example = if open == '[' {
                "[1, 7]"
            } else {
                "{ chat2desk = 42, bitrix24 = 7 }"
            };
            let end = if start == at { at + 1 } else { at };
            Diagnosis {
                line: start,
                key,
                cause: format!("the {what} has no closing `{close}` (or a comma is missing)"),
                fix: format!("close it on the same line, e.g. {leaf} = {example}"),
                blank: (start..end).collect(),
                repair: None,
            }
        }
        "invalid string" => simple(
            "the value is neither a number, true/false nor text in quotes",
            format!("put text in quotes: {leaf} = \"…\""),
        ),
        m if m.starts_with("duplicate key") => simple(
            "the key is set a second time in this section",
            "keep one of the two lines".into(),
        ),
        m if m.starts_with("expected `.`, `=`") => simple(
            "the line is not `key = value`",
            "write key = value, or start a comment with #".into(),
        ),
        m if m.starts_with("expected newline") => simple(
            "there is more text after the value",
            format!("one key = value per line; text with spaces goes in quotes: {leaf} = \"…\""),
        ),
        _ => simple(
            "the line cannot be read",
            "compare it with config.example.toml (key = value under [section] headers)".into(),
        ),
    }
}

/// The key of a `key = value` line (bare or quoted), never the value.
fn key_of(line: &str) -> Option<String> {
    let t = line.trim_start();
    if t.starts_with('#') || t.starts_with('[') {
        return None;
    }
    let (key, _) = t.split_once('=')?;
    let key = key.trim().trim_matches(|c| c == '"' || c == '\'');
    (!key.is_empty() && !key.contains(char::is_whitespace)).then(|| key.to_string())
}

fn value_of(line: &str) -> &str {
    line.split_once('=').map_or("", |(_, v)| v)
}

/// Whether the value of a line has both its quotes (so the fault is inside the text).
fn closed_quote(line: &str) -> bool {
    let v = value_of(line).trim();
    v.len() >= 2 && (v.matches('"').count() >= 2 || v.matches('\'').count() >= 2)
}

/// `[name` / `[[name]` / `[ name ] junk` → `name`.
fn header_name(line: &str) -> String {
    line.trim()
        .trim_start_matches('[')
        .split(|c: char| c == ']' || c == '#' || c.is_whitespace())
        .find(|s| !s.is_empty())
        .unwrap_or("")
        .to_string()
}

/// The section a line belongs to: the nearest header above it.
fn section_at(lines: &[String], line: usize) -> String {
    if lines
        .get(line)
        .is_some_and(|l| l.trim_start().starts_with('['))
    {
        return String::new();
    }
    (0..line.min(lines.len()))
        .rev()
        .map(|i| lines[i].trim_start())
        .find(|l| l.starts_with('['))
        .map(header_name)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        parse(text, "config.toml")
            .problems
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn names_line_key_and_cause_without_the_value() {
        let p = problems("[chat2desk]\ntoken = \"s3cr3t\n[sync]\nworkers = 2\n");
        assert_eq!(
            p,
            [
                "chat2desk.token: line 2 is not valid TOML: the text value has no closing quote; \
              end it with the quote it starts with: token = \"…\""
            ]
        );
    }

    #[test]
    fn every_broken_line_is_reported_and_the_rest_parses() {
        let parsed = parse(
            "[sync\nworkers = 2\n[crm]\ndefault_responsibles = [1, 2\ntimezone = Europe/Moscow\nsource = \"WEB\"\n",
            "config.toml",
        );
        let keys: Vec<_> = parsed.problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["sync", "crm.default_responsibles", "crm.timezone"]);
        let crm = parsed.dict["crm"].as_dict().unwrap();
        assert_eq!(crm["source"].as_str(), Some("WEB"));
        assert!(parsed.dict["sync"]
            .as_dict()
            .unwrap()
            .contains_key("workers"));
    }
}

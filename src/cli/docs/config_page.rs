//! `chat2desk-b24.toml(5)`: every configuration key with its default and meaning, generated
//! from the commented `config.example.toml` (the configuration docs the package ships) and
//! checked against the key table of the configuration types, so that neither can leave a key
//! out without `gen-man` (and the unit test) failing.

use crate::config::{KeyTable, ENV_PREFIX, SECRET_KEYS};
use roff::{bold, italic, roman, Roff};

/// The annotated example configuration, as shipped in /usr/share/doc/chat2desk-b24/.
const EXAMPLE: &str = include_str!("../../../config.example.toml");

/// One documented key.
#[derive(Debug)]
struct Entry {
    section: String,
    key: String,
    /// The example's value (the default when `set`).
    value: String,
    /// The key is set in the example (its value is the default), not commented out.
    set: bool,
    /// The comment lines above it.
    about: Vec<String>,
}

/// A section's header comment and its keys, in file order.
#[derive(Debug, Default)]
struct Section {
    name: String,
    about: Vec<String>,
    entries: Vec<Entry>,
}

/// Reads the sections and keys of the example: a key is `key = value` or `# key = value`
/// after its comment lines; `[section]` and `# [section]` open a section; `[[s.key]]` (set or
/// commented) documents the array key `key` of `s`, the lines under it being its example.
fn parse(text: &str) -> Vec<Section> {
    let mut sections: Vec<Section> = Vec::new();
    let mut pending: Vec<String> = Vec::new();
    let mut in_array = false;
    for raw in text.lines() {
        let line = raw.trim();
        let (commented, body) = match line.strip_prefix('#') {
            Some(rest) => (true, rest.trim()),
            None => (false, line),
        };
        if line.is_empty() {
            pending.clear();
            in_array = false;
        } else if let Some(name) = table_header(body, "[[", "]]") {
            let (section, key) = name.rsplit_once('.').unwrap_or(("", name));
            if let Some(s) = sections.iter_mut().rev().find(|s| s.name == section) {
                s.entries.push(Entry {
                    section: section.to_string(),
                    key: key.to_string(),
                    value: format!("[[{name}]]"),
                    set: false,
                    about: std::mem::take(&mut pending),
                });
            }
            in_array = true;
        } else if let Some(name) = table_header(body, "[", "]") {
            sections.push(Section {
                name: name.to_string(),
                about: std::mem::take(&mut pending),
                entries: Vec::new(),
            });
            in_array = false;
        } else if let Some((key, value)) = key_line(body) {
            let Some(s) = sections.last_mut() else {
                continue;
            };
            match s.entries.last_mut() {
                Some(array) if in_array => array.value.push_str(&format!("\n{key} = {value}")),
                _ => s.entries.push(Entry {
                    section: s.name.clone(),
                    key: key.to_string(),
                    value: value.to_string(),
                    set: !commented,
                    about: std::mem::take(&mut pending),
                }),
            }
        } else if commented && !body.is_empty() {
            pending.push(body.to_string());
        }
    }
    sections
}

/// `name` of a `[name]` (or `[[name]]`) line.
fn table_header<'a>(body: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let name = body.strip_prefix(open)?.strip_suffix(close)?;
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.');
    valid.then_some(name)
}

/// `(key, value)` of a `key = value` line (a lowercase key).
fn key_line(body: &str) -> Option<(&str, &str)> {
    let (key, value) = body.split_once('=')?;
    let key = key.trim();
    let valid = key.starts_with(|c: char| c.is_ascii_lowercase())
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    valid.then(|| (key, value.trim()))
}

/// The environment variable that sets `section.key`.
fn env_var(section: &str, key: &str) -> String {
    format!(
        "{ENV_PREFIX}{}__{}",
        section.replace('.', "__").to_ascii_uppercase(),
        key.to_ascii_uppercase()
    )
}

/// The keys of the key table that the example does not document, and the example's keys
/// that the table does not know; both empty when the page is complete.
fn drift(sections: &[Section]) -> (Vec<String>, Vec<String>) {
    let documented: Vec<String> = sections
        .iter()
        .flat_map(|s| s.entries.iter().map(|e| format!("{}.{}", e.section, e.key)))
        .collect();
    let table = KeyTable::new().dotted();
    let generated = |k: &String| {
        SECRET_KEYS
            .iter()
            .any(|(s, key)| *k == format!("{s}.{key}_file"))
    };
    let missing = table
        .iter()
        .filter(|k| !documented.contains(k) && !generated(k))
        .cloned()
        .collect();
    let unknown = documented
        .iter()
        .filter(|k| !table.contains(k))
        .cloned()
        .collect();
    (missing, unknown)
}

/// Renders the page, or names the keys the example and the key table disagree on.
pub fn render(version: &str) -> anyhow::Result<String> {
    let sections = parse(EXAMPLE);
    let (missing, unknown) = drift(&sections);
    if !missing.is_empty() || !unknown.is_empty() {
        anyhow::bail!(
            "config.example.toml and the configuration types disagree: undocumented keys {missing:?}, \
             unknown keys {unknown:?}; document each key above it in config.example.toml"
        );
    }
    let mut page = Roff::new();
    page.control(
        "TH",
        [
            "CHAT2DESK-B24.TOML",
            "5",
            "",
            &format!("chat2desk-b24 {version}"),
            "File Formats",
        ],
    );
    page.control("SH", ["NAME"]);
    page.text([roman(
        "chat2desk-b24.toml - configuration file of the chat2desk-b24 daemon",
    )]);
    page.control("SH", ["SYNOPSIS"]);
    page.text([bold("/etc/chat2desk-b24/config.toml")]);
    page.control("SH", ["DESCRIPTION"]);
    page.text([roman(
        "The daemon and every command read this TOML file (another one with -c FILE). \
         Each key below shows its default; keys shown as an example are unset by default. \
         Unknown keys and sections are an error: chat2desk-b24 check names each with the \
         likely intended one. After an edit, chat2desk-b24 check, then systemctl reload \
         chat2desk-b24.",
    )]);
    page.control("PP", []);
    page.text([roman(format!(
        "Every key can also be set from the environment as {ENV_PREFIX}<SECTION>__<KEY> \
         (a table in a section: <SECTION>__<TABLE>__<KEY>); the environment beats the file, \
         which beats the defaults. A secret key also has a <key>_file form: the path of a \
         file whose content (trimmed) is the value, so that the secret stays out of this file."
    ))]);
    page.control("PP", []);
    page.text([roman(
        "The annotated file is installed as /usr/share/doc/chat2desk-b24/config.example.toml; \
         the package's /etc/chat2desk-b24/config.toml starts as a copy of it.",
    )]);
    for s in &sections {
        page.control(
            "SH",
            [format!("[{}]", s.name).to_ascii_uppercase().as_str()],
        );
        if !s.about.is_empty() {
            page.text([roman(s.about.join(" "))]);
        }
        for e in &s.entries {
            entry(&mut page, e);
            let secret = SECRET_KEYS
                .iter()
                .find(|(sec, key)| *sec == s.name && *key == e.key);
            if let Some((_, secret)) = secret {
                let file_key = format!("{secret}_file");
                if !s.entries.iter().any(|o| o.key == file_key) {
                    page.control("TP", []);
                    page.text([bold(file_key.as_str())]);
                    page.text([roman(format!(
                        "{} Environment: {}.",
                        file_about(secret),
                        env_var(&s.name, &file_key)
                    ))]);
                }
            }
        }
    }
    page.control("SH", ["FILES"]);
    page.control("TP", []);
    page.text([bold("/etc/chat2desk-b24/config.toml")]);
    page.text([roman(
        "The configuration (root:chat2desk-b24, mode 640; a conffile: upgrades keep your edits).",
    )]);
    page.control("TP", []);
    page.text([bold("/usr/share/doc/chat2desk-b24/config.example.toml")]);
    page.text([roman("The annotated default configuration.")]);
    page.control("SH", ["SEE ALSO"]);
    page.text([
        bold("chat2desk-b24"),
        roman("(1), "),
        bold("chat2desk-b24-check"),
        roman("(1), "),
        bold("chat2desk-b24-setup"),
        roman("(1), /usr/share/doc/chat2desk-b24/README.md"),
    ]);
    Ok(page.render())
}

/// What the `*_file` form of the secret key `secret` does.
fn file_about(secret: &str) -> String {
    format!("The path of a file holding {secret} (content trimmed), instead of {secret} itself.")
}

/// One key: its name and value, then what it does and its environment variable.
fn entry(page: &mut Roff, e: &Entry) {
    page.control("TP", []);
    let mut head = vec![bold(e.key.as_str())];
    if e.value.starts_with("[[") {
        head.push(roman(" (a list of tables)"));
    } else {
        head.push(roman(" = "));
        head.push(italic(e.value.as_str()));
        if !e.set {
            head.push(roman(" (example; unset by default)"));
        }
    }
    page.text(head);
    let mut about = e.about.join(" ");
    let secret = e.key.strip_suffix("_file").filter(|secret| {
        SECRET_KEYS
            .iter()
            .any(|(sec, key)| *sec == e.section && key == secret)
    });
    if let (true, Some(secret)) = (about.is_empty(), secret) {
        about = file_about(secret);
    }
    if e.value.starts_with("[[") {
        about.push_str(&format!(" Example: {}", e.value.replace('\n', "; ")));
    }
    if !about.is_empty() {
        about.push(' ');
    }
    about.push_str(&format!("Environment: {}.", env_var(&e.section, &e.key)));
    page.text([roman(about)]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_documents_every_key_of_the_table_and_no_other() {
        let (missing, unknown) = drift(&parse(EXAMPLE));
        assert!(missing.is_empty(), "undocumented keys: {missing:?}");
        assert!(
            unknown.is_empty(),
            "keys the config does not accept: {unknown:?}"
        );
    }

    #[test]
    fn reads_set_commented_and_array_keys_with_their_comments() {
        let sections = parse(
            "# head\n\n[a]\n# About x.\nx = 1\n# About y,\n# two lines.\n# y = \"e\"\n\
             # The list.\n# [[a.items]]\n# id = 3\n\n# The sub table.\n# [a.sub]\n# z = 2\n",
        );
        let names: Vec<&str> = sections.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["a", "a.sub"]);
        let a = &sections[0].entries;
        assert_eq!(
            (a[0].key.as_str(), a[0].value.as_str(), a[0].set),
            ("x", "1", true)
        );
        assert_eq!(a[0].about, ["About x."]);
        assert_eq!((a[1].key.as_str(), a[1].set), ("y", false));
        assert_eq!(a[1].about, ["About y,", "two lines."]);
        assert_eq!(a[2].key, "items");
        assert_eq!(a[2].value, "[[a.items]]\nid = 3");
        assert_eq!(sections[1].about, ["The sub table."]);
        assert_eq!(sections[1].entries[0].key, "z");
    }

    #[test]
    fn the_page_names_every_key_and_its_variable() {
        let page = render("0.0.0").unwrap();
        for dotted in KeyTable::new().dotted() {
            let (section, key) = dotted.rsplit_once('.').unwrap();
            assert!(page.contains(&format!("\\fB{key}\\fR")), "{dotted} missing");
            let var = env_var(section, key);
            assert!(page.contains(&var), "{var} missing");
        }
    }
}

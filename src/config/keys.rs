//! The table of known keys, derived from the config types, and "did you mean" suggestions.

use super::Config;
use figment::value::Value;
use std::path::PathBuf;

/// Secret keys and the `*_FILE` keys that may hold their path instead.
pub(crate) const SECRET_KEYS: &[(&str, &str)] = &[
    ("chat2desk", "token"),
    ("bitrix24", "webhook_url"),
    ("server", "webhook_secret"),
    ("database", "url"),
    ("bizproc", "secret"),
    ("bitrix24.app", "client_secret"),
];

/// Tables nested in a section (`[bitrix24.app]`): each is checked as a section of its own,
/// named `outer.inner`, and put back in place before the configuration is extracted.
pub(crate) const SUBSECTIONS: &[(&str, &str)] = &[("bitrix24", "app"), ("crm", "filter")];

/// Moves each nested table of `layer` to a top-level `outer.inner` entry.
pub(crate) fn hoist(layer: &mut figment::value::Dict) {
    for (outer, inner) in SUBSECTIONS {
        let Some(Value::Dict(_, fields)) = layer.get_mut(*outer) else {
            continue;
        };
        if matches!(fields.get(*inner), Some(Value::Dict(..))) {
            let table = fields.remove(*inner).expect("checked above");
            layer.insert(format!("{outer}.{inner}"), table);
        }
    }
}

/// Puts the tables [`hoist`] moved back where they belong.
pub(crate) fn unhoist(layer: &mut figment::value::Dict) {
    for (outer, inner) in SUBSECTIONS {
        let Some(table) = layer.remove(&format!("{outer}.{inner}")) else {
            continue;
        };
        let section = layer
            .entry(outer.to_string())
            .or_insert_with(|| Value::from(figment::value::Dict::new()));
        if let Value::Dict(_, fields) = section {
            fields.insert(inner.to_string(), table);
        }
    }
}

/// How an environment value for a key is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    /// A string key: the value is taken verbatim.
    Text,
    /// Anything else: parsed as a figment value (number, bool, array, ...).
    Other,
}

/// Every `section.key` the configuration accepts.
pub(crate) struct KeyTable {
    keys: Vec<(String, String, KeyKind)>,
}

impl KeyTable {
    /// Builds the table from the serialized shape of [`Config`] (optional keys included).
    pub(crate) fn new() -> Self {
        let mut template = Config::default();
        template.chat2desk.web_url = Some(String::new());
        template.bitrix24.ca_file = Some(PathBuf::new());
        template.server.metrics_listen = Some(String::new());
        template.database.url = Some(super::Secret::new("mysql://u@h/d"));
        template.bitrix24.app = Some(super::AppConfig::default());
        template.server.public_url = Some(String::new());
        template.card = Some(super::CardConfig::default());
        template.escalation = Some(super::EscalationConfig::default());
        let mut keys = Vec::new();
        if let Ok(Value::Dict(_, mut sections)) = Value::serialize(&template) {
            hoist(&mut sections);
            for (section, value) in sections {
                let Value::Dict(_, fields) = value else {
                    continue;
                };
                if section == "database" {
                    // The dump shows one of `path` and `url`; both are keys.
                    keys.push((section.clone(), "path".to_string(), KeyKind::Text));
                }
                for (key, value) in fields {
                    let kind = match value {
                        Value::String(..) => KeyKind::Text,
                        _ => KeyKind::Other,
                    };
                    keys.push((section.clone(), key, kind));
                }
            }
        }
        for (section, key) in SECRET_KEYS {
            keys.push((section.to_string(), format!("{key}_file"), KeyKind::Text));
        }
        Self { keys }
    }

    /// The kind of `section.key`, or `None` when there is no such key.
    pub(crate) fn kind(&self, section: &str, key: &str) -> Option<KeyKind> {
        self.keys
            .iter()
            .find(|(s, k, _)| s == section && k == key)
            .map(|(_, _, kind)| *kind)
    }

    /// The section names, in file order.
    pub(crate) fn sections(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for (s, _, _) in &self.keys {
            if !out.contains(&s.as_str()) {
                out.push(s);
            }
        }
        out
    }

    /// The keys of one section.
    pub(crate) fn keys_of(&self, section: &str) -> Vec<&str> {
        self.keys
            .iter()
            .filter(|(s, _, _)| s == section)
            .map(|(_, k, _)| k.as_str())
            .collect()
    }

    /// All keys as `section.key`.
    pub(crate) fn dotted(&self) -> Vec<String> {
        self.keys
            .iter()
            .map(|(s, k, _)| format!("{s}.{k}"))
            .collect()
    }
}

/// The candidate closest to `wrong` when it is close enough to be a likely typo.
pub(crate) fn suggest<'a>(
    wrong: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (distance(wrong, c), c))
        .filter(|(d, c)| *d <= (c.len().max(wrong.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Words people use for a key under another name (`listen_addr`, `db_file`): each maps to
/// the word of our key names it stands for.
const SYNONYMS: &[(&str, &str)] = &[
    ("addr", "listen"),
    ("address", "listen"),
    ("bind", "listen"),
    ("file", "path"),
    ("filename", "path"),
    ("db", "path"),
    ("key", "token"),
    ("hook", "webhook"),
];

/// The key `wrong` most likely meant: a close spelling, else the one key that contains it or
/// is contained in it, or shares the most of its words (`api_token` → `token`, `listen_addr`
/// → `listen`, `file` → `path`); among equals, the key with the fewest other words (`bind` →
/// `listen`, not `metrics_listen`). `None` when no candidate stands out.
pub(crate) fn likely<'a>(wrong: &str, candidates: &[&'a str]) -> Option<&'a str> {
    if let Some(best) = suggest(wrong, candidates.iter().copied()) {
        return Some(best);
    }
    let words: Vec<&str> = wrong
        .split(['_', '-', '.'])
        .filter(|w| !w.is_empty())
        .map(|w| {
            SYNONYMS
                .iter()
                .find(|(from, _)| *from == w)
                .map_or(w, |(_, to)| to)
        })
        .collect();
    // (how much it matches, minus how many words of its own it adds)
    let score = |c: &str| -> (usize, isize) {
        // A `*_file` key is only meant when the wrong name speaks of a file too.
        if c.ends_with("_file") && !wrong.contains("file") {
            return (0, 0);
        }
        let theirs: Vec<&str> = c.split('_').collect();
        let shared = theirs.iter().filter(|w| words.contains(w)).count();
        let contains = wrong.contains(c) || (wrong.len() >= 3 && c.contains(wrong));
        let extra = theirs.len() - shared;
        (2 * shared + usize::from(contains), -(extra as isize))
    };
    let best = candidates.iter().map(|c| score(c)).max()?;
    let mut top = candidates.iter().filter(|c| score(c) == best);
    match (best.0, top.next(), top.next()) {
        (1.., Some(one), None) => Some(one),
        _ => None,
    }
}

/// Levenshtein distance over chars.
fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    // Rows i-2, i-1 and i of the edit-distance table; two swapped neighbours (`paht`) are
    // one edit.
    let mut before: Vec<usize> = Vec::new();
    let mut last: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut row = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            row[j] = (last[j] + 1).min(row[j - 1] + 1).min(last[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                row[j] = row[j].min(before[j - 2] + 1);
            }
        }
        before = std::mem::replace(&mut last, row);
    }
    last[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_a_close_key_only() {
        let keys = ["default_responsibles", "deal_category", "timezone"];
        assert_eq!(
            suggest("default_responsible", keys),
            Some("default_responsibles")
        );
        assert_eq!(suggest("timezon", keys), Some("timezone"));
        assert_eq!(suggest("colour", keys), None);
    }

    #[test]
    fn points_at_the_likely_key_by_containment_and_words() {
        let t = KeyTable::new();
        let of = |s| t.keys_of(s);
        assert_eq!(likely("api_token", &of("chat2desk")), Some("token"));
        assert_eq!(likely("listen_addr", &of("server")), Some("listen"));
        assert_eq!(likely("file", &of("database")), Some("path"));
        assert_eq!(likely("webhook", &of("bitrix24")), Some("webhook_url"));
        assert_eq!(likely("bind", &of("server")), Some("listen"));
        assert_eq!(likely("api_key", &of("chat2desk")), Some("token"));
        assert_eq!(likely("secret", &of("server")), Some("webhook_secret"));
        assert_eq!(likely("url", &of("chat2desk")), None, "api_url or web_url");
        assert_eq!(likely("colour", &of("crm")), None);
    }

    #[test]
    fn table_knows_optional_and_file_keys() {
        let t = KeyTable::new();
        assert_eq!(t.kind("chat2desk", "web_url"), Some(KeyKind::Text));
        assert_eq!(t.kind("bitrix24", "ca_file"), Some(KeyKind::Text));
        assert_eq!(t.kind("bitrix24", "burst"), Some(KeyKind::Other));
        assert_eq!(t.kind("chat2desk", "token_file"), Some(KeyKind::Text));
        assert_eq!(t.kind("crm", "operators"), Some(KeyKind::Other));
        assert_eq!(t.kind("crm", "nope"), None);
    }
}

//! The rules of `[crm]` (which requests reach the CRM, which fields they fill, who gets a new
//! entity) and `[escalation]`: their types and offline checks. `check` matches the names
//! against the live services.

use super::{Config, Problem};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A Chat2Desk tag, by its id or its label (as `GET /tags` lists them).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum TagRef {
    /// The tag id.
    Id(i64),
    /// The tag label, e.g. `"Спам"`.
    Label(String),
}

impl TagRef {
    /// True when a tag with this id and label is the one named.
    pub fn matches(&self, id: i64, label: &str) -> bool {
        match self {
            TagRef::Id(want) => *want == id,
            TagRef::Label(want) => want.trim().to_lowercase() == label.trim().to_lowercase(),
        }
    }
}

impl std::fmt::Display for TagRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TagRef::Id(id) => write!(f, "{id}"),
            TagRef::Label(label) => write!(f, "\"{label}\""),
        }
    }
}

/// `[crm.filter]`: which closed requests are synced; empty lists = all.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CrmFilter {
    /// Only requests of these Chat2Desk channels.
    pub channels: Vec<i64>,
    /// Only requests whose request or client carries one of these tags.
    pub only_tags: Vec<TagRef>,
    /// Not a request whose request or client carries one of these tags.
    pub skip_tags: Vec<TagRef>,
}

/// One `[[crm.fields]]` entry: a Chat2Desk value copied into a CRM field.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FieldRule {
    /// Where the value comes from: `client.<field>`, `client.custom_fields.<name>`,
    /// `request.tags`, `channel.name` or `dialog.operator`.
    pub from: String,
    /// The CRM field of the entity type, e.g. `UF_CRM_CITY`.
    pub to: String,
    /// Also written on later requests of a known entity (default: on create only).
    #[serde(default)]
    pub update: bool,
}

/// One `[[crm.tag_rules]]` entry: a tag on the request or the client sets entity fields.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TagRule {
    /// The tag (id or label).
    pub tag: TagRef,
    /// CRM field → value, e.g. `{ SOURCE_ID = "PARTNER", OPENED = "Y" }`.
    pub set: BTreeMap<String, String>,
}

/// How the responsible of a new entity is picked among `default_responsibles`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum ResponsiblePick {
    /// A random one (the seed app's way).
    #[default]
    Random,
    /// Each in turn, the turn kept in the state database and shared by all nodes.
    RoundRobin,
    /// The one with the fewest open leads or deals of the integration's type.
    LeastOpen,
}

/// Who gets an escalation notice.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Notify {
    /// Portal user ids.
    Users(Vec<i64>),
    /// `"responsible"`: the responsible of the client's entity.
    Word(String),
}

/// `[escalation]`: a notice when a client's message waits for an answer too long.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EscalationConfig {
    /// Minutes of working time a client's message may wait for an operator's answer (a
    /// fraction is allowed, e.g. `0.05` = 3 s, which tests use).
    pub after_minutes: f64,
    /// `"responsible"` or a list of portal user ids.
    pub notify: Notify,
    /// When the clock runs, in `[crm] timezone`, e.g. `"Mon-Fri 09:00-18:00"`; `""` = always.
    pub working_hours: String,
}

impl Default for EscalationConfig {
    fn default() -> Self {
        Self {
            after_minutes: 5.0,
            notify: Notify::Word(RESPONSIBLE.into()),
            working_hours: String::new(),
        }
    }
}

const RESPONSIBLE: &str = "responsible";

/// Client fields a `client.<field>` source may name (`chat2desk-api.md` §2 "Clients").
pub const CLIENT_FIELDS: &[&str] = &[
    "id",
    "name",
    "assigned_name",
    "phone",
    "client_phone",
    "email",
    "comment",
    "region_id",
    "country_id",
    "external_id",
    "extra_comment_1",
    "extra_comment_2",
    "extra_comment_3",
];

/// The sources of `[[crm.fields]] from` other than the client's own fields.
const OTHER_SOURCES: &[&str] = &["request.tags", "channel.name", "dialog.operator"];

/// Every problem of the rules' keys.
pub(crate) fn validate(c: &Config, out: &mut Vec<Problem>) {
    filter(&c.crm.filter, out);
    let mut targets: Vec<&str> = Vec::new();
    for (i, rule) in c.crm.fields.iter().enumerate() {
        let key = format!("crm.fields[{i}]");
        if !source_known(&rule.from) {
            out.push(Problem::new(
                format!("{key}.from"),
                format!(
                    "\"{}\" is not a source; use client.<field> ({}), \
                     client.custom_fields.<name>, request.tags, channel.name or dialog.operator",
                    rule.from,
                    CLIENT_FIELDS.join(", ")
                ),
            ));
        }
        crm_field(&format!("{key}.to"), &rule.to, out);
        if targets.contains(&rule.to.trim()) {
            out.push(Problem::new(
                format!("{key}.to"),
                format!(
                    "{} is filled by an earlier [[crm.fields]] entry too; keep one source per \
                     field",
                    rule.to.trim()
                ),
            ));
        }
        targets.push(rule.to.trim());
    }
    for (i, rule) in c.crm.tag_rules.iter().enumerate() {
        let key = format!("crm.tag_rules[{i}]");
        tag(&format!("{key}.tag"), &rule.tag, out);
        if rule.set.is_empty() {
            out.push(Problem::new(
                format!("{key}.set"),
                "empty; name the fields the tag sets, e.g. set = { SOURCE_ID = \"PARTNER\" }",
            ));
        }
        for field in rule.set.keys() {
            crm_field(&format!("{key}.set.{field}"), field, out);
        }
    }
    if let Some(e) = &c.escalation {
        escalation(e, out);
    }
}

/// Warnings about the rules: settings that work only with something else in place.
pub(crate) fn warnings(c: &Config) -> Vec<Problem> {
    let mut out = Vec::new();
    if c.escalation.is_some() && c.sync.poll_strategy != super::PollStrategy::Messages {
        out.push(Problem::new(
            "escalation",
            "sees clients' and operators' messages only through the inbox/outbox webhook \
             with this sync.poll_strategy; run `chat2desk-b24 webhook set <url>` (or use \
             poll_strategy = \"messages\")",
        ));
    }
    out
}

fn filter(f: &CrmFilter, out: &mut Vec<Problem>) {
    for (i, &channel) in f.channels.iter().enumerate() {
        if channel <= 0 {
            out.push(Problem::new(
                format!("crm.filter.channels[{i}]"),
                format!("{channel} is not a Chat2Desk channel id; expected e.g. channels = [17]"),
            ));
        }
    }
    for (name, tags) in [("only_tags", &f.only_tags), ("skip_tags", &f.skip_tags)] {
        for (i, t) in tags.iter().enumerate() {
            tag(&format!("crm.filter.{name}[{i}]"), t, out);
        }
    }
    for (i, t) in f.skip_tags.iter().enumerate() {
        if f.only_tags.contains(t) {
            out.push(Problem::new(
                format!("crm.filter.skip_tags[{i}]"),
                format!(
                    "tag {t} is in only_tags too, so no request could pass; remove it from one"
                ),
            ));
        }
    }
}

fn tag(key: &str, t: &TagRef, out: &mut Vec<Problem>) {
    match t {
        TagRef::Label(label) if label.trim().is_empty() => out.push(Problem::new(
            key,
            "empty; write the tag's label as Chat2Desk shows it, e.g. \"VIP\", or its id",
        )),
        TagRef::Id(id) if *id <= 0 => out.push(Problem::new(
            key,
            format!("{id} is not a tag id; write a label such as \"VIP\" or an id from GET /tags"),
        )),
        _ => {}
    }
}

fn crm_field(key: &str, field: &str, out: &mut Vec<Problem>) {
    let field = field.trim();
    let shaped = !field.is_empty()
        && field
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if !shaped {
        out.push(Problem::new(
            key,
            format!(
                "\"{field}\" is not a CRM field name; use the portal's name in capitals, e.g. \
                 UF_CRM_CITY or SOURCE_ID (crm.lead.fields lists them)"
            ),
        ));
    }
}

/// True for a `[[crm.fields]] from` this version can read.
pub fn source_known(from: &str) -> bool {
    let from = from.trim();
    if OTHER_SOURCES.contains(&from) {
        return true;
    }
    match from.strip_prefix("client.") {
        Some(rest) => match rest.strip_prefix("custom_fields.") {
            Some(name) => !name.trim().is_empty(),
            None => CLIENT_FIELDS.contains(&rest),
        },
        None => false,
    }
}

fn escalation(e: &EscalationConfig, out: &mut Vec<Problem>) {
    if !(e.after_minutes > 0.0 && e.after_minutes <= 10_080.0) {
        out.push(Problem::new(
            "escalation.after_minutes",
            format!(
                "{} is out of range; expected more than 0 and at most 10080 minutes, e.g. \
                 after_minutes = 5",
                e.after_minutes
            ),
        ));
    }
    match &e.notify {
        Notify::Word(word) if word != RESPONSIBLE => out.push(Problem::new(
            "escalation.notify",
            format!(
                "\"{word}\" is neither \"responsible\" nor a list of portal user ids; write \
                 notify = \"responsible\" or notify = [1, 7]"
            ),
        )),
        Notify::Users(ids) if ids.is_empty() => out.push(Problem::new(
            "escalation.notify",
            "an empty list; name portal user ids, e.g. notify = [1, 7], or \"responsible\"",
        )),
        Notify::Users(ids) => {
            for (i, id) in ids.iter().enumerate().filter(|(_, id)| **id <= 0) {
                out.push(Problem::new(
                    format!("escalation.notify[{i}]"),
                    format!("{id} is not a portal user id; expected e.g. 7"),
                ));
            }
        }
        Notify::Word(_) => {}
    }
    if let Err(why) = super::hours::check(&e.working_hours) {
        out.push(Problem::new(
            "escalation.working_hours",
            format!(
                "\"{}\" {why}; write days and hours like \"Mon-Fri 09:00-18:00\", or \"\" for \
                 around the clock",
                e.working_hours
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_known_by_shape() {
        assert!(source_known("client.custom_fields.city"));
        assert!(source_known("client.extra_comment_2"));
        assert!(source_known("request.tags"));
        assert!(!source_known("client.custom_fields."));
        assert!(!source_known("client.shoe_size"));
        assert!(!source_known("dialog.state"));
    }

    #[test]
    fn tags_match_by_id_or_label_ignoring_case() {
        assert!(TagRef::Id(5).matches(5, "x"));
        assert!(TagRef::Label("спам".into()).matches(9, "Спам"));
        assert!(!TagRef::Label("VIP".into()).matches(9, "Спам"));
    }
}

//! `[[crm.fields]]` and `[[crm.tag_rules]]`: the CRM fields a new entity gets from what the
//! job read anyway (the client object, the tags, the operator), added to the entity's own
//! `add` in the write round, so they cost no portal request of their own.
//!
//! Rules with `update = true` also fill the entity of a later request, in the `update` its
//! transcript's round carries ([`updated_fields`]); a value the portal refuses is logged and
//! the transcript is written anyway.
//!
//! Values go as text (a list as its items joined by `, `); a source with no value sets
//! nothing. Tag rules come after the fields, so a tag's value wins.

use crate::chat2desk::{Client, Operator, Tag};
use crate::config::{FieldRule, TagRule};
use serde_json::{Map, Value};

/// What the sources of the rules read.
#[derive(Debug, Clone, Copy)]
pub struct Sources<'a> {
    /// The client, as Chat2Desk sent it.
    pub client: &'a Client,
    /// The request's tags (when read) and the client's.
    pub tags: &'a [Tag],
    /// The request's operator, when Chat2Desk still knows them.
    pub operator: Option<&'a Operator>,
    /// The request's channel.
    pub channel: Option<i64>,
}

/// The fields `update = true` rules give an entity that exists (a later request's), written
/// in the same round as its transcript.
pub fn updated_fields(fields: &[FieldRule], s: &Sources<'_>) -> Map<String, Value> {
    let updating: Vec<FieldRule> = fields.iter().filter(|r| r.update).cloned().collect();
    new_entity_fields(&updating, &[], s)
}

/// The fields the rules give a new entity.
pub fn new_entity_fields(
    fields: &[FieldRule],
    tag_rules: &[TagRule],
    s: &Sources<'_>,
) -> Map<String, Value> {
    let mut out = Map::new();
    for rule in fields {
        if let Some(value) = source(rule.from.trim(), s) {
            out.insert(rule.to.trim().to_string(), Value::String(value));
        }
    }
    for rule in tag_rules {
        if s.tags.iter().any(|t| rule.tag.matches(t.id, &t.label)) {
            for (field, value) in &rule.set {
                out.insert(field.trim().to_string(), Value::String(value.clone()));
            }
        }
    }
    out
}

/// The text of one source, `None` when it has no value.
fn source(from: &str, s: &Sources<'_>) -> Option<String> {
    let value = match from {
        "request.tags" => {
            let labels: Vec<&str> = s.tags.iter().map(|t| t.label.as_str()).collect();
            return (!labels.is_empty()).then(|| labels.join(", "));
        }
        "dialog.operator" => {
            return s
                .operator
                .map(Operator::full_name)
                .filter(|n| !n.is_empty());
        }
        "channel.name" => {
            let channel = s.channel?;
            let named = s.client.channels.iter().find(|c| c.id == channel);
            return named.and_then(|c| c.name.clone());
        }
        _ => match from.strip_prefix("client.custom_fields.") {
            Some(name) => s.client.raw.get("custom_fields")?.get(name)?,
            None => s.client.raw.get(from.strip_prefix("client.")?)?,
        },
    };
    text(value)
}

fn text(v: &Value) -> Option<String> {
    let out = match v {
        Value::Null => return None,
        Value::String(s) => s.trim().to_string(),
        Value::Array(items) => items.iter().filter_map(text).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    };
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TagRef;
    use serde_json::json;

    #[test]
    fn the_client_keeps_only_what_the_sources_read() {
        let client = Client::from_json(&json!({
            "id": 5, "name": "Анна", "extra_comment_2": "опт", "custom_fields": {"city": "Казань"},
            "avatar": "https://example.com/a.png", "last_message": {"text": "много текста"},
        }))
        .unwrap();
        let kept: Vec<&str> = client
            .raw
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        assert_eq!(kept, ["custom_fields", "extra_comment_2", "id", "name"]);
    }

    #[test]
    fn fields_read_the_client_and_tag_rules_win() {
        let client = Client::from_json(&json!({
            "id": 5, "name": "Анна", "extra_comment_1": "опт",
            "custom_fields": {"city": "Казань", "sizes": ["S", "M"], "empty": null},
        }))
        .unwrap();
        let tags = [Tag {
            id: 3,
            label: "VIP".into(),
        }];
        let rule = |from: &str, to: &str| FieldRule {
            from: from.into(),
            to: to.into(),
            update: false,
        };
        let fields = [
            rule("client.custom_fields.city", "UF_CRM_CITY"),
            rule("client.custom_fields.sizes", "UF_CRM_SIZES"),
            rule("client.custom_fields.empty", "UF_CRM_EMPTY"),
            rule("client.extra_comment_1", "COMMENTS"),
            rule("request.tags", "UF_CRM_TAGS"),
            rule("dialog.operator", "UF_CRM_OPERATOR"),
        ];
        let tag_rules = [TagRule {
            tag: TagRef::Label("vip".into()),
            set: [("COMMENTS".to_string(), "VIP".to_string())].into(),
        }];
        let s = Sources {
            client: &client,
            tags: &tags,
            operator: None,
            channel: None,
        };
        let out = new_entity_fields(&fields, &tag_rules, &s);
        assert_eq!(
            Value::Object(out),
            json!({"UF_CRM_CITY": "Казань", "UF_CRM_SIZES": "S, M", "COMMENTS": "VIP",
                   "UF_CRM_TAGS": "VIP"})
        );
    }
}

//! Typed portal records, tolerant of the portal's mixed JSON (doc §1.3): ids as numbers or
//! numeric strings, flags as `"Y"`/`"N"` or booleans, `null` for empty fields.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use std::fmt;

/// One page of a list method: the rows, `total` (when counted) and `next` (the `start` of the
/// following page, absent on the last one).
#[derive(Debug, Clone, PartialEq)]
pub struct ListPage<T> {
    /// Rows of this page.
    pub items: Vec<T>,
    /// Total rows matching, when the portal counted them.
    pub total: Option<u64>,
    /// `start` of the next page, if there is one.
    pub next: Option<u64>,
}

/// A CRM entity type that can own timeline comments. Serialised as its timeline name
/// (`lead`, `contact`, `deal`, `company`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntityType {
    /// Lead.
    Lead,
    /// Contact.
    Contact,
    /// Deal.
    Deal,
    /// Company.
    Company,
}

impl EntityType {
    /// The `ENTITY_TYPE` of `crm.timeline.comment.*`: `lead`, `contact`, `deal`, `company`.
    pub fn timeline_name(self) -> &'static str {
        match self {
            EntityType::Lead => "lead",
            EntityType::Contact => "contact",
            EntityType::Deal => "deal",
            EntityType::Company => "company",
        }
    }

    /// The CRM name used by `crm.duplicate.findbycomm` and friends: `LEAD`, `CONTACT`, ….
    pub fn crm_name(self) -> &'static str {
        match self {
            EntityType::Lead => "LEAD",
            EntityType::Contact => "CONTACT",
            EntityType::Deal => "DEAL",
            EntityType::Company => "COMPANY",
        }
    }
}

impl fmt::Display for EntityType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.timeline_name())
    }
}

/// A lead as `crm.lead.list` returns it (selected fields only).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Lead {
    /// `ID`.
    #[serde(rename = "ID", deserialize_with = "id")]
    pub id: i64,
    /// `TITLE`.
    #[serde(rename = "TITLE", default, deserialize_with = "opt_text")]
    pub title: Option<String>,
    /// `STATUS_ID`.
    #[serde(rename = "STATUS_ID", default, deserialize_with = "opt_text")]
    pub status_id: Option<String>,
    /// `STATUS_SEMANTIC_ID`: `P`, `S` or `F`.
    #[serde(rename = "STATUS_SEMANTIC_ID", default, deserialize_with = "opt_text")]
    pub status_semantic_id: Option<String>,
    /// `ASSIGNED_BY_ID`.
    #[serde(rename = "ASSIGNED_BY_ID", default, deserialize_with = "opt_id")]
    pub assigned_by_id: Option<i64>,
}

impl Lead {
    /// Leads have no `CLOSED` column: a lead is closed when its semantic is success or failure.
    pub fn is_closed(&self) -> bool {
        matches!(self.status_semantic_id.as_deref(), Some("S") | Some("F"))
    }
}

/// A contact as `crm.contact.list` returns it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Contact {
    /// `ID`.
    #[serde(rename = "ID", deserialize_with = "id")]
    pub id: i64,
    /// `NAME`.
    #[serde(rename = "NAME", default, deserialize_with = "opt_text")]
    pub name: Option<String>,
    /// `LAST_NAME`.
    #[serde(rename = "LAST_NAME", default, deserialize_with = "opt_text")]
    pub last_name: Option<String>,
    /// `ASSIGNED_BY_ID`.
    #[serde(rename = "ASSIGNED_BY_ID", default, deserialize_with = "opt_id")]
    pub assigned_by_id: Option<i64>,
}

/// A deal as `crm.deal.list` returns it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Deal {
    /// `ID`.
    #[serde(rename = "ID", deserialize_with = "id")]
    pub id: i64,
    /// `TITLE`.
    #[serde(rename = "TITLE", default, deserialize_with = "opt_text")]
    pub title: Option<String>,
    /// `STAGE_ID`.
    #[serde(rename = "STAGE_ID", default, deserialize_with = "opt_text")]
    pub stage_id: Option<String>,
    /// `CLOSED` (`Y`/`N`).
    #[serde(rename = "CLOSED", default, deserialize_with = "flag")]
    pub closed: bool,
    /// `CATEGORY_ID` (pipeline).
    #[serde(rename = "CATEGORY_ID", default, deserialize_with = "opt_id")]
    pub category_id: Option<i64>,
    /// `ASSIGNED_BY_ID`.
    #[serde(rename = "ASSIGNED_BY_ID", default, deserialize_with = "opt_id")]
    pub assigned_by_id: Option<i64>,
    /// `CONTACT_ID`.
    #[serde(rename = "CONTACT_ID", default, deserialize_with = "opt_id")]
    pub contact_id: Option<i64>,
}

/// A timeline comment as `crm.timeline.comment.list` returns it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Comment {
    /// `ID`.
    #[serde(rename = "ID", deserialize_with = "id")]
    pub id: i64,
    /// `ENTITY_ID`.
    #[serde(rename = "ENTITY_ID", default, deserialize_with = "id_or_zero")]
    pub entity_id: i64,
    /// `ENTITY_TYPE` (`lead`, `deal`, …).
    #[serde(rename = "ENTITY_TYPE", default, deserialize_with = "text")]
    pub entity_type: String,
    /// `COMMENT` (BB-code).
    #[serde(rename = "COMMENT", default, deserialize_with = "text")]
    pub comment: String,
    /// `CREATED` (ISO-8601 with offset).
    #[serde(rename = "CREATED", default, deserialize_with = "opt_text")]
    pub created: Option<String>,
}

/// A portal user as `user.get` returns it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct User {
    /// `ID`.
    #[serde(rename = "ID", deserialize_with = "id")]
    pub id: i64,
    /// `ACTIVE`.
    #[serde(rename = "ACTIVE", default, deserialize_with = "flag")]
    pub active: bool,
    /// `NAME`.
    #[serde(rename = "NAME", default, deserialize_with = "opt_text")]
    pub name: Option<String>,
    /// `LAST_NAME`.
    #[serde(rename = "LAST_NAME", default, deserialize_with = "opt_text")]
    pub last_name: Option<String>,
    /// `EMAIL` (hidden with the `user_brief` scope).
    #[serde(rename = "EMAIL", default, deserialize_with = "opt_text")]
    pub email: Option<String>,
}

/// The webhook's own user, from `profile`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Profile {
    /// `ID`.
    #[serde(rename = "ID", deserialize_with = "id")]
    pub id: i64,
    /// `ADMIN`.
    #[serde(rename = "ADMIN", default, deserialize_with = "flag")]
    pub admin: bool,
    /// `NAME`.
    #[serde(rename = "NAME", default, deserialize_with = "opt_text")]
    pub name: Option<String>,
    /// `LAST_NAME`.
    #[serde(rename = "LAST_NAME", default, deserialize_with = "opt_text")]
    pub last_name: Option<String>,
}

/// One row of a `crm.status.list` directory.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusItem {
    /// `STATUS_ID` (`NEW`, `C1:WON`, `CALL`, …).
    pub status_id: String,
    /// `NAME`.
    pub name: String,
    /// `S`, `F` or `P` from `SEMANTICS`/`EXTRA.SEMANTICS`, when the directory has semantics.
    pub semantics: Option<String>,
}

impl<'de> Deserialize<'de> for StatusItem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            #[serde(rename = "STATUS_ID", deserialize_with = "text")]
            status_id: String,
            #[serde(rename = "NAME", default, deserialize_with = "text")]
            name: String,
            #[serde(rename = "SEMANTICS", default, deserialize_with = "opt_text")]
            semantics: Option<String>,
            #[serde(rename = "EXTRA", default)]
            extra: Value,
        }
        let raw = Raw::deserialize(d)?;
        // `SEMANTICS` is null for in-progress rows; `EXTRA.SEMANTICS` spells all three out.
        let from_extra = match raw.extra.get("SEMANTICS").and_then(Value::as_str) {
            Some("success") => Some("S"),
            Some("failure") => Some("F"),
            Some("process") => Some("P"),
            _ => None,
        };
        let semantics = raw
            .semantics
            .filter(|s| !s.is_empty())
            .or(from_extra.map(str::to_string));
        Ok(StatusItem {
            status_id: raw.status_id,
            name: raw.name,
            semantics,
        })
    }
}

/// An id from a number or a numeric string.
pub(crate) fn id_from_value(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn id<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let value = Value::deserialize(d)?;
    id_from_value(&value)
        .ok_or_else(|| serde::de::Error::custom(format!("expected an id, got {value}")))
}

fn id_or_zero<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    Ok(opt_id(d)?.unwrap_or(0))
}

fn opt_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let value = Value::deserialize(d)?;
    match &value {
        Value::Null => Ok(None),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        other => id_from_value(other)
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format!("expected an id, got {value}"))),
    }
}

fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(flag_from_value(&Value::deserialize(d)?))
}

/// A flag from `"Y"`/`"N"`, a boolean, `1`/`0` or `"true"`.
pub(crate) fn flag_from_value(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => matches!(s.trim(), "Y" | "y" | "1" | "true" | "TRUE"),
        _ => false,
    }
}

fn opt_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Null => None,
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    })
}

fn text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(opt_text(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn mixed_types_decode() {
        let lead: Lead = serde_json::from_value(json!({
            "ID": "5", "TITLE": null, "STATUS_ID": "JUNK", "STATUS_SEMANTIC_ID": "F", "ASSIGNED_BY_ID": 3
        }))
        .unwrap();
        assert_eq!(lead.id, 5);
        assert_eq!(lead.assigned_by_id, Some(3));
        assert!(lead.is_closed());
        let deal: Deal = serde_json::from_value(json!({
            "ID": 7, "CLOSED": "Y", "CATEGORY_ID": "0", "CONTACT_ID": ""
        }))
        .unwrap();
        assert!(deal.closed);
        assert_eq!(deal.category_id, Some(0));
        assert_eq!(deal.contact_id, None);
        let user: User =
            serde_json::from_value(json!({"ID": "1", "ACTIVE": true, "EMAIL": "a@b.c"})).unwrap();
        assert!(user.active);
        assert!(serde_json::from_value::<Lead>(json!({"ID": "x"})).is_err());
    }

    #[test]
    fn status_semantics_from_either_field() {
        let rows: Vec<StatusItem> = serde_json::from_value(json!([
            {"STATUS_ID": "NEW", "NAME": "New", "SEMANTICS": null, "EXTRA": {"SEMANTICS": "process"}},
            {"STATUS_ID": "WON", "NAME": "Won", "SEMANTICS": "S"},
            {"STATUS_ID": "CALL", "NAME": "Call"}
        ]))
        .unwrap();
        assert_eq!(rows[0].semantics.as_deref(), Some("P"));
        assert_eq!(rows[1].semantics.as_deref(), Some("S"));
        assert_eq!(rows[2].semantics, None);
    }

    #[test]
    fn entity_names() {
        assert_eq!(EntityType::Deal.timeline_name(), "deal");
        assert_eq!(EntityType::Company.crm_name(), "COMPANY");
        assert_eq!(EntityType::Lead.to_string(), "lead");
    }
}

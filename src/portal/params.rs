//! The parameters and answers of the CRM methods, shared by the single calls
//! ([`super::Bitrix24`]'s typed methods) and the rounds ([`super::Round`]).

use super::BitrixError;
use super::{id_from_value, EntityType};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

/// Fields read of a lead.
pub(crate) const LEAD_SELECT: [&str; 5] = [
    "ID",
    "TITLE",
    "STATUS_ID",
    "STATUS_SEMANTIC_ID",
    "ASSIGNED_BY_ID",
];
/// Fields read of a contact.
pub(crate) const CONTACT_SELECT: [&str; 4] = ["ID", "NAME", "LAST_NAME", "ASSIGNED_BY_ID"];
/// Fields read of a deal.
pub(crate) const DEAL_SELECT: [&str; 8] = [
    "ID",
    "TITLE",
    "STAGE_ID",
    "CLOSED",
    "CATEGORY_ID",
    "ASSIGNED_BY_ID",
    "CONTACT_ID",
    "STAGE_SEMANTIC_ID",
];

/// `crm.duplicate.findbycomm`.
pub(crate) const FIND_BY_COMM: &str = "crm.duplicate.findbycomm";
/// `crm.timeline.comment.add`.
pub(crate) const COMMENT_ADD: &str = "crm.timeline.comment.add";
/// `im.notify.system.add`.
pub(crate) const NOTIFY: &str = "im.notify.system.add";

/// The `crm.<type>.list` method of an entity type.
pub(crate) fn list_method(kind: EntityType) -> String {
    format!("crm.{}.list", kind.timeline_name())
}

/// The `crm.<type>.add` method of an entity type.
pub(crate) fn add_method(kind: EntityType) -> String {
    format!("crm.{}.add", kind.timeline_name())
}

/// The fields read of an entity type.
pub(crate) fn select_of(kind: EntityType) -> &'static [&'static str] {
    match kind {
        EntityType::Lead => &LEAD_SELECT,
        EntityType::Contact => &CONTACT_SELECT,
        _ => &DEAL_SELECT,
    }
}

/// First page of a list, newest first.
pub(crate) fn list(filter: Value, select: &[&str]) -> Value {
    json!({"filter": filter, "select": select, "order": {"ID": "DESC"}, "start": 0})
}

/// An `*.add` without a live-feed event.
pub(crate) fn add(fields: Value) -> Value {
    json!({"fields": fields, "params": {"REGISTER_SONET_EVENT": "N"}})
}

/// An `*.update` without a live-feed event.
pub(crate) fn update(id: i64, fields: Value) -> Value {
    json!({"id": id, "fields": fields, "params": {"REGISTER_SONET_EVENT": "N"}})
}

/// `crm.duplicate.findbycomm` for one phone and one entity type (`None`: every type).
pub(crate) fn find_by_phone(phone: &str, kind: Option<EntityType>) -> Value {
    match kind {
        Some(kind) => json!({"type": "PHONE", "values": [phone], "entity_type": kind.crm_name()}),
        None => json!({"type": "PHONE", "values": [phone]}),
    }
}

/// `crm.timeline.comment.add` (lowercase `fields`, as the method requires).
pub(crate) fn comment(kind: EntityType, entity_id: i64, text: &str) -> Value {
    json!({"fields": {
        "ENTITY_ID": entity_id,
        "ENTITY_TYPE": kind.timeline_name(),
        "COMMENT": text,
    }})
}

/// `crm.timeline.comment.list`.
pub(crate) const COMMENT_LIST: &str = "crm.timeline.comment.list";

/// `crm.timeline.comment.list` of one entity (`entity_id` an id, or a placeholder a round's
/// link replaces), newest first, the page at `start`.
pub(crate) fn comment_list(kind: EntityType, entity_id: Value, start: u64) -> Value {
    json!({
        "filter": {"ENTITY_ID": entity_id, "ENTITY_TYPE": kind.timeline_name()},
        "order": {"ID": "DESC"},
        "select": ["ID", "ENTITY_ID", "ENTITY_TYPE", "COMMENT", "CREATED"],
        "start": start,
    })
}

/// `im.notify.system.add`.
pub(crate) fn notify(user_id: i64, message: &str) -> Value {
    json!({"USER_ID": user_id, "MESSAGE": message})
}

/// The ids of `kind` in a `findbycomm` answer (none when the portal answers `[]`).
pub(crate) fn found_ids(result: &Value, kind: EntityType) -> Result<Vec<i64>, BitrixError> {
    let ids = match result.get(kind.crm_name()) {
        Some(Value::Array(ids)) => ids,
        // `[]` (an empty PHP map) or another type only: no match.
        _ => return Ok(Vec::new()),
    };
    ids.iter()
        .map(|v| {
            id_from_value(v).ok_or_else(|| BitrixError::Decode {
                method: FIND_BY_COMM.into(),
                detail: format!("expected an id, got {v}"),
                garbled: false,
            })
        })
        .collect()
}

/// Decodes a `result`.
pub(crate) fn decode<T: DeserializeOwned>(method: &str, value: Value) -> Result<T, BitrixError> {
    serde_json::from_value(value).map_err(|e| BitrixError::Decode {
        method: method.to_string(),
        detail: format!("unexpected result shape: {e}"),
        garbled: false,
    })
}

/// The id an `*.add` answered.
pub(crate) fn new_id(method: &str, value: Value) -> Result<i64, BitrixError> {
    id_from_value(&value).ok_or_else(|| BitrixError::Decode {
        method: method.to_string(),
        detail: format!("expected the new id, got {value}"),
        garbled: false,
    })
}

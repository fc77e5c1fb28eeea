//! `crm.lead.*`, `crm.contact.*`, `crm.deal.*`, `crm.company.*`, `crm.status.list` and
//! `crm.duplicate.findbycomm` (doc §2.2–§2.6). Companies are here for the card tab
//! (`CRM_COMPANY_DETAIL_TAB`): the reference docs name no company fields, so they are the
//! contact's multi-fields (`PHONE`…) with a `TITLE`, as on a boxed portal.

use super::listing;
use super::state::{now_iso, State, WEBHOOK_USER};
use super::values::{int, items, param, text};
use super::{ApiError, Reply};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The CRM entity a method works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Lead,
    Contact,
    Deal,
    Company,
}

impl Kind {
    /// The kind named in a method (`crm.lead.add` → lead).
    pub(crate) fn from_method(method: &str) -> Option<Kind> {
        match method.split('.').nth(1)? {
            "lead" => Some(Kind::Lead),
            "contact" => Some(Kind::Contact),
            "deal" => Some(Kind::Deal),
            "company" => Some(Kind::Company),
            _ => None,
        }
    }

    /// Fields `select: ["*"]` returns.
    pub(crate) fn ordinary(self) -> &'static [&'static str] {
        match self {
            Kind::Lead => &[
                "ID",
                "TITLE",
                "NAME",
                "LAST_NAME",
                "SECOND_NAME",
                "SOURCE_ID",
                "STATUS_ID",
                "STATUS_SEMANTIC_ID",
                "ASSIGNED_BY_ID",
                "CREATED_BY_ID",
                "MODIFY_BY_ID",
                "OPENED",
                "COMMENTS",
                "ORIGINATOR_ID",
                "ORIGIN_ID",
                "DATE_CREATE",
                "DATE_MODIFY",
                "DATE_CLOSED",
                "HAS_PHONE",
                "HAS_EMAIL",
                "OPPORTUNITY",
                "CURRENCY_ID",
                "CONTACT_ID",
                "COMPANY_ID",
            ],
            Kind::Contact => &[
                "ID",
                "NAME",
                "LAST_NAME",
                "SECOND_NAME",
                "SOURCE_ID",
                "ASSIGNED_BY_ID",
                "CREATED_BY_ID",
                "MODIFY_BY_ID",
                "OPENED",
                "COMMENTS",
                "ORIGINATOR_ID",
                "ORIGIN_ID",
                "DATE_CREATE",
                "DATE_MODIFY",
                "HAS_PHONE",
                "HAS_EMAIL",
                "COMPANY_ID",
            ],
            Kind::Deal => &[
                "ID",
                "TITLE",
                "CATEGORY_ID",
                "STAGE_ID",
                "STAGE_SEMANTIC_ID",
                "CLOSED",
                "CONTACT_ID",
                "COMPANY_ID",
                "LEAD_ID",
                "ASSIGNED_BY_ID",
                "CREATED_BY_ID",
                "MODIFY_BY_ID",
                "SOURCE_ID",
                "OPPORTUNITY",
                "CURRENCY_ID",
                "COMMENTS",
                "OPENED",
                "ORIGINATOR_ID",
                "ORIGIN_ID",
                "DATE_CREATE",
                "DATE_MODIFY",
                "BEGINDATE",
                "CLOSEDATE",
            ],
            Kind::Company => &[
                "ID",
                "TITLE",
                "COMPANY_TYPE",
                "ASSIGNED_BY_ID",
                "CREATED_BY_ID",
                "MODIFY_BY_ID",
                "OPENED",
                "COMMENTS",
                "ORIGINATOR_ID",
                "ORIGIN_ID",
                "DATE_CREATE",
                "DATE_MODIFY",
                "HAS_PHONE",
                "HAS_EMAIL",
            ],
        }
    }

    fn multifields(self) -> &'static [&'static str] {
        match self {
            Kind::Lead | Kind::Contact | Kind::Company => &["PHONE", "EMAIL", "WEB", "IM"],
            Kind::Deal => &[],
        }
    }

    fn table(self, state: &mut State) -> &mut BTreeMap<i64, Map<String, Value>> {
        match self {
            Kind::Lead => &mut state.leads,
            Kind::Contact => &mut state.contacts,
            Kind::Deal => &mut state.deals,
            Kind::Company => &mut state.companies,
        }
    }
}

/// Fields the portal computes; writes to them are ignored.
const READ_ONLY: [&str; 11] = [
    "ID",
    "STATUS_SEMANTIC_ID",
    "STAGE_SEMANTIC_ID",
    "CLOSED",
    "DATE_CREATE",
    "DATE_MODIFY",
    "DATE_CLOSED",
    "CREATED_BY_ID",
    "MODIFY_BY_ID",
    "HAS_PHONE",
    "HAS_EMAIL",
];

fn business(description: &str) -> ApiError {
    ApiError::new(400, "", description)
}

fn fields_of(params: &Value) -> Result<&Map<String, Value>, ApiError> {
    param(params, &["fields", "FIELDS"])
        .and_then(Value::as_object)
        .ok_or_else(|| business("Parameter 'fields' must be array."))
}

fn id_of(params: &Value) -> Result<i64, ApiError> {
    param(params, &["id", "ID"])
        .and_then(int)
        .filter(|id| *id > 0)
        .ok_or_else(|| business("ID is not defined or invalid."))
}

/// `crm.<kind>.add`: the new id (an integer).
pub(crate) fn add(state: &mut State, kind: Kind, params: &Value) -> Result<Reply, ApiError> {
    let fields = fields_of(params)?.clone();
    let id = state.next_entity_id;
    state.next_entity_id += 1;
    state.created_at.insert(id, tokio::time::Instant::now());
    let now = now_iso();
    let mut record = Map::new();
    for name in kind.ordinary() {
        record.insert(name.to_string(), Value::Null);
    }
    for name in kind.multifields() {
        record.insert(name.to_string(), json!([]));
    }
    let user = WEBHOOK_USER.to_string();
    for (name, value) in [
        ("ID", id.to_string()),
        ("ASSIGNED_BY_ID", user.clone()),
        ("CREATED_BY_ID", user.clone()),
        ("MODIFY_BY_ID", user),
        ("OPENED", "Y".into()),
        ("DATE_CREATE", now.clone()),
    ] {
        record.insert(name.into(), Value::String(value));
    }
    match kind {
        Kind::Lead => {
            record.insert("STATUS_ID".into(), json!("NEW"));
            record.insert("OPPORTUNITY".into(), json!("0.00"));
            record.insert("CURRENCY_ID".into(), json!("RUB"));
        }
        Kind::Deal => {
            record.insert("CATEGORY_ID".into(), json!("0"));
            record.insert("OPPORTUNITY".into(), json!("0.00"));
            record.insert("CURRENCY_ID".into(), json!("RUB"));
            record.insert("BEGINDATE".into(), Value::String(now.clone()));
        }
        Kind::Contact | Kind::Company => {}
    }
    apply(state, kind, &mut record, &fields);
    derive(state, kind, &mut record);
    kind.table(state).insert(id, record);
    Ok(Reply::of(json!(id)))
}

/// `crm.<kind>.update`: `true`.
pub(crate) fn update(state: &mut State, kind: Kind, params: &Value) -> Result<Reply, ApiError> {
    let id = id_of(params)?;
    let fields = fields_of(params)?.clone();
    let Some(mut record) = kind.table(state).get(&id).cloned() else {
        return Err(business("Not found"));
    };
    apply(state, kind, &mut record, &fields);
    record.insert("MODIFY_BY_ID".into(), json!(WEBHOOK_USER.to_string()));
    derive(state, kind, &mut record);
    kind.table(state).insert(id, record);
    Ok(Reply::of(json!(true)))
}

/// `crm.<kind>.get`: the whole record.
pub(crate) fn get(state: &mut State, kind: Kind, params: &Value) -> Result<Reply, ApiError> {
    let id = id_of(params)?;
    let record = kind
        .table(state)
        .get(&id)
        .ok_or_else(|| business("Not found"))?;
    Ok(Reply::of(Value::Object(readable(record))))
}

/// `crm.<kind>.list`.
pub(crate) fn list(state: &mut State, kind: Kind, params: &Value) -> Result<Reply, ApiError> {
    let filter = param(params, &["filter", "FILTER"])
        .cloned()
        .unwrap_or(Value::Null);
    let mut rows: Vec<Map<String, Value>> = kind
        .table(state)
        .values()
        .filter(|r| listing::matches(r, &filter))
        .cloned()
        .collect();
    listing::sort(&mut rows, param(params, &["order", "ORDER"]));
    let select = param(params, &["select", "SELECT"]);
    let rows = rows
        .iter()
        .map(|r| listing::project(r, select, kind.ordinary()))
        .collect();
    listing::page(rows, params)
}

/// A record as a read shows it: empty multifields left out.
pub(crate) fn readable(record: &Map<String, Value>) -> Map<String, Value> {
    record
        .iter()
        .filter(|(_, v)| !v.as_array().is_some_and(|a| a.is_empty()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn apply(
    state: &mut State,
    kind: Kind,
    record: &mut Map<String, Value>,
    fields: &Map<String, Value>,
) {
    for (name, value) in fields {
        let name = name.to_uppercase();
        if kind.multifields().contains(&name.as_str()) {
            let mut list = record.get(&name).map(items).unwrap_or_default();
            apply_multifield(state, &name, &mut list, value);
            record.insert(name, Value::Array(list));
        } else if name == "CONTACT_IDS" && kind == Kind::Deal {
            if !fields.contains_key("CONTACT_ID") {
                let first = items(value).first().and_then(text);
                record.insert(
                    "CONTACT_ID".into(),
                    first.map_or(Value::Null, Value::String),
                );
            }
        } else if (kind.ordinary().contains(&name.as_str()) && !READ_ONLY.contains(&name.as_str()))
            || super::fields::is_user_field(state, kind, &name)
        {
            record.insert(name, text(value).map_or(Value::Null, Value::String));
        }
        // Unknown fields are ignored, as the portal does.
    }
}

/// Multifield update rules (doc §2.3): no `ID` adds, `ID` edits, `DELETE=Y` or an empty
/// `VALUE` deletes, unmentioned items stay.
fn apply_multifield(state: &mut State, type_id: &str, list: &mut Vec<Value>, value: &Value) {
    for item in items(value) {
        let value_text = item.get("VALUE").and_then(text).unwrap_or_default();
        let value_type = item.get("VALUE_TYPE").and_then(text);
        match item.get("ID").and_then(int) {
            Some(id) => {
                let position = list
                    .iter()
                    .position(|v| v.get("ID").and_then(int) == Some(id));
                let Some(position) = position else { continue };
                let delete = item.get("DELETE").and_then(text).as_deref() == Some("Y");
                if delete || (item.get("VALUE").is_some() && value_text.is_empty()) {
                    list.remove(position);
                } else {
                    if item.get("VALUE").is_some() {
                        list[position]["VALUE"] = json!(value_text);
                    }
                    if let Some(value_type) = value_type {
                        list[position]["VALUE_TYPE"] = json!(value_type);
                    }
                }
            }
            None if !value_text.is_empty() => {
                let id = state.next_multifield_id;
                state.next_multifield_id += 1;
                list.push(json!({
                    "ID": id.to_string(),
                    "VALUE_TYPE": value_type.unwrap_or_else(|| "WORK".into()),
                    "VALUE": value_text,
                    "TYPE_ID": type_id,
                }));
            }
            None => {}
        }
    }
}

/// Computed fields, refreshed on every write.
fn derive(state: &State, kind: Kind, record: &mut Map<String, Value>) {
    let now = now_iso();
    record.insert("DATE_MODIFY".into(), json!(now.clone()));
    for (multi, flag) in [("PHONE", "HAS_PHONE"), ("EMAIL", "HAS_EMAIL")] {
        if kind.multifields().contains(&multi) {
            let has = record
                .get(multi)
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty());
            record.insert(flag.into(), json!(if has { "Y" } else { "N" }));
        }
    }
    match kind {
        Kind::Lead => {
            let status = record
                .get("STATUS_ID")
                .and_then(text)
                .unwrap_or_else(|| "NEW".into());
            let semantic = state.semantic("STATUS", &status);
            record.insert("STATUS_ID".into(), json!(status));
            record.insert("STATUS_SEMANTIC_ID".into(), json!(semantic));
            let closed_at = if semantic == "P" {
                Value::Null
            } else {
                record
                    .get("DATE_CLOSED")
                    .filter(|v| !v.is_null())
                    .cloned()
                    .unwrap_or(json!(now))
            };
            record.insert("DATE_CLOSED".into(), closed_at);
        }
        Kind::Deal => {
            let category = record.get("CATEGORY_ID").and_then(int).unwrap_or(0);
            let (directory, default_stage) = if category == 0 {
                ("DEAL_STAGE".to_string(), "NEW".to_string())
            } else {
                (format!("DEAL_STAGE_{category}"), format!("C{category}:NEW"))
            };
            let stage = record
                .get("STAGE_ID")
                .and_then(text)
                .unwrap_or(default_stage);
            let semantic = state.semantic(&directory, &stage);
            record.insert("CATEGORY_ID".into(), json!(category.to_string()));
            record.insert("STAGE_ID".into(), json!(stage));
            record.insert("STAGE_SEMANTIC_ID".into(), json!(semantic));
            record.insert(
                "CLOSED".into(),
                json!(if semantic == "P" { "N" } else { "Y" }),
            );
        }
        Kind::Contact | Kind::Company => {}
    }
}

/// `crm.status.list`.
pub(crate) fn status_list(state: &mut State, params: &Value) -> Result<Reply, ApiError> {
    let filter = param(params, &["filter", "FILTER"])
        .cloned()
        .unwrap_or(Value::Null);
    let mut rows: Vec<Map<String, Value>> = state
        .statuses
        .iter()
        .filter(|r| listing::matches(r, &filter))
        .cloned()
        .collect();
    let order = param(params, &["order", "ORDER"])
        .cloned()
        .unwrap_or(json!({"SORT": "ASC"}));
    listing::sort(&mut rows, Some(&order));
    listing::page(rows, params)
}

/// Phone normalisation of the duplicate index (doc §2.2).
pub(crate) fn normalize_phone(raw: &str) -> String {
    let raw = raw.trim();
    let raw = match raw.strip_prefix("+8") {
        Some(rest) => format!("008{rest}"),
        None => raw.to_string(),
    };
    let mut digits: String = raw
        .chars()
        .filter(|c| c.is_ascii_digit() || matches!(c, '#' | '*' | ',' | ';'))
        .collect();
    if digits.len() >= 10 {
        if ["80", "81", "82"].iter().any(|p| digits.starts_with(p)) {
        } else if let Some(rest) = digits.strip_prefix("00") {
            digits = rest.to_string();
        } else if let Some(rest) = digits.strip_prefix("011") {
            digits = rest.to_string();
        } else if let Some(rest) = digits.strip_prefix('8') {
            digits = format!("7{rest}");
        } else if let Some(rest) = digits.strip_prefix('0') {
            digits = rest.to_string();
        }
    }
    match digits.find(|c: char| !c.is_ascii_digit()) {
        Some(cut) => digits[..cut].to_string(),
        None => digits,
    }
}

/// `crm.duplicate.findbycomm`.
pub(crate) fn find_by_comm(state: &mut State, params: &Value) -> Result<Reply, ApiError> {
    let kind = param(params, &["type", "TYPE"])
        .and_then(text)
        .unwrap_or_default()
        .to_uppercase();
    if kind != "PHONE" && kind != "EMAIL" {
        return Err(business("Communication type is not defined."));
    }
    let mut values: Vec<String> = Vec::new();
    for value in param(params, &["values", "VALUES"])
        .map(items)
        .unwrap_or_default()
    {
        if let Some(value) = text(&value) {
            if !values.contains(&value) {
                values.push(value);
            }
        }
    }
    if values.is_empty() {
        return Err(business("Communication values is not defined."));
    }
    values.truncate(20);
    let entity = param(params, &["entity_type", "ENTITY_TYPE"])
        .and_then(text)
        .map(|e| e.to_uppercase());
    let types: Vec<&str> = match entity.as_deref() {
        None | Some("") => vec!["LEAD", "CONTACT", "COMPANY"],
        Some("LEAD") => vec!["LEAD"],
        Some("CONTACT") => vec!["CONTACT"],
        Some("COMPANY") => vec!["COMPANY"],
        Some(other) => {
            return Err(business(&format!(
                "Entity type '{other}' is not supported in current context."
            )))
        }
    };
    let normalise = |v: &str| {
        if kind == "PHONE" {
            normalize_phone(v)
        } else {
            v.trim().to_lowercase()
        }
    };
    let wanted: Vec<String> = values
        .iter()
        .map(|v| normalise(v))
        .filter(|v| !v.is_empty())
        .collect();
    let mut result = Map::new();
    for entity in types {
        let table = match entity {
            "LEAD" => &state.leads,
            "CONTACT" => &state.contacts,
            _ => continue,
        };
        let mut ids: Vec<i64> = Vec::new();
        for want in &wanted {
            let hits = table.iter().filter(|(id, record)| {
                !state.hidden_from_search(**id)
                    && record
                        .get(&kind)
                        .map(items)
                        .unwrap_or_default()
                        .iter()
                        .any(|item| {
                            item.get("VALUE")
                                .and_then(text)
                                .is_some_and(|v| normalise(&v) == *want)
                        })
            });
            for (id, _) in hits.take(20) {
                if !ids.contains(id) {
                    ids.push(*id);
                }
            }
        }
        if !ids.is_empty() {
            result.insert(entity.into(), json!(ids));
        }
    }
    Ok(Reply::of(if result.is_empty() {
        json!([])
    } else {
        Value::Object(result)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_normalisation_follows_the_doc() {
        assert_eq!(normalize_phone("8 (916) 123-45-67"), "79161234567");
        assert_eq!(normalize_phone("+7 916 123 45 67"), "79161234567");
        assert_eq!(
            normalize_phone("+8 10 49 30 1234"),
            "810493012 34".replace(' ', "")
        );
        assert_eq!(normalize_phone("0049 30 12345678"), "493012345678");
        assert_eq!(normalize_phone("011 1 212 555 0100"), "12125550100");
        assert_eq!(normalize_phone("+7 916 123-45-67#123"), "79161234567");
        assert_eq!(normalize_phone("12-34"), "1234");
    }
}

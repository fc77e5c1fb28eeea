//! `crm.<type>.fields`: the standard fields the simulated entities have, plus the `UF_*`
//! fields a test registers ([`PortalSim::add_user_field`]).
//!
//! Our docs (`bitrix24-rest.md`) do not describe this method; the shape follows the public
//! Bitrix24 REST reference (`crm.lead.fields`): per field `type`, `isRequired`, `isReadOnly`,
//! `isMultiple`, `title`, and `items` (`ID`, `VALUE`) for an enumeration, `statusType` for a
//! `crm_status`.

use super::crm::Kind;
use super::state::State;
use super::{PortalSim, Reply};
use serde_json::{json, Map, Value};

/// The entity name of a kind, as in its methods.
fn entity(kind: Kind) -> &'static str {
    match kind {
        Kind::Lead => "lead",
        Kind::Contact => "contact",
        Kind::Deal => "deal",
        Kind::Company => "company",
    }
}

/// The type of a standard field, and the directory of a `crm_status` one.
fn standard_type(name: &str) -> (&'static str, Option<&'static str>) {
    match name {
        "SOURCE_ID" => ("crm_status", Some("SOURCE")),
        "STATUS_ID" => ("crm_status", Some("STATUS")),
        "STAGE_ID" => ("crm_status", Some("DEAL_STAGE")),
        "CURRENCY_ID" => ("crm_currency", None),
        "ASSIGNED_BY_ID" | "CREATED_BY_ID" | "MODIFY_BY_ID" => ("user", None),
        "OPENED" | "CLOSED" | "HAS_PHONE" | "HAS_EMAIL" | "STATUS_SEMANTIC_ID"
        | "STAGE_SEMANTIC_ID" => ("char", None),
        "OPPORTUNITY" => ("double", None),
        "ID" | "CATEGORY_ID" | "CONTACT_ID" | "COMPANY_ID" | "LEAD_ID" => ("integer", None),
        n if n.starts_with("DATE_") || n == "BEGINDATE" || n == "CLOSEDATE" => ("datetime", None),
        _ => ("string", None),
    }
}

/// True when a test registered the user field `name` on `kind` (it is stored as sent).
pub(crate) fn is_user_field(state: &State, kind: Kind, name: &str) -> bool {
    state
        .user_fields
        .get(entity(kind))
        .is_some_and(|f| f.contains_key(name))
}

/// The answer of `crm.<type>.fields`.
pub(crate) fn list(state: &State, kind: Kind) -> Reply {
    let read_only = [
        "ID",
        "CREATED_BY_ID",
        "MODIFY_BY_ID",
        "DATE_CREATE",
        "DATE_MODIFY",
        "HAS_PHONE",
        "HAS_EMAIL",
        "STATUS_SEMANTIC_ID",
        "STAGE_SEMANTIC_ID",
    ];
    let mut out = Map::new();
    for name in kind.ordinary() {
        let (kind, status) = standard_type(name);
        let mut field = json!({
            "type": kind, "isRequired": false, "isReadOnly": read_only.contains(name),
            "isImmutable": false, "isMultiple": false, "isDynamic": false, "title": name,
        });
        if let Some(status) = status {
            field["statusType"] = json!(status);
        }
        out.insert(name.to_string(), field);
    }
    if let Some(extra) = state.user_fields.get(entity(kind)) {
        out.extend(extra.clone());
    }
    Reply::of(Value::Object(out))
}

impl PortalSim {
    /// Registers a user field `name` (`UF_CRM_…`) of `kind` (`string`, `double`,
    /// `enumeration`, …) on `entity` (`lead`, `contact`, `deal`, `company`); an
    /// enumeration's `items` get ids from 1001 on, in order.
    pub fn add_user_field(&self, entity: &str, name: &str, kind: &str, items: &[&str]) {
        let mut field = json!({
            "type": kind, "isRequired": false, "isReadOnly": false, "isImmutable": false,
            "isMultiple": false, "isDynamic": true, "title": name,
            "listLabel": name, "formLabel": name, "filterLabel": name,
        });
        if kind == "enumeration" {
            let items: Vec<Value> = items
                .iter()
                .enumerate()
                .map(|(i, v)| json!({"ID": (1001 + i).to_string(), "VALUE": v}))
                .collect();
            field["items"] = json!(items);
        }
        self.portal
            .state()
            .user_fields
            .entry(entity.to_string())
            .or_default()
            .insert(name.to_string(), field);
    }
}

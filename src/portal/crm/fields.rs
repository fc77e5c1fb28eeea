//! The fields of a CRM entity type (`crm.<type>.fields`) and whether a rule's text value fits
//! one: an enumeration takes the id of the item whose `VALUE` matches, a number field a
//! number, and so on.
//!
//! Our docs (`bitrix24-rest.md`) do not describe `crm.<type>.fields`; the answer's shape is
//! the public Bitrix24 REST reference's (`crm.lead.fields`): `{"result": {"FIELD": {"type",
//! "isRequired", "isReadOnly", "isMultiple", "title", "items": [{"ID", "VALUE"}] (enumeration),
//! "statusType" (crm_status)}}}`. Types this module does not know are taken as text.

use crate::portal::{Bitrix24, BitrixError, EntityType};
use serde_json::Value;
use std::collections::BTreeMap;

/// One field of an entity type.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldInfo {
    /// The portal's type: `string`, `enumeration`, `crm_status`, `double`, `integer`, ….
    pub kind: String,
    /// The portal does not let a client write it.
    pub read_only: bool,
    /// An enumeration's items: (`ID`, `VALUE`).
    pub items: Vec<(String, String)>,
}

/// The fields of one entity type, by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldCatalog {
    fields: BTreeMap<String, FieldInfo>,
}

/// Why a value does not fit a field.
#[derive(Debug, Clone, PartialEq)]
pub enum Misfit {
    /// The entity type has no such field.
    Unknown,
    /// The portal does not let a client write it.
    ReadOnly,
    /// No enumeration item has this value; the items' values.
    NoItem(Vec<String>),
    /// The value is not of the field's type (its type).
    WrongType(String),
}

impl std::fmt::Display for Misfit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Misfit::Unknown => write!(f, "no such field"),
            Misfit::ReadOnly => write!(f, "the field is read-only"),
            Misfit::NoItem(values) => {
                write!(f, "no list item has it (items: {})", values.join(", "))
            }
            Misfit::WrongType(kind) => write!(f, "the field is of type {kind}"),
        }
    }
}

impl FieldCatalog {
    /// Reads `crm.<type>.fields`.
    pub async fn read(portal: &Bitrix24, kind: EntityType) -> Result<Self, BitrixError> {
        let method = format!("crm.{}.fields", kind.timeline_name());
        let result: Value = portal.call(&method, serde_json::json!({})).await?;
        Ok(Self::from_result(&result))
    }

    /// The catalog in a `crm.<type>.fields` result.
    pub fn from_result(result: &Value) -> Self {
        let Some(map) = result.as_object() else {
            return Self::default();
        };
        let fields = map
            .iter()
            .map(|(name, f)| (name.clone(), field_info(f)))
            .collect();
        Self { fields }
    }

    /// The field `name`, if the type has it.
    pub fn get(&self, name: &str) -> Option<&FieldInfo> {
        self.fields.get(name)
    }

    /// What to send for `value` in the field `name`: an enumeration's item id, a number as
    /// written, text as is.
    pub fn fit(&self, name: &str, value: &str) -> Result<Value, Misfit> {
        let field = self.get(name).ok_or(Misfit::Unknown)?;
        if field.read_only {
            return Err(Misfit::ReadOnly);
        }
        let value = value.trim();
        let wrong = || Misfit::WrongType(field.kind.clone());
        match field.kind.as_str() {
            "enumeration" => field
                .items
                .iter()
                .find(|(_, v)| v.trim().to_lowercase() == value.to_lowercase())
                .map(|(id, _)| Value::String(id.clone()))
                .ok_or_else(|| Misfit::NoItem(field.items.iter().map(|i| i.1.clone()).collect())),
            "integer" | "user" => value
                .parse::<i64>()
                .map(|_| Value::String(value.into()))
                .map_err(|_| wrong()),
            "double" | "money" => value
                .replace(',', ".")
                .parse::<f64>()
                .map(|_| Value::String(value.replace(',', ".")))
                .map_err(|_| wrong()),
            "boolean" => match value.to_uppercase().as_str() {
                "Y" | "N" | "1" | "0" => Ok(Value::String(value.to_uppercase())),
                _ => Err(wrong()),
            },
            "char" if value.chars().count() == 1 => Ok(Value::String(value.to_uppercase())),
            "char" => Err(wrong()),
            _ => Ok(Value::String(value.into())),
        }
    }
}

fn field_info(f: &Value) -> FieldInfo {
    let flag = |key: &str| f.get(key).is_some_and(|v| v.as_bool() == Some(true));
    let text = |v: Option<&Value>| match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let items = f
        .get("items")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .map(|i| (text(i.get("ID")), text(i.get("VALUE"))))
                .collect()
        })
        .unwrap_or_default();
    FieldInfo {
        kind: text(f.get("type")),
        read_only: flag("isReadOnly"),
        items,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_fit_by_the_fields_type() {
        let catalog = FieldCatalog::from_result(&json!({
            "UF_CRM_CITY": {"type": "enumeration", "isReadOnly": false,
                "items": [{"ID": "41", "VALUE": "Казань"}, {"ID": "42", "VALUE": "Москва"}]},
            "UF_CRM_SUM": {"type": "double", "isReadOnly": false},
            "ID": {"type": "integer", "isReadOnly": true},
            "OPENED": {"type": "char", "isReadOnly": false},
            "COMMENTS": {"type": "string", "isReadOnly": false},
        }));
        assert_eq!(catalog.fit("UF_CRM_CITY", " казань "), Ok(json!("41")));
        assert!(matches!(
            catalog.fit("UF_CRM_CITY", "Тула"),
            Err(Misfit::NoItem(_))
        ));
        assert_eq!(catalog.fit("UF_CRM_SUM", "12,5"), Ok(json!("12.5")));
        assert_eq!(
            catalog.fit("UF_CRM_SUM", "много"),
            Err(Misfit::WrongType("double".into()))
        );
        assert_eq!(catalog.fit("ID", "5"), Err(Misfit::ReadOnly));
        assert_eq!(catalog.fit("OPENED", "y"), Ok(json!("Y")));
        assert_eq!(catalog.fit("UF_CRM_NONE", "x"), Err(Misfit::Unknown));
        assert_eq!(catalog.fit("COMMENTS", "опт"), Ok(json!("опт")));
    }
}

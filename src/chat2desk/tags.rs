//! Tags on clients and requests (`chat2desk-api.md` §2: `tags` is an array of objects with at
//! least `id` and `label`; `GET /tags` lists the company's tags with `group_id`,
//! `group_name`, `label`, `description`).

use super::lenient::{field, int, text};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A Chat2Desk tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    /// Tag id.
    pub id: i64,
    /// Its label, e.g. `"VIP"`.
    pub label: String,
}

impl Tag {
    /// Decodes a tag object; `name` stands in for a missing `label` (unsure in the docs).
    pub fn from_json(v: &Value) -> Option<Self> {
        Some(Self {
            id: int(v.get("id"))?,
            label: text(field(v, &["label", "name"])).unwrap_or_default(),
        })
    }

    /// The `tags` array of a client or request object; empty when absent or not a list.
    pub fn list_of(v: &Value) -> Vec<Self> {
        match v.get("tags") {
            Some(Value::Array(items)) => items.iter().filter_map(Self::from_json).collect(),
            _ => Vec::new(),
        }
    }
}

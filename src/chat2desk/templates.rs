//! Message templates (`chat2desk-api.md` §2: `GET /templates` lists `id`, `command`, `text`,
//! `name`, `created`; only DG and KI show them, so every field but `id` may be missing).

use super::lenient::{int, text};
use serde_json::Value;

/// A Chat2Desk message template: a text a manager starts a message from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// Template id.
    pub id: i64,
    /// Its name; the `command` (e.g. `/hello`) when it has none.
    pub name: String,
    /// Its text.
    pub text: String,
}

impl Template {
    /// Decodes a template object.
    pub fn from_json(v: &Value) -> Option<Self> {
        let name = text(v.get("name"))
            .filter(|n| !n.trim().is_empty())
            .or_else(|| text(v.get("command")))
            .unwrap_or_default();
        Some(Self {
            id: int(v.get("id"))?,
            name,
            text: text(v.get("text")).unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_without_a_name_is_named_by_its_command() {
        let t =
            Template::from_json(&serde_json::json!({"id": "7", "command": "/hi", "text": "Hello"}));
        assert_eq!(
            t,
            Some(Template {
                id: 7,
                name: "/hi".into(),
                text: "Hello".into()
            })
        );
        assert_eq!(Template::from_json(&serde_json::json!({"text": "x"})), None);
    }
}

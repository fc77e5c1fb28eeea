//! Clients: the contact person on the Chat2Desk side, with the phone a CRM search can use.

use super::Channel;
use crate::chat2desk::lenient::{field, int, text};
use crate::chat2desk::tags::Tag;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The members of client object `v` a `[[crm.fields]]` source may read:
/// [`crate::config::CLIENT_FIELDS`] and `custom_fields`.
fn rule_fields(v: &Value) -> Value {
    let kept = crate::config::CLIENT_FIELDS
        .iter()
        .chain(&["custom_fields"])
        .filter_map(|k| Some((k.to_string(), v.get(*k)?.clone())))
        .collect();
    Value::Object(kept)
}

/// A client (contact person on the Chat2Desk side).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    /// Client id.
    pub id: i64,
    /// Messenger display name.
    pub name: Option<String>,
    /// Name set by operators.
    pub assigned_name: Option<String>,
    /// Phone, or a synthetic id such as `"[tg] 807892"` for non-phone transports.
    pub phone: Option<String>,
    /// The real phone number, when known.
    pub client_phone: Option<String>,
    /// E-mail.
    pub email: Option<String>,
    /// Channels the client is reachable on, with their transports (`GET /clients/{id}`
    /// carries them, PL); empty when not sent.
    pub channels: Vec<Channel>,
    /// The client's tags; empty when not sent.
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// The parts of the object the sources of `[[crm.fields]]` read (`custom_fields`,
    /// `extra_comment_1..3`, …), as Chat2Desk sent them; not the whole
    /// object, which a cache of many clients would hold for nothing.
    #[serde(default)]
    pub raw: Value,
}

impl Client {
    /// Decodes a client object.
    pub fn from_json(v: &Value) -> Option<Self> {
        Some(Self {
            id: int(field(v, &["id", "client_id"]))?,
            name: text(field(v, &["name", "nickname"])),
            assigned_name: text(v.get("assigned_name")),
            phone: text(v.get("phone")),
            client_phone: text(v.get("client_phone")),
            email: text(v.get("email")),
            channels: match v.get("channels") {
                Some(Value::Array(items)) => items.iter().filter_map(Channel::from_json).collect(),
                _ => Vec::new(),
            },
            tags: Tag::list_of(v),
            raw: rule_fields(v),
        })
    }

    /// The client's transports on `channel_id`, as the API listed them.
    pub fn transports_on(&self, channel_id: i64) -> &[String] {
        self.channels
            .iter()
            .find(|c| c.id == channel_id)
            .map_or(&[], |c| c.transports.as_slice())
    }

    /// The name to show: `assigned_name` (set by operators), else `name`.
    pub fn display_name(&self) -> Option<&str> {
        [&self.assigned_name, &self.name]
            .into_iter()
            .flatten()
            .map(|s| s.trim())
            .find(|s| !s.is_empty())
    }

    /// A usable phone number, digits only: `client_phone`, else `phone`; synthetic ids
    /// (letters, brackets, `@`) and numbers shorter than 7 digits are rejected.
    pub fn real_phone(&self) -> Option<String> {
        [&self.client_phone, &self.phone]
            .into_iter()
            .flatten()
            .find_map(|p| phone_digits(p))
    }
}

/// Digits of a plausible phone number, or `None`.
fn phone_digits(p: &str) -> Option<String> {
    if p.chars()
        .any(|c| c.is_alphabetic() || matches!(c, '[' | ']' | '{' | '}' | '@' | '<' | '>'))
    {
        return None;
    }
    let digits: String = p.chars().filter(char::is_ascii_digit).collect();
    (7..=15).contains(&digits.len()).then_some(digits)
}

//! Webhooks: the registrations (`/webhooks`) and the deliveries Chat2Desk sends to them.

use super::{Client, Message};
use crate::chat2desk::lenient::{field, int, strings, text};
use crate::chat2desk::time::parse_time;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A registered webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    /// Webhook id.
    pub id: i64,
    /// Target URL.
    pub url: String,
    /// Name.
    pub name: Option<String>,
    /// Subscribed events.
    pub events: Vec<String>,
    /// Channel filter (empty = all).
    pub channels: Vec<i64>,
}

impl Webhook {
    /// Decodes a webhook object.
    pub fn from_json(v: &Value) -> Option<Self> {
        Some(Self {
            id: int(v.get("id"))?,
            url: text(v.get("url")).unwrap_or_default(),
            name: text(v.get("name")),
            events: strings(v.get("events")),
            channels: match v.get("channels") {
                Some(Value::Array(items)) => items.iter().filter_map(|i| int(Some(i))).collect(),
                _ => Vec::new(),
            },
        })
    }
}

/// A webhook to register or update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewWebhook {
    /// Target URL.
    pub url: String,
    /// Name shown in the admin UI.
    pub name: String,
    /// Events to subscribe to (`close_request`, `inbox`, ...).
    pub events: Vec<String>,
    /// Channel filter (empty = all).
    pub channels: Vec<i64>,
}

/// A webhook delivery from Chat2Desk, decoded leniently.
///
/// Only `inbox`/`outbox` bodies are documented; `close_request`/`close_dialog` bodies are
/// not (`chat2desk-api.md` §3): ids are read from the top level and from a nested `client`,
/// and a handler should re-read the request over the API rather than trust the payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookEvent {
    /// `hook_type`: `inbox`, `close_request`, ...
    pub hook_type: String,
    /// The request, when given.
    pub request_id: Option<i64>,
    /// The dialog, when given.
    pub dialog_id: Option<i64>,
    /// The client (`client_id`, else `client.id`).
    pub client_id: Option<i64>,
    /// The operator, when given.
    pub operator_id: Option<i64>,
    /// `event_time`.
    pub event_time: Option<DateTime<Utc>>,
    /// The message of `inbox`/`outbox` events (`message_id` present).
    pub message: Option<Message>,
    /// The nested `client` object (or the top-level client of `new_client` events).
    pub client: Option<Client>,
}

impl WebhookEvent {
    /// Decodes a delivery body; `None` without a `hook_type`.
    pub fn from_json(v: &Value, tz: Tz) -> Option<Self> {
        let hook_type = text(field(v, &["hook_type", "event", "type_hook"]))?;
        let client = match v.get("client") {
            Some(c @ Value::Object(_)) => Client::from_json(c),
            _ if hook_type == "new_client" || hook_type == "client_updated" => Client::from_json(v),
            _ => None,
        };
        let message = v.get("message_id").and_then(|_| Message::from_json(v, tz));
        Some(Self {
            request_id: int(v.get("request_id")),
            dialog_id: int(v.get("dialog_id")),
            client_id: int(v.get("client_id")).or(client.as_ref().map(|c| c.id)),
            operator_id: int(v.get("operator_id")),
            event_time: v.get("event_time").and_then(|t| parse_time(t, tz)),
            hook_type,
            message,
            client,
        })
    }
}

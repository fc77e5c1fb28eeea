//! Dialogs: the conversation with one client, open or closed.

use super::Message;
use crate::chat2desk::lenient::{field, int, text};
use crate::chat2desk::time::parse_time;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Dialog state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DialogState {
    /// `open`.
    Open,
    /// `closed`.
    Closed,
}

impl DialogState {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            DialogState::Open => "open",
            DialogState::Closed => "closed",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "open" | "opened" => Some(DialogState::Open),
            "closed" | "close" => Some(DialogState::Closed),
            _ => None,
        }
    }
}

/// A dialog: the long-lived conversation of one client on one channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dialog {
    /// Dialog id.
    pub id: i64,
    /// Open or closed.
    pub state: Option<DialogState>,
    /// Start time.
    pub begin: Option<DateTime<Utc>>,
    /// End time (closed dialogs).
    pub end: Option<DateTime<Utc>>,
    /// Assigned operator.
    pub operator_id: Option<i64>,
    /// Message count (`messages`).
    pub message_count: Option<i64>,
    /// The last message; its `client_id` is the dialog's client (dialogs carry none).
    pub last_message: Option<Message>,
}

impl Dialog {
    /// Decodes a dialog object.
    pub fn from_json(v: &Value, tz: Tz) -> Option<Self> {
        Some(Self {
            id: int(v.get("id"))?,
            state: text(v.get("state")).and_then(|s| DialogState::parse(&s)),
            begin: field(v, &["begin", "created"]).and_then(|t| parse_time(t, tz)),
            end: field(v, &["end", "closed"]).and_then(|t| parse_time(t, tz)),
            operator_id: int(v.get("operator_id")),
            message_count: int(v.get("messages")),
            last_message: v
                .get("last_message")
                .and_then(|m| Message::from_json(m, tz)),
        })
    }

    /// The dialog's client, taken from the last message.
    pub fn client_id(&self) -> Option<i64> {
        self.last_message.as_ref().and_then(|m| m.client_id)
    }
}

//! Channels: the company's phone numbers and bots with their transports.

use crate::chat2desk::lenient::{int, strings, text};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A channel (a company phone number / bot with its transports).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channel {
    /// Channel id.
    pub id: i64,
    /// Name.
    pub name: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// Transports served, opaque strings.
    pub transports: Vec<String>,
}

impl Channel {
    /// Decodes a channel object.
    pub fn from_json(v: &Value) -> Option<Self> {
        Some(Self {
            id: int(v.get("id"))?,
            name: text(v.get("name")),
            phone: text(v.get("phone")),
            transports: strings(v.get("transports")),
        })
    }
}

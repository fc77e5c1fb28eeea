//! Requests (обращения): one episode of a dialog, the unit a transcript covers.

use crate::chat2desk::lenient::{field, int, text};
use crate::chat2desk::tags::Tag;
use crate::chat2desk::time::parse_time;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A request (обращение): one episode of a dialog.
///
/// The object of `GET /requests/{id}` is undocumented (`chat2desk-api.md` §2 "Requests",
/// unsure), so several plausible names are accepted for each field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestInfo {
    /// Request id.
    pub id: i64,
    /// The dialog it belongs to.
    pub dialog_id: Option<i64>,
    /// The client.
    pub client_id: Option<i64>,
    /// The operator.
    pub operator_id: Option<i64>,
    /// Opened at (`created`, `begin`, `start`, `created_at`, `opened`, `start_time`).
    pub created: Option<DateTime<Utc>>,
    /// Closed at (`closed`, `end`, `closed_at`, `end_time`, `finished`).
    pub closed: Option<DateTime<Utc>>,
    /// Raw `status`/`state` text when given.
    pub status: Option<String>,
    /// The request's tags; empty when not sent.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

impl RequestInfo {
    /// Decodes a request object.
    pub fn from_json(v: &Value, tz: Tz) -> Option<Self> {
        Some(Self {
            id: int(field(v, &["id", "request_id"]))?,
            dialog_id: int(v.get("dialog_id")),
            client_id: int(v.get("client_id"))
                .or_else(|| v.get("client").and_then(|c| int(c.get("id")))),
            operator_id: int(v.get("operator_id")),
            created: field(
                v,
                &[
                    "created",
                    "begin",
                    "start",
                    "created_at",
                    "opened",
                    "start_time",
                ],
            )
            .and_then(|t| parse_time(t, tz)),
            closed: field(
                v,
                &[
                    "closed",
                    "end",
                    "closed_at",
                    "end_time",
                    "finished",
                    "close",
                ],
            )
            .and_then(|t| parse_time(t, tz)),
            status: text(field(v, &["status", "state"])),
            tags: Tag::list_of(v),
        })
    }
}

//! Messages (`GET /messages`, `inbox`/`outbox` payloads): who wrote them, their text,
//! attachments and coordinates.

use crate::chat2desk::lenient::{field, flag, int, text};
use crate::chat2desk::time::parse_time;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Who wrote a message (`type`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum MessageKind {
    /// `from_client`: the client wrote it.
    FromClient,
    /// `to_client`: an operator (or the API) sent it.
    ToClient,
    /// `autoreply`: a bot or auto-answer.
    Autoreply,
    /// `system`: a service note, not delivered to the client.
    System,
    /// `comment`: an internal operator note.
    Comment,
    /// Any other value, kept verbatim (empty when the field was missing).
    Other(String),
}

impl MessageKind {
    /// The wire name.
    pub fn as_str(&self) -> &str {
        match self {
            MessageKind::FromClient => "from_client",
            MessageKind::ToClient => "to_client",
            MessageKind::Autoreply => "autoreply",
            MessageKind::System => "system",
            MessageKind::Comment => "comment",
            MessageKind::Other(s) => s,
        }
    }
}

impl From<String> for MessageKind {
    fn from(s: String) -> Self {
        match s.trim().to_ascii_lowercase().as_str() {
            "from_client" => MessageKind::FromClient,
            "to_client" => MessageKind::ToClient,
            "autoreply" => MessageKind::Autoreply,
            "system" => MessageKind::System,
            "comment" => MessageKind::Comment,
            _ => MessageKind::Other(s),
        }
    }
}

impl From<MessageKind> for String {
    fn from(k: MessageKind) -> Self {
        k.as_str().to_string()
    }
}

/// What kind of file an attachment is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttachmentKind {
    /// From the `photo` field.
    Photo,
    /// From the `video` field.
    Video,
    /// From the `audio` field.
    Audio,
    /// From the `pdf` field.
    Document,
    /// From the `attachments` list.
    File,
}

impl AttachmentKind {
    /// A fallback file name when neither a name nor a URL path segment is available.
    pub fn default_name(self) -> &'static str {
        match self {
            AttachmentKind::Photo => "photo",
            AttachmentKind::Video => "video",
            AttachmentKind::Audio => "audio",
            AttachmentKind::Document => "document.pdf",
            AttachmentKind::File => "file",
        }
    }
}

/// A file attached to a message, from any of the media fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// Which field it came from.
    pub kind: AttachmentKind,
    /// The given name, else the last URL path segment, else [`AttachmentKind::default_name`].
    pub name: String,
    /// Where to download it.
    pub url: String,
}

/// One message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Message id (`id`, or `message_id` in webhook payloads).
    pub id: i64,
    /// Text, absent for pure media.
    pub text: Option<String>,
    /// Who wrote it.
    pub kind: MessageKind,
    /// When it was written.
    pub created: Option<DateTime<Utc>>,
    /// The client of the conversation.
    pub client_id: Option<i64>,
    /// The dialog.
    pub dialog_id: Option<i64>,
    /// The request (обращение).
    pub request_id: Option<i64>,
    /// The operator (null for client messages).
    pub operator_id: Option<i64>,
    /// The channel.
    pub channel_id: Option<i64>,
    /// Transport (`telegram`, `whatsapp`, ...), opaque.
    pub transport: Option<String>,
    /// Read flag (sent as int, string or bool).
    pub read: Option<bool>,
    /// Every media field and `attachments`, normalised.
    pub attachments: Vec<Attachment>,
    /// Location as text (`"lat,lon"` when sent as an object or array).
    pub coordinates: Option<String>,
    /// The `external_id` the sender gave (`POST /messages`), when the API echoes it.
    pub external_id: Option<String>,
}

impl Message {
    /// Decodes a message object or an `inbox`/`outbox` webhook payload.
    pub fn from_json(v: &Value, tz: Tz) -> Option<Self> {
        let id = int(field(v, &["id", "message_id"]))?;
        Some(Self {
            id,
            text: text(v.get("text")),
            kind: MessageKind::from(text(v.get("type")).unwrap_or_default()),
            created: field(v, &["created", "created_at", "event_time"])
                .and_then(|t| parse_time(t, tz)),
            client_id: int(v.get("client_id"))
                .or_else(|| v.get("client").and_then(|c| int(c.get("id")))),
            dialog_id: int(v.get("dialog_id")),
            request_id: int(v.get("request_id")),
            operator_id: int(v.get("operator_id")),
            channel_id: int(v.get("channel_id")),
            transport: text(v.get("transport")),
            read: flag(v.get("read")),
            attachments: attachments_of(v),
            coordinates: coordinates_of(v.get("coordinates")),
            external_id: text(v.get("external_id")),
        })
    }
}

fn attachments_of(v: &Value) -> Vec<Attachment> {
    let mut out: Vec<Attachment> = Vec::new();
    let mut push = |a: Attachment| {
        if !out.iter().any(|o| o.url == a.url) {
            out.push(a);
        }
    };
    if let Some(Value::Array(items)) = v.get("attachments") {
        for item in items {
            if let Some(a) = attachment(item, AttachmentKind::File) {
                push(a);
            }
        }
    }
    for (name, kind) in [
        ("photo", AttachmentKind::Photo),
        ("video", AttachmentKind::Video),
        ("audio", AttachmentKind::Audio),
        ("pdf", AttachmentKind::Document),
    ] {
        match v.get(name) {
            Some(Value::Array(items)) => {
                for item in items {
                    if let Some(a) = attachment(item, kind) {
                        push(a);
                    }
                }
            }
            Some(item) => {
                if let Some(a) = attachment(item, kind) {
                    push(a);
                }
            }
            None => {}
        }
    }
    out
}

/// One media value: a URL string or an object with `link`/`url` and maybe a name.
fn attachment(item: &Value, kind: AttachmentKind) -> Option<Attachment> {
    let (url, given) = match item {
        Value::String(s) => (s.trim().to_string(), None),
        Value::Object(_) => (
            text(field(item, &["link", "url", "href", "src"]))?,
            text(field(item, &["name", "filename", "file_name", "title"])),
        ),
        _ => return None,
    };
    if url.is_empty() {
        return None;
    }
    let name = given
        .filter(|n| !n.trim().is_empty())
        .or_else(|| last_segment(&url))
        .unwrap_or_else(|| kind.default_name().to_string());
    Some(Attachment { kind, name, url })
}

fn last_segment(url: &str) -> Option<String> {
    let without_query = url.split(['?', '#']).next().unwrap_or("");
    let after_scheme = without_query
        .split_once("://")
        .map_or(without_query, |(_, r)| r);
    let (_, path) = after_scheme.split_once('/')?;
    let segment = path.rsplit('/').find(|s| !s.is_empty())?;
    Some(percent_decode(segment))
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_string())
}

fn coordinates_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Array(items) if items.len() >= 2 => {
            let parts: Vec<String> = items.iter().filter_map(|i| text(Some(i))).collect();
            (parts.len() >= 2).then(|| parts.join(","))
        }
        obj @ Value::Object(_) => {
            let lat = text(field(obj, &["lat", "latitude"]))?;
            let lon = text(field(obj, &["lon", "lng", "longitude"]))?;
            Some(format!("{lat},{lon}"))
        }
        _ => None,
    }
}

//! Typed Chat2Desk objects, decoded leniently from raw JSON.
//!
//! Every decoder reads a `serde_json::Value` (the raw object, times still untyped) and
//! converts it: unknown fields are ignored, every field except the id is optional, numbers
//! may come as strings, and times go through [`parse_time`] with the configured zone for
//! zone-less shapes. A decoder returns `None` only when the object has no usable id.

use super::lenient::{field, flag, int, strings, text};
use super::tags::Tag;
use super::time::parse_time;
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

/// A Chat2Desk operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operator {
    /// Operator id.
    pub id: i64,
    /// Login e-mail.
    pub email: Option<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// `operator`, `supervisor`, `admin`, `disabled`, ...
    pub role: Option<String>,
}

impl Operator {
    /// Decodes an operator object.
    pub fn from_json(v: &Value) -> Option<Self> {
        Some(Self {
            id: int(v.get("id"))?,
            email: text(v.get("email")),
            first_name: text(v.get("first_name")),
            last_name: text(v.get("last_name")),
            role: text(v.get("role")),
        })
    }

    /// "First Last", else the e-mail, else "Operator <id>".
    pub fn full_name(&self) -> String {
        let name = [&self.first_name, &self.last_name]
            .into_iter()
            .flatten()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        if !name.is_empty() {
            name
        } else if let Some(email) = self.email.as_deref().filter(|e| !e.trim().is_empty()) {
            email.trim().to_string()
        } else {
            format!("Operator {}", self.id)
        }
    }
}

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

/// `GET /companies/api_info`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ApiInfo {
    /// Web-UI base URLs; the first one builds chat links.
    pub domain_urls: Vec<String>,
    /// API mode (plan).
    pub mode: Option<String>,
    /// Company name.
    pub company_name: Option<String>,
    /// Calls made this month against the plan quota.
    pub requests_this_month: Option<i64>,
    /// May the company message clients who never wrote.
    pub write_first_option: Option<bool>,
}

impl ApiInfo {
    /// Decodes the `data` object.
    pub fn from_json(v: &Value) -> Self {
        Self {
            domain_urls: strings(field(v, &["domain_urls", "domain_url"])),
            mode: text(v.get("mode")),
            company_name: text(v.get("company_name")),
            requests_this_month: int(v.get("requests_this_month")),
            write_first_option: flag(v.get("write_first_option")),
        }
    }
}

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

/// Sort order of list calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// Oldest first.
    Asc,
    /// Newest first.
    Desc,
}

impl Order {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Order::Asc => "asc",
            Order::Desc => "desc",
        }
    }
}

/// Filters of `GET /messages`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessageQuery {
    /// Id cursor (the API's `start_id`).
    pub start_id: Option<i64>,
    /// Only this dialog.
    pub dialog_id: Option<i64>,
    /// Only this client.
    pub client_id: Option<i64>,
    /// Sort order.
    pub order: Option<Order>,
    /// Page size (clamped to 200; 0 = the API's default).
    pub limit: u64,
    /// Items to skip.
    pub offset: u64,
}

/// One page of a list call.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// `meta.total`, when sent.
    pub total: Option<u64>,
    /// `meta.offset` (else the requested offset).
    pub offset: u64,
    /// `meta.limit` (else the requested limit).
    pub limit: u64,
}

impl<T> Page<T> {
    /// True when a later page may hold more items.
    pub fn has_more(&self) -> bool {
        match self.total {
            Some(total) => self.offset + (self.items.len() as u64) < total,
            None => !self.items.is_empty() && self.items.len() as u64 >= self.limit,
        }
    }
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

#[cfg(test)]
mod tests;

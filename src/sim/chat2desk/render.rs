//! JSON shapes of the simulated objects, as `chat2desk-api.md` describes them.

use super::state::{ChannelRec, ClientRec, DialogRec, HookRec, MessageRec, OperatorRec, State};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// How the simulator prints times (the API is inconsistent, `chat2desk-api.md` §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeFormat {
    /// `"2019-07-28T23:01:40 UTC"` (message `created`, the default).
    UtcSuffix,
    /// `"2019-07-28T23:01:40Z"` (webhook `event_time`).
    Iso,
    /// `"28.07.2019 23:01:40"` in the simulator's naive zone.
    Dotted,
    /// `"2019-07-28 23:01:40"` in the simulator's naive zone.
    Naive,
    /// Unix seconds as a JSON number (request messages, the default there).
    Unix,
}

impl State {
    /// A time in `default` unless a format override is set.
    pub(super) fn time(&self, t: DateTime<Utc>, default: TimeFormat) -> Value {
        let local = t.with_timezone(&self.naive_zone);
        match self.time_format.unwrap_or(default) {
            TimeFormat::UtcSuffix => json!(t.format("%Y-%m-%dT%H:%M:%S UTC").to_string()),
            TimeFormat::Iso => json!(t.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
            TimeFormat::Dotted => json!(local.format("%d.%m.%Y %H:%M:%S").to_string()),
            TimeFormat::Naive => json!(local.format("%Y-%m-%d %H:%M:%S").to_string()),
            TimeFormat::Unix => json!(t.timestamp()),
        }
    }

    pub(super) fn message_json(&self, m: &MessageRec, format: TimeFormat) -> Value {
        let media = |field: &str| match &m.media {
            Some((f, url)) if *f == field => json!(url),
            _ => Value::Null,
        };
        json!({
            "id": m.id, "text": m.text, "type": m.kind, "transport": m.transport,
            "read": if m.read { "1" } else { "0" },
            "created": self.time(m.created, format),
            "client_id": m.client_id, "dialog_id": m.dialog_id, "request_id": m.request_id,
            "operator_id": m.operator_id, "channel_id": m.channel_id,
            "photo": media("photo"), "video": media("video"), "audio": media("audio"),
            "pdf": media("pdf"), "coordinates": null,
            "attachments": m.attachments.iter()
                .map(|(name, link)| json!({"name": name, "link": link})).collect::<Vec<_>>(),
            "remote_id": null, "recipient_status": null, "is_new": false,
            "external_id": m.external_id,
            "extra_data": {}, "ai_tips": null,
        })
    }

    /// A dialog: no `client_id` (doc §2), the client is in `last_message`.
    pub(super) fn dialog_json(&self, d: &DialogRec) -> Value {
        let messages: Vec<&MessageRec> = self
            .messages
            .values()
            .filter(|m| m.dialog_id == d.id)
            .collect();
        let last = messages
            .iter()
            .max_by_key(|m| (m.created, m.id))
            .map(|m| self.message_json(m, TimeFormat::UtcSuffix));
        json!({
            "id": d.id, "state": if d.open { "open" } else { "closed" },
            "begin": self.time(d.begin, TimeFormat::UtcSuffix),
            "end": d.end.map(|t| self.time(t, TimeFormat::UtcSuffix)),
            "operator_id": d.operator_id, "messages": messages.len(),
            "last_message": last,
        })
    }

    /// A request. Its real shape is undocumented (doc §2 "Requests"); these names are a guess.
    pub(super) fn request_json(&self, id: i64) -> Option<Value> {
        let r = self.requests.get(&id)?;
        Some(json!({
            "id": r.id, "dialog_id": r.dialog_id, "client_id": r.client_id,
            "operator_id": r.operator_id,
            "created": self.time(r.created, TimeFormat::UtcSuffix),
            "closed": r.closed.map(|t| self.time(t, TimeFormat::UtcSuffix)),
            "status": if r.closed.is_some() { "closed" } else { "open" },
            "tags": self.tags.of_request(r.id),
        }))
    }

    pub(super) fn client_json(&self, c: &ClientRec) -> Value {
        let first = self
            .messages
            .values()
            .find(|m| m.client_id == c.id && m.kind == "from_client");
        let last = self
            .messages
            .values()
            .rev()
            .find(|m| m.client_id == c.id && m.kind == "from_client");
        json!({
            "id": c.id, "name": c.name, "assigned_name": null, "phone": c.phone,
            "client_phone": c.client_phone, "avatar": null, "comment": null,
            "region_id": null, "country_id": null, "extra_comment_1": null,
            "extra_comment_2": null, "extra_comment_3": null, "external_id": null,
            "external_ids": {}, "custom_fields": {}, "tags": self.tags.of_client(c.id), "email": null,
            "first_client_message": first.map(|m| self.time(m.created, TimeFormat::UtcSuffix)),
            "last_client_message": last.map(|m| self.time(m.created, TimeFormat::UtcSuffix)),
            "channels": [{"id": c.channel_id, "transports": [c.transport]}],
        })
    }

    pub(super) fn operator_json(&self, o: &OperatorRec) -> Value {
        let opened = self
            .dialogs
            .values()
            .filter(|d| d.open && d.operator_id == Some(o.id))
            .count();
        json!({
            "id": o.id, "email": o.email, "phone": null, "first_name": o.first,
            "last_name": o.last, "role": "operator", "online": 1, "offline_type": null,
            "last_visit": null, "opened_dialogs": opened, "status_id": null,
            "external_id": null, "avatar": null, "two_factor": false,
        })
    }

    pub(super) fn channel_json(c: &ChannelRec) -> Value {
        json!({"id": c.id, "name": c.name, "phone": c.phone, "transports": c.transports})
    }

    pub(super) fn hook_json(h: &HookRec) -> Value {
        json!({"id": h.id, "url": h.url, "name": h.name, "events": h.events,
            "channels": h.channels, "errors": {}})
    }
}

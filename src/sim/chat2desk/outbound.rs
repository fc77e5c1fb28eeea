//! `POST /v1/messages` and `POST /v1/clients`: writing to clients, with the company's "write
//! first" option and scripted refusals.

use super::params::Params;
use super::service::{error, field_error, success, Service};
use super::state::State;
use crate::sim::http::SimResponse;
use serde_json::{json, Value};

impl Service {
    /// `POST /v1/messages`: an operator-side message to an existing client.
    pub(super) fn send_message(&self, p: &Params) -> SimResponse {
        self.with_events(|s| {
            s.writes.push(("/messages".into(), p.to_value()));
            match send(s, p) {
                Ok((id, events)) => {
                    let mut answer = message_answer(s, id);
                    answer.hold = s.message_answer_hold;
                    (answer, events)
                }
                Err(refusal) => (refusal, Vec::new()),
            }
        })
    }

    /// `POST /v1/clients`: a client who never wrote; an existing phone answers the
    /// documented 400 "Client already exist" with the id in `errors.client[1]` (VK).
    pub(super) fn create_client(&self, p: &Params) -> SimResponse {
        let mut s = self.state();
        s.writes.push(("/clients".into(), p.to_value()));
        let Some(phone) = p
            .text("phone")
            .map(|ph| ph.chars().filter(char::is_ascii_digit).collect::<String>())
            .filter(|ph| ph.len() >= 7)
        else {
            return field_error(400, "Validation failed", "phone", "is invalid");
        };
        let Some(transport) = p.text("transport").filter(|t| !t.is_empty()) else {
            return field_error(400, "Validation failed", "transport", "can't be blank");
        };
        if let Some(existing) = s.clients.values().find(|c| c.phone == phone) {
            let id = json!({"id": existing.id}).to_string();
            return SimResponse::json(
                400,
                &json!({"status": "error", "message": "Client already exist",
                    "errors": {"client": ["Client already exist", id]}}),
            );
        }
        let channel = match p.int("channel_id") {
            Some(c) if s.channels.contains_key(&c) => c,
            Some(_) => return field_error(400, "Validation failed", "channel_id", "not found"),
            None => s.default_channel(),
        };
        let name = p.text("nickname").unwrap_or_default();
        let id = s.add_client(&name, Some(&phone), &transport, channel);
        success(s.client_json(&s.clients[&id]))
    }
}

/// Validates and records one message; the refusal answers when it cannot be sent.
fn send(s: &mut State, p: &Params) -> Result<(i64, Vec<super::state::Event>), SimResponse> {
    let Some(client_id) = p.int("client_id") else {
        return Err(field_error(
            400,
            "Validation failed",
            "client_id",
            "can't be blank",
        ));
    };
    let Some(client) = s.clients.get(&client_id) else {
        return Err(field_error(
            400,
            "Validation failed",
            "client_id",
            "not found",
        ));
    };
    let text = p.text("text").filter(|t| !t.is_empty());
    let attachment = p.text("attachment").filter(|t| !t.is_empty());
    let pdf = p.text("pdf").filter(|t| !t.is_empty());
    if text.is_none() && attachment.is_none() && pdf.is_none() {
        return Err(field_error(
            400,
            "Validation failed",
            "text",
            "can't be blank",
        ));
    }
    let channel_id = p.int("channel_id").unwrap_or(client.channel_id);
    let Some(channel) = s.channels.get(&channel_id) else {
        return Err(field_error(
            400,
            "Validation failed",
            "channel_id",
            "not found",
        ));
    };
    let transport = p
        .text("transport")
        .unwrap_or_else(|| client.transport.clone());
    if !channel.transports.contains(&transport) {
        return Err(field_error(
            400,
            "Validation failed",
            "transport",
            "is not available on this channel",
        ));
    }
    let wrote = s
        .messages
        .values()
        .any(|m| m.client_id == client_id && m.kind == "from_client");
    if !wrote && !s.write_first {
        // The real text is in no source (chat2desk-api.md §6.6); this one is a stand-in.
        return Err(error(
            400,
            "Writing first is disabled for the company: the client has not written yet",
        ));
    }
    if let Some(text) = s.message_refusals.pop_front() {
        return Err(error(400, &text));
    }
    let media = attachment
        .map(|url| ("photo", url))
        .or_else(|| pdf.clone().map(|url| ("pdf", url)));
    let mut attachments = Vec::new();
    if let (Some(("photo", _)), Some(pdf)) = (&media, &pdf) {
        attachments.push(("document.pdf".to_string(), pdf.clone()));
    }
    s.post_via(
        client_id,
        (channel_id, transport),
        "to_client",
        text.as_deref(),
        p.int("operator_id"),
        media,
        attachments,
        p.text("external_id"),
    )
    .ok_or_else(|| field_error(400, "Validation failed", "client_id", "not found"))
}

/// The documented answer `data` of `POST /messages`.
fn message_answer(s: &State, id: i64) -> SimResponse {
    let m = &s.messages[&id];
    success(json!({
        "message_id": m.id, "channel_id": m.channel_id, "operator_id": m.operator_id,
        "transport": m.transport, "type": m.kind, "client_id": m.client_id,
        "dialog_id": m.dialog_id, "request_id": m.request_id,
    }))
}

impl Params {
    /// Every parameter as one JSON object (for the write log).
    pub fn to_value(&self) -> Value {
        Value::Object(self.0.clone())
    }
}

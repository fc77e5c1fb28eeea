//! A client's message as `imconnector.send.messages` takes it (doc §2.3): the client as the
//! user, the Chat2Desk message id and time, the text and every attachment as a file link.
//!
//! The chat is the Chat2Desk client (`chat.id` is the only routing key operators' replies
//! carry, doc §3.2), so it must name the client uniquely: `c2d-<client id>`.

use crate::chat2desk::Message;
use crate::portal::{escape, escape_inline};
use serde_json::{json, Value};

/// The external chat (and user) id of a Chat2Desk client.
pub fn chat_key(client_id: i64) -> String {
    format!("c2d-{client_id}")
}

/// What the line shows about the client.
#[derive(Debug, Clone, Default)]
pub struct ClientSide {
    /// Chat2Desk client id.
    pub client_id: i64,
    /// Display name.
    pub name: Option<String>,
    /// A real phone in E.164, when the client has one (the portal's CRM tracker uses it).
    pub phone: Option<String>,
    /// Link to the chat in Chat2Desk's web app.
    pub chat_url: Option<String>,
}

/// One element of `MESSAGES`.
///
/// The client's name, text and file names go through the transcripts' escaping: the line
/// shows `text` as BB-code, so a client's `[url=…]` or `[b]` must reach the operators inert.
///
/// A client without a phone is sent with `disable_crm: "Y"` (doc §2.3: no auto lead or
/// contact). The line's CRM integration would make a lead for such a chat that the daemon
/// cannot find again: the docs name no method from a chat to its CRM binding
/// (`imopenlines.crm.chat.get` is not among them), and the phone is the only key the daemon
/// passes. So the daemon's own lead, made when the request closes, stays the client's one.
pub fn client_message(client: &ClientSide, message: &Message) -> Value {
    let name = client
        .name
        .as_deref()
        .map(escape_inline)
        .filter(|n| !n.is_empty());
    let mut user = json!({ "id": chat_key(client.client_id) });
    if let Some(name) = &name {
        user["name"] = json!(name);
    }
    if let Some(phone) = &client.phone {
        user["phone"] = json!(phone);
        // Numbers of other countries may fail the portal's own check (doc §2.3).
        user["skip_phone_validate"] = json!("Y");
    }
    let mut body = json!({ "id": format!("c2d-msg-{}", message.id) });
    if client.phone.is_none() {
        body["disable_crm"] = json!("Y");
    }
    if let Some(at) = message.created {
        body["date"] = json!(at.timestamp());
    }
    let mut text = message.text.clone().unwrap_or_default();
    if let Some(coords) = &message.coordinates {
        text = format!("{text}\nГеопозиция: {coords}");
    }
    let text = escape(text.trim());
    if !text.trim().is_empty() {
        body["text"] = json!(text);
    }
    if !message.attachments.is_empty() {
        body["files"] = json!(message
            .attachments
            .iter()
            .map(|a| json!({"url": a.url, "name": escape_inline(&a.name)}))
            .collect::<Vec<_>>());
    }
    let mut chat = json!({ "id": chat_key(client.client_id) });
    if let Some(name) = &name {
        chat["name"] = json!(name);
    }
    if let Some(url) = &client.chat_url {
        chat["url"] = json!(url);
    }
    json!({ "user": user, "message": body, "chat": chat })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat2desk::{Attachment, AttachmentKind, MessageKind};

    #[test]
    fn a_client_message_carries_user_text_files_and_chat() {
        let message = Message {
            id: 106_773_169,
            text: Some("Добрый день".into()),
            kind: MessageKind::FromClient,
            created: chrono::DateTime::from_timestamp(1_773_265_993, 0),
            client_id: Some(5512),
            dialog_id: Some(9),
            request_id: Some(1),
            operator_id: None,
            channel_id: Some(17),
            transport: Some("whatsapp".into()),
            read: None,
            attachments: vec![Attachment {
                kind: AttachmentKind::Photo,
                name: "abc.jpg".into(),
                url: "https://files.example/abc.jpg".into(),
            }],
            coordinates: None,
            external_id: None,
        };
        let client = ClientSide {
            client_id: 5512,
            name: Some("Иван".into()),
            phone: Some("+79161234567".into()),
            chat_url: Some("https://web.chat2desk.com/chat/all?dialogID=9".into()),
        };
        let m = client_message(&client, &message);
        assert_eq!(m["user"]["id"], "c2d-5512");
        assert_eq!(m["user"]["phone"], "+79161234567");
        assert_eq!(m["message"]["id"], "c2d-msg-106773169");
        assert_eq!(m["message"]["date"], 1_773_265_993);
        assert_eq!(m["message"]["text"], "Добрый день");
        assert_eq!(
            m["message"]["files"],
            json!([{"url": "https://files.example/abc.jpg", "name": "abc.jpg"}])
        );
        assert_eq!(m["chat"]["id"], "c2d-5512");
        assert_eq!(
            m["chat"]["url"],
            "https://web.chat2desk.com/chat/all?dialogID=9"
        );
        assert!(m["message"].get("disable_crm").is_none());
    }

    #[test]
    fn bb_codes_of_a_client_reach_the_line_inert_and_no_phone_means_no_line_lead() {
        let message = Message {
            id: 7,
            text: Some("[url=https://evil.example]жми[/url] [b]срочно[/b]".into()),
            kind: MessageKind::FromClient,
            created: None,
            client_id: Some(1),
            dialog_id: None,
            request_id: None,
            operator_id: None,
            channel_id: Some(17),
            transport: None,
            read: None,
            attachments: vec![],
            coordinates: None,
            external_id: None,
        };
        let client = ClientSide {
            client_id: 1,
            name: Some("[b]Админ[/b]".into()),
            ..ClientSide::default()
        };
        let m = client_message(&client, &message);
        let text = m["message"]["text"].as_str().unwrap();
        assert!(!text.contains("[url") && !text.contains("[b]"), "{text}");
        assert_eq!(text.replace('\u{200B}', ""), message.text.unwrap());
        assert_eq!(m["user"]["name"], "[\u{200B}b]Админ[\u{200B}/b]");
        assert_eq!(m["chat"]["name"], m["user"]["name"]);
        assert_eq!(m["message"]["disable_crm"], "Y");
    }
}

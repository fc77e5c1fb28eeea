//! A client's message as `imconnector.send.messages` takes it (doc §2.3): the client as the
//! user, the Chat2Desk message id and time, the text and every attachment as a file link.
//!
//! The chat is the Chat2Desk client (`chat.id` is the only routing key operators' replies
//! carry, doc §3.2), so it must name the client uniquely: `c2d-<client id>`.

use crate::chat2desk::Message;
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
pub fn client_message(client: &ClientSide, message: &Message) -> Value {
    let mut user = json!({ "id": chat_key(client.client_id) });
    if let Some(name) = client.name.as_deref().filter(|n| !n.trim().is_empty()) {
        user["name"] = json!(name);
    }
    if let Some(phone) = &client.phone {
        user["phone"] = json!(phone);
        // Numbers of other countries may fail the portal's own check (doc §2.3).
        user["skip_phone_validate"] = json!("Y");
    }
    let mut body = json!({ "id": format!("c2d-msg-{}", message.id) });
    if let Some(at) = message.created {
        body["date"] = json!(at.timestamp());
    }
    if let Some(text) = message.text.as_deref().filter(|t| !t.trim().is_empty()) {
        body["text"] = json!(text);
    }
    if !message.attachments.is_empty() {
        body["files"] = json!(message
            .attachments
            .iter()
            .map(|a| json!({"url": a.url, "name": a.name}))
            .collect::<Vec<_>>());
    }
    if let Some(coords) = &message.coordinates {
        let text = body["text"].as_str().unwrap_or_default().to_string();
        body["text"] = json!(format!("{text}\nГеопозиция: {coords}").trim().to_string());
    }
    let mut chat = json!({ "id": chat_key(client.client_id) });
    if let Some(name) = &client.name {
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
    }
}

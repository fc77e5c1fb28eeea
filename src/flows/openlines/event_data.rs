//! What the portal's offline events carry, read leniently (IDs as strings or numbers,
//! lists form-encoded as maps): the operators' replies of `OnImConnectorMessageAdd`
//! (doc §3.2) and the value helpers the other event readers share.

use super::{OperatorReply, PortalFile};
use serde_json::Value;

/// The replies of one `OnImConnectorMessageAdd` event (doc §3.2): one per `MESSAGES`
/// element with a chat id and an IM message id. IDs come as strings or numbers.
pub fn replies_of(event: &Value, process_id: &str) -> Vec<OperatorReply> {
    let data = &event["EVENT_DATA"];
    let Some(line) = int(&data["LINE"]) else {
        return Vec::new();
    };
    let event_message_id = text(&event["MESSAGE_ID"]).unwrap_or_default();
    let raised_at = text(&event["TIMESTAMP_X"]);
    elements(&data["MESSAGES"])
        .iter()
        .filter_map(|m| {
            let chat_id = text(&m["chat"]["id"])?;
            let im_message_id = text(&m["im"]["message_id"])?;
            let body = &m["message"];
            let files = elements(&body["files"]);
            Some(OperatorReply {
                line,
                chat_id,
                im: m["im"].clone(),
                im_message_id,
                text: text(&body["text"]).unwrap_or_default(),
                files: files
                    .iter()
                    .filter_map(|f| {
                        Some(PortalFile {
                            link: text(&f["link"])?,
                            name: text(&f["name"]).unwrap_or_else(|| "file".into()),
                        })
                    })
                    .collect(),
                event_message_id: event_message_id.clone(),
                process_id: process_id.to_string(),
                raised_at: raised_at.clone(),
            })
        })
        .collect()
}

/// The elements of a list, also when form encoding turned it into a map keyed 0, 1, …
pub(super) fn elements(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(items) => items.clone(),
        Value::Object(map) => map.values().cloned().collect(),
        _ => Vec::new(),
    }
}

/// A string or a number as text.
pub(super) fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A number, also when sent as a string.
pub(super) fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_reply_event_of_doc_3_2_is_read() {
        let event = json!({
            "ID": "42", "TIMESTAMP_X": "2026-11-25T12:00:01+03:00",
            "EVENT_NAME": "ONIMCONNECTORMESSAGEADD",
            "EVENT_DATA": {"CONNECTOR": "chat2desk", "LINE": "3", "MESSAGES": [{
                "im": {"chat_id": "1807", "message_id": 86497},
                "message": {"user_id": "27", "text": "[b]Ольга Смирнова:[/b][br] Здравствуйте!",
                    "files": [{"name": "offer.pdf", "type": "file",
                               "link": "https://portal.corp/~Xy12A", "size": 48213}],
                    "attachments": [], "params": {}},
                "chat": {"id": "c2d-client-5512"}, "attachments_old": []}]},
            "EVENT_ADDITIONAL": {"user_id": "27"},
            "MESSAGE_ID": "9b1c0000000000000000000000000032",
        });
        let replies = replies_of(&event, "p1");
        assert_eq!(replies.len(), 1);
        let r = &replies[0];
        assert_eq!(r.line, 3);
        assert_eq!(r.im_message_id, "86497");
        assert_eq!(r.im, json!({"chat_id": "1807", "message_id": 86497}));
        assert_eq!(r.chat_id, "c2d-client-5512");
        assert_eq!(
            r.files,
            [PortalFile {
                name: "offer.pdf".into(),
                link: "https://portal.corp/~Xy12A".into()
            }]
        );
        assert_eq!(r.event_message_id, "9b1c0000000000000000000000000032");
        assert_eq!(r.process_id, "p1");
        // An element without an IM message id cannot be keyed: skipped.
        let mut broken = event.clone();
        broken["EVENT_DATA"]["MESSAGES"][0]["im"] = json!({});
        assert!(replies_of(&broken, "p1").is_empty());
    }
}

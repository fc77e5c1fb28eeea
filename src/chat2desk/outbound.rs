//! Writing to clients: find a client by phone, create one ("write first"), send a message.
//! `POST /clients` and `POST /messages` are writes: the client never repeats them when their
//! fate is unknown, so the caller decides (look for the message before sending again).

use super::client::{data, object, unexpected, Chat2Desk};
use super::error::Chat2DeskError;
use super::lenient::{int, text};
use super::models::Client;
use reqwest::Method;
use serde::Serialize;
use serde_json::Value;

/// The body of `POST /v1/messages` (`chat2desk-api.md` §2 "Messages").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NewMessage {
    /// The client (required).
    pub client_id: i64,
    /// Text (required unless `attachment` or `pdf`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub text: String,
    /// Channel; `None` = the channel of the client's last message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<i64>,
    /// Transport; `None` = the transport of the client's last message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transport: Option<String>,
    /// A direct image URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachment: Option<String>,
    /// A direct PDF URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pdf: Option<String>,
    /// Our key for the message, to recognise it in `GET /messages` after an ambiguous
    /// failure (documented by BR and DG; whether it is echoed is unsure).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// The operator the message is attributed to; `None` = the company.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operator_id: Option<i64>,
    /// Message type; always `to_client` here.
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// What `POST /v1/messages` answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    /// The new message's id.
    pub message_id: i64,
    /// The channel it went through, when told.
    pub channel_id: Option<i64>,
    /// The transport it went through, when told.
    pub transport: Option<String>,
}

impl Chat2Desk {
    /// `GET /v1/clients?phone=<digits>`: the clients with this phone (a list, maybe empty).
    pub async fn clients_by_phone(&self, digits: &str) -> Result<Vec<Client>, Chat2DeskError> {
        let v = self
            .call(
                Method::GET,
                "/clients",
                &[("phone", digits.to_string())],
                None,
            )
            .await?;
        Ok(match data(&v) {
            Value::Array(items) => items.iter().filter_map(Client::from_json).collect(),
            Value::Null => Vec::new(),
            other => Client::from_json(&other).into_iter().collect(),
        })
    }

    /// `POST /v1/clients {phone, transport, channel_id}` → the client id. A phone that
    /// already has a client answers 400 "Client already exist" with the existing id inside
    /// `errors.client[1]` (a JSON string, VK): that id is returned too, so a repeated create
    /// after a crash finds what the first one made.
    pub async fn create_client(
        &self,
        digits: &str,
        transport: &str,
        channel_id: i64,
    ) -> Result<i64, Chat2DeskError> {
        let body =
            serde_json::json!({"phone": digits, "transport": transport, "channel_id": channel_id});
        match self.call(Method::POST, "/clients", &[], Some(&body)).await {
            Ok(v) => {
                let d = object(&v);
                int(d.get("id"))
                    .or_else(|| int(d.get("client_id")))
                    .ok_or_else(|| unexpected("/clients", "no client id in the answer"))
            }
            Err(e) => existing_client(&e).ok_or(e),
        }
    }

    /// `POST /v1/messages`.
    pub async fn send_message(&self, m: &NewMessage) -> Result<SentMessage, Chat2DeskError> {
        let body = serde_json::to_value(m).map_err(|e| unexpected("/messages", &e.to_string()))?;
        let v = self
            .call(Method::POST, "/messages", &[], Some(&body))
            .await?;
        let d = object(&v);
        let message_id = int(d.get("message_id"))
            .or_else(|| int(d.get("id")))
            .ok_or_else(|| unexpected("/messages", "no message_id in the answer"))?;
        Ok(SentMessage {
            message_id,
            channel_id: int(d.get("channel_id")),
            transport: text(d.get("transport")),
        })
    }
}

/// The id inside a "Client already exist" refusal, if that is what `e` is.
fn existing_client(e: &Chat2DeskError) -> Option<i64> {
    let Chat2DeskError::Api {
        message, errors, ..
    } = e
    else {
        return None;
    };
    let texts: Vec<&String> = errors.values().flatten().collect();
    let says_exists = std::iter::once(message)
        .chain(texts.iter().copied())
        .any(|t| t.to_ascii_lowercase().contains("already exist"));
    if !says_exists {
        return None;
    }
    texts.iter().find_map(|t| {
        let v: Value = serde_json::from_str(t).ok()?;
        int(v.get("id")).or_else(|| int(v.get("client_id")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn reads_the_existing_client_id() {
        let e = Chat2DeskError::Api {
            endpoint: "POST /v1/clients".into(),
            status: 400,
            message: "Validation failed".into(),
            errors: BTreeMap::from([(
                "client".to_string(),
                vec![
                    "Client already exist".to_string(),
                    "{\"id\":5512}".to_string(),
                ],
            )]),
        };
        assert_eq!(existing_client(&e), Some(5512));
        let other = Chat2DeskError::Api {
            endpoint: "POST /v1/clients".into(),
            status: 400,
            message: "Validation failed".into(),
            errors: BTreeMap::from([("phone".to_string(), vec!["{\"id\":1}".to_string()])]),
        };
        assert_eq!(existing_client(&other), None);
    }
}

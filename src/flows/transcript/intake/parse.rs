//! Turning a delivery body into what the intake does with it.
//!
//! The `close_request` and `close_dialog` bodies are undocumented (`chat2desk-api.md` §3 and
//! open question 4): ids are read leniently (numbers or digit strings, at the top level or in
//! a nested `request` / `dialog` object), and a `close_request` that only names its dialog is
//! handled like a `close_dialog`.

use crate::chat2desk::{Client, Message, MessageKind, WebhookEvent};
use serde_json::Value;

/// What a delivery asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// A request closed: enqueue it.
    Closed {
        /// `hook_type` of the event.
        hook_type: String,
        /// The Chat2Desk request id.
        request_id: i64,
    },
    /// A dialog closed and the body does not name the request: look it up over the API.
    DialogClosed {
        /// `hook_type` of the event.
        hook_type: String,
        /// The Chat2Desk dialog id.
        dialog_id: i64,
    },
    /// A client changed (`client_updated`): its cached copy is dropped so the next job reads
    /// it again.
    ClientUpdated {
        /// `hook_type` of the event.
        hook_type: String,
        /// The Chat2Desk client id.
        client_id: i64,
    },
    /// A request's tags changed (`add_tag_to_request`, `delete_tag_from_request`): a request
    /// a `[crm.filter]` rule kept out is looked at again.
    RequestTagged {
        /// `hook_type` of the event.
        hook_type: String,
        /// The Chat2Desk request id.
        request_id: i64,
    },
    /// A client wrote (`inbox`, `type: from_client`): the Open Lines bridge may pass it on.
    Inbox {
        /// `hook_type` of the event.
        hook_type: String,
        /// The message, whole.
        message: Box<Message>,
        /// The client object the delivery carried.
        client: Option<Box<Client>>,
    },
    /// An operator (or the API) wrote to a client (`outbox`, `type: to_client`): it ends the
    /// client's wait for an answer.
    Outbox {
        /// `hook_type` of the event.
        hook_type: String,
        /// The message, whole.
        message: Box<Message>,
    },
    /// Any other event: acknowledge and count, nothing else.
    Other {
        /// `hook_type` of the event.
        hook_type: String,
    },
}

impl Delivery {
    /// The event's `hook_type`.
    pub fn hook_type(&self) -> &str {
        match self {
            Delivery::Closed { hook_type, .. }
            | Delivery::DialogClosed { hook_type, .. }
            | Delivery::ClientUpdated { hook_type, .. }
            | Delivery::RequestTagged { hook_type, .. }
            | Delivery::Inbox { hook_type, .. }
            | Delivery::Outbox { hook_type, .. }
            | Delivery::Other { hook_type } => hook_type,
        }
    }
}

/// Why a body was refused (answered 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not JSON at all.
    #[error("body is not JSON ({0})")]
    NotJson(String),
    /// JSON, but not an object with a `hook_type`.
    #[error("body is not a JSON object with a hook_type")]
    NoHookType,
    /// A close event naming neither a request nor a dialog.
    #[error("{0} event names neither request_id nor dialog_id")]
    NoIds(String),
}

/// Decodes a delivery body.
pub fn parse_delivery(body: &[u8]) -> Result<Delivery, ParseError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| ParseError::NotJson(e.to_string()))?;
    if !value.is_object() {
        return Err(ParseError::NoHookType);
    }
    let event =
        WebhookEvent::from_json(&value, chrono_tz::Tz::UTC).ok_or(ParseError::NoHookType)?;
    let hook_type = event.hook_type.trim().to_string();
    if hook_type.is_empty() {
        return Err(ParseError::NoHookType);
    }
    if hook_type == "client_updated" {
        // The body is a client object at the top level (`chat2desk-api.md` §3, unsure): its
        // `id`, else `client_id`, else a nested `client.id`.
        let client_id = lenient_id(value.get("id"))
            .or(event.client_id)
            .or_else(|| event.client.as_ref().map(|c| c.id))
            .filter(|id| *id > 0);
        return Ok(match client_id {
            Some(client_id) => Delivery::ClientUpdated {
                hook_type,
                client_id,
            },
            None => Delivery::Other { hook_type },
        });
    }
    if let Some(tagged) = tag_change(&hook_type, &event, &value) {
        return Ok(tagged);
    }
    if hook_type == "inbox" {
        return Ok(match event.message {
            Some(message) if message.kind == MessageKind::FromClient => Delivery::Inbox {
                hook_type,
                message: Box::new(message),
                client: event.client.map(Box::new),
            },
            _ => Delivery::Other { hook_type },
        });
    }
    if hook_type == "outbox" {
        return Ok(match event.message {
            Some(message) if message.kind == MessageKind::ToClient => Delivery::Outbox {
                hook_type,
                message: Box::new(message),
            },
            _ => Delivery::Other { hook_type },
        });
    }
    if hook_type != "close_request" && hook_type != "close_dialog" {
        return Ok(Delivery::Other { hook_type });
    }
    let nested = |object: &str| value.get(object).and_then(|o| lenient_id(o.get("id")));
    let request_id = event
        .request_id
        .or_else(|| nested("request"))
        .filter(|id| *id > 0);
    let dialog_id = event
        .dialog_id
        .or_else(|| nested("dialog"))
        .filter(|id| *id > 0);
    match (request_id, dialog_id) {
        (Some(request_id), _) => Ok(Delivery::Closed {
            hook_type,
            request_id,
        }),
        (None, Some(dialog_id)) => Ok(Delivery::DialogClosed {
            hook_type,
            dialog_id,
        }),
        (None, None) => Err(ParseError::NoIds(hook_type)),
    }
}

fn lenient_id(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A tag put on or taken off a client or a request. The bodies are undocumented
/// (`chat2desk-api.md` §3 names the events only): the client or request id is read from
/// `client_id` / `request_id` or a nested object, never from `id` (which may be the tag's).
/// A client's change drops its cached copy like `client_updated`.
fn tag_change(hook_type: &str, event: &WebhookEvent, value: &Value) -> Option<Delivery> {
    let nested = |object: &str| value.get(object).and_then(|o| lenient_id(o.get("id")));
    let hook_type = hook_type.to_string();
    match hook_type.as_str() {
        "add_tag_to_client" | "delete_tag_from_client" => {
            let client_id = event.client_id.or_else(|| nested("client"))?;
            Some(Delivery::ClientUpdated {
                hook_type,
                client_id,
            })
        }
        "add_tag_to_request" | "delete_tag_from_request" => {
            let request_id = event.request_id.or_else(|| nested("request"))?;
            Some(Delivery::RequestTagged {
                hook_type,
                request_id,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Delivery, ParseError> {
        parse_delivery(text.as_bytes())
    }

    #[test]
    fn close_events_name_their_request_or_dialog() {
        assert_eq!(
            parse(r#"{"hook_type":"close_request","request_id":77,"dialog_id":5}"#),
            Ok(Delivery::Closed {
                hook_type: "close_request".into(),
                request_id: 77
            })
        );
        assert_eq!(
            parse(r#"{"hook_type":"close_dialog","request_id":"78"}"#),
            Ok(Delivery::Closed {
                hook_type: "close_dialog".into(),
                request_id: 78
            })
        );
        assert_eq!(
            parse(r#"{"hook_type":"close_dialog","dialog_id":9}"#),
            Ok(Delivery::DialogClosed {
                hook_type: "close_dialog".into(),
                dialog_id: 9
            })
        );
        assert_eq!(
            parse(r#"{"hook_type":"close_request","request":{"id":12}}"#),
            Ok(Delivery::Closed {
                hook_type: "close_request".into(),
                request_id: 12
            })
        );
    }

    #[test]
    fn client_updated_names_its_client() {
        assert_eq!(
            parse(r#"{"hook_type":"client_updated","id":"41","name":"Ann"}"#),
            Ok(Delivery::ClientUpdated {
                hook_type: "client_updated".into(),
                client_id: 41
            })
        );
        assert_eq!(
            parse(r#"{"hook_type":"client_updated","client":{"id":42}}"#),
            Ok(Delivery::ClientUpdated {
                hook_type: "client_updated".into(),
                client_id: 42
            })
        );
        assert_eq!(
            parse(r#"{"hook_type":"client_updated"}"#),
            Ok(Delivery::Other {
                hook_type: "client_updated".into()
            })
        );
    }

    #[test]
    fn tag_events_name_the_client_or_request_never_the_tag() {
        assert_eq!(
            parse(r#"{"hook_type":"add_tag_to_client","id":7,"client_id":41}"#),
            Ok(Delivery::ClientUpdated {
                hook_type: "add_tag_to_client".into(),
                client_id: 41
            })
        );
        assert_eq!(
            parse(r#"{"hook_type":"delete_tag_from_request","id":7,"request":{"id":"88"}}"#),
            Ok(Delivery::RequestTagged {
                hook_type: "delete_tag_from_request".into(),
                request_id: 88
            })
        );
        assert_eq!(
            parse(r#"{"hook_type":"add_tag_to_request","id":7}"#),
            Ok(Delivery::Other {
                hook_type: "add_tag_to_request".into()
            })
        );
    }

    #[test]
    fn other_events_are_acknowledged_and_garbage_refused() {
        assert_eq!(
            parse(r#"{"hook_type":"inbox","message_id":1,"request_id":3}"#),
            Ok(Delivery::Other {
                hook_type: "inbox".into()
            })
        );
        let inbox = parse(
            r#"{"hook_type":"inbox","message_id":7,"type":"from_client","text":"Hi","channel_id":17,"client_id":100,"client":{"id":100,"name":"Peter"}}"#,
        );
        let Ok(Delivery::Inbox {
            message, client, ..
        }) = inbox
        else {
            panic!("an inbox message is bridged: {inbox:?}");
        };
        assert_eq!((message.id, message.channel_id), (7, Some(17)));
        assert_eq!(client.unwrap().name.as_deref(), Some("Peter"));
        assert!(matches!(parse("not json"), Err(ParseError::NotJson(_))));
        assert_eq!(parse("[1,2]"), Err(ParseError::NoHookType));
        assert_eq!(parse(r#"{"request_id":3}"#), Err(ParseError::NoHookType));
        assert_eq!(
            parse(r#"{"hook_type":"close_request"}"#),
            Err(ParseError::NoIds("close_request".into()))
        );
    }
}

//! Looking in an Open Lines chat for a message the connector pushed, when the answer of its
//! `imconnector.send.messages` was never recorded (the daemon was killed, or the call timed
//! out). The method has no idempotency key (doc §2.3), so an ambiguous push is resolved by
//! reading the chat, never by pushing blindly.
//!
//! The chat is read with `im.dialog.messages.get` under the local application's token (scope
//! `im`); the pushed `message.id` comes back as the message's `CONNECTOR_MID` parameter
//! (doc §2.3). `bitrix24-apps.md` does not describe this method: its shape follows
//! Bitrix24's public REST reference, and whether the app's user may read every line's chat
//! on a given box is unknown.
//!
//! The IM chat is learnt from the first answered push of a chat (or an operator's event):
//! before that — the very first push of a chat left unanswered — the message is looked for
//! with `imconnector.update.messages` and the same element, which finds a pushed message by
//! `message.id` + `chat.id` + `user.id` (doc §2.3) and fails the element when there is none;
//! a found message gets the text it already has. When neither way gives an answer (an
//! answered error), the caller pushes again, as before this lookup existed.

use crate::portal::{id_from_value, AppClient, BitrixError};
use serde_json::{json, Value};

/// The reading method.
pub(super) const METHOD: &str = "im.dialog.messages.get";
/// The method that finds a pushed message without knowing its IM chat.
pub(super) const UPDATE_METHOD: &str = "imconnector.update.messages";
/// The newest messages read: a chat's pushes run one at a time, so the one in doubt is among
/// the last few.
const LIMIT: u64 = 50;

/// What the chat says about a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum InChat {
    /// The message is there: its IM message id, when the chat was read.
    Found(Option<i64>),
    /// The chat was read and the message is not there: the push did not land.
    Absent,
    /// The chat could not be read: why (the caller pushes again).
    Unreadable(String),
}

/// Looks for the message pushed with `message.id` = `pushed_id` in IM chat `im_chat`.
/// Transport failures are errors (the job retries later and looks again); an answered
/// refusal is [`InChat::Unreadable`].
pub(super) async fn find_pushed(
    app: &AppClient,
    im_chat: i64,
    pushed_id: &str,
) -> Result<InChat, BitrixError> {
    let params = json!({ "DIALOG_ID": format!("chat{im_chat}"), "LIMIT": LIMIT });
    let answer = match app.call(METHOD, params).await {
        Ok(answer) => answer,
        Err(e @ (BitrixError::Api { .. } | BitrixError::Config { .. })) => {
            return Ok(InChat::Unreadable(format!("{e} ({})", e.hint())))
        }
        Err(e) => return Err(e),
    };
    let messages = answer
        .get("messages")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let found = messages
        .iter()
        .find(|m| carries(m, pushed_id))
        .and_then(|m| m.get("id").and_then(id_from_value));
    Ok(found.map_or(InChat::Absent, |id| InChat::Found(Some(id))))
}

/// Looks for the message of `params` (the `imconnector.send.messages` parameters of the
/// push in doubt, one element) by updating it to what it already says.
pub(super) async fn find_by_update(app: &AppClient, params: Value) -> Result<InChat, BitrixError> {
    let answer = match app.call(UPDATE_METHOD, params).await {
        Ok(answer) => answer,
        Err(e @ (BitrixError::Api { .. } | BitrixError::Config { .. })) => {
            return Ok(InChat::Unreadable(format!("{e} ({})", e.hint())))
        }
        Err(e) => return Err(e),
    };
    let success = |v: &Value| {
        v.get("SUCCESS")
            .is_some_and(|s| s == &json!(true) || s == &json!("Y") || s == &json!(1))
    };
    Ok(match answer.pointer("/DATA/RESULT/0") {
        Some(element) if success(&answer) && success(element) => InChat::Found(None),
        Some(_) if success(&answer) => InChat::Absent,
        _ => InChat::Unreadable(format!("{UPDATE_METHOD} answered {answer}")),
    })
}

/// True when `message`'s `CONNECTOR_MID` parameter (a string or a list of them, any key
/// case) names `pushed_id`.
fn carries(message: &Value, pushed_id: &str) -> bool {
    let Some(Value::Object(params)) = message.get("params") else {
        return false;
    };
    let mid = params
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("CONNECTOR_MID"))
        .map(|(_, v)| v);
    match mid {
        Some(Value::String(s)) => s == pushed_id,
        Some(Value::Array(items)) => items.iter().any(|i| i.as_str() == Some(pushed_id)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connector_mid_names_the_push_as_a_string_or_a_list() {
        let listed = json!({"id": 9, "params": {"CONNECTOR_MID": ["c2d-msg-7"]}});
        let plain = json!({"id": "9", "params": {"connector_mid": "c2d-msg-7"}});
        assert!(carries(&listed, "c2d-msg-7"));
        assert!(carries(&plain, "c2d-msg-7"));
        assert!(!carries(&listed, "c2d-msg-8"));
        assert!(!carries(&json!({"id": 9, "params": []}), "c2d-msg-7"));
    }
}

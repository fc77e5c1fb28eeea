//! Reading an Open Lines chat: `im.dialog.messages.get` (scope `im`), the way the daemon
//! looks for a message whose `imconnector.send.messages` answer it never read, and
//! `imconnector.update.messages`, which finds a pushed message by `message.id` + `chat.id`
//! + `user.id` (doc §2.3) and fails the element when there is none.
//!
//! The line's chat holds the clients' messages the connector pushed (each with the pushed
//! `message.id` as its `CONNECTOR_MID` parameter, `bitrix24-apps.md` §2.3) and the
//! operators' replies. The shapes follow Bitrix24's public REST reference, which
//! `bitrix24-apps.md` does not cover: `DIALOG_ID` `chat<id>`, `LIMIT` (default 20, at most
//! 50), `LAST_ID` (only older messages), newest first, `{chat_id, messages, users, files}`.
//! Who may read an Open Lines chat on a real box (the app's admin user, an operator only)
//! is not documented; the simulator lets any caller with the `im` scope read it.

use super::connector::messages_on_active_line;
use super::state::State;
use super::values::{int, param, text};
use super::{ApiError, Reply};
use serde_json::{json, Value};

/// The most messages one call returns.
const MAX_LIMIT: usize = 50;

/// One message of an IM chat.
#[derive(Debug, Clone)]
pub(crate) struct ChatMessage {
    pub(crate) id: i64,
    pub(crate) chat_id: i64,
    pub(crate) author_id: i64,
    pub(crate) date: String,
    pub(crate) text: String,
    pub(crate) params: Value,
}

/// Adds a client's message the connector pushed (`message.id` becomes `CONNECTOR_MID`).
pub(crate) fn pushed(
    log: &mut Vec<ChatMessage>,
    im: (i64, i64),
    author_id: i64,
    mid: &str,
    text: &str,
) {
    let (chat_id, id) = im;
    log.push(ChatMessage {
        id,
        chat_id,
        author_id,
        date: super::state::now_iso(),
        text: text.to_string(),
        params: json!({"CONNECTOR_MID": [mid]}),
    });
}

/// Adds an operator's reply.
pub(crate) fn replied(log: &mut Vec<ChatMessage>, im: (i64, i64), author_id: i64, text: &str) {
    let (chat_id, id) = im;
    log.push(ChatMessage {
        id,
        chat_id,
        author_id,
        date: super::state::now_iso(),
        text: text.to_string(),
        params: json!({}),
    });
}

/// `im.dialog.messages.get`.
pub(crate) fn messages_get(state: &State, params: &Value) -> Result<Reply, ApiError> {
    let dialog = param(params, &["DIALOG_ID", "dialog_id"])
        .and_then(text)
        .filter(|d| !d.trim().is_empty())
        .ok_or_else(|| ApiError::new(400, "DIALOG_ID_EMPTY", "Dialog ID can't be empty"))?;
    let chat_id = dialog
        .trim()
        .strip_prefix("chat")
        .and_then(|n| n.parse::<i64>().ok())
        .filter(|id| state.connectors.chat_log.iter().any(|m| m.chat_id == *id))
        .ok_or_else(|| {
            ApiError::new(
                400,
                "ACCESS_ERROR",
                "You do not have access to the specified dialog",
            )
        })?;
    let limit = param(params, &["LIMIT", "limit"])
        .and_then(int)
        .map_or(20, |l| l.clamp(1, MAX_LIMIT as i64) as usize);
    let before = param(params, &["LAST_ID", "last_id"]).and_then(int);
    let mut found: Vec<&ChatMessage> = state
        .connectors
        .chat_log
        .iter()
        .filter(|m| m.chat_id == chat_id && before.is_none_or(|b| m.id < b))
        .collect();
    found.sort_by_key(|m| std::cmp::Reverse(m.id));
    let messages: Vec<Value> = found
        .into_iter()
        .take(limit)
        .map(|m| {
            json!({
                "id": m.id, "chat_id": m.chat_id, "author_id": m.author_id,
                "date": m.date, "text": m.text, "params": m.params,
            })
        })
        .collect();
    Ok(Reply::of(json!({
        "chat_id": chat_id, "messages": messages, "users": [], "files": [],
    })))
}

/// `imconnector.update.messages`: each element names a pushed message by `message.id`,
/// `chat.id` and `user.id`; a found one takes the new text, an unknown one fails its
/// element (`SUCCESS:false`, as `send.messages` reports per-message failures).
pub(crate) fn update_messages(state: &mut State, params: &Value) -> Result<Reply, ApiError> {
    let (line, messages) = messages_on_active_line(state, params)?;
    let mut results = Vec::new();
    for m in messages {
        let key = |path: &str| m.pointer(path).and_then(text).unwrap_or_default();
        let (user, chat, mid) = (key("/user/id"), key("/chat/id"), key("/message/id"));
        let new_text = m.pointer("/message/text").and_then(text);
        let c = &mut state.connectors;
        let found = c.messages.iter_mut().find(|p| {
            p.line == line && p.chat_id == chat && p.user_id == user && p.message_id == mid
        });
        let Some(pushed) = found else {
            results.push(json!({"SUCCESS": false, "ERRORS": [{
                "code": "MESSAGE_NOT_FOUND", "message": "The message was not found"}]}));
            continue;
        };
        if let Some(t) = &new_text {
            pushed.text = t.clone();
            let mid_json = json!([mid]);
            for logged in c.chat_log.iter_mut() {
                if logged.params.get("CONNECTOR_MID") == Some(&mid_json) {
                    logged.text = t.clone();
                }
            }
        }
        results.push(json!({
            "user": user, "message": {"id": mid, "text": new_text},
            "chat": {"id": chat}, "SUCCESS": true,
        }));
    }
    Ok(Reply::of(
        json!({"SUCCESS": true, "DATA": {"RESULT": results}}),
    ))
}

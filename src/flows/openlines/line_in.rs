//! The steps of one `line_in` job (a client's message into its Open Line): read the stored
//! message, complete the client's name and phone, send it with `imconnector.send.messages`,
//! check the element's `SUCCESS`. Jobs of one chat run one at a time in the order of their
//! Chat2Desk message ids (the job chain `line:<chat>:in`), each after a short reorder window,
//! so the operator reads them as the client wrote them even when deliveries overtake.
//!
//! `imconnector.send.messages` is not idempotent (doc §2.3), so the intent is saved before
//! the call: a run that finds it and no answer (the daemon was killed, or the call timed
//! out) reads the line's chat first ([`super::line_look`]) and pushes only when the message
//! is not there. When the chat cannot be read (no IM chat learnt yet for this client, or the
//! portal refuses the reading), it pushes again (a rare duplicate beats a lost message),
//! counted in `openlines_resent_total`. An answered error is never ambiguous: nothing was
//! taken.

use super::line_job;
use super::line_look::{find_by_update, find_pushed, InChat, METHOD as READ_METHOD};
use super::{chat_key, client_message, ClientSide, LineRules};
use crate::chat2desk::{Client, Message};
use crate::engine::{checkpoint, JobError, Services, Steps};
use crate::metrics::{global, Direction};
use crate::portal::crm::phone::normalize_phone;
use crate::portal::{id_from_value, AppClient, BitrixError};
use crate::store::{Job, JobKind};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::time::Duration;

/// What a `line_in` job carries (the `line_messages` payload).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientLineMessage {
    /// The Open Line.
    pub line: i64,
    /// The Chat2Desk message, as the webhook or the poll brought it.
    pub message: Message,
    /// The client, when the delivery carried it.
    pub client: Option<Client>,
}

/// How long a client's message waits before it is sent, so a message of the same chat that
/// Chat2Desk delivered out of order (deliveries run concurrently) lands first and the chain
/// sends both in the order they were written.
pub const REORDER_WINDOW: std::time::Duration = std::time::Duration::from_millis(400);

/// The chain of a chat's operator replies: one at a time, in order.
pub fn line_chain(client_id: i64) -> String {
    format!("line:{}", chat_key(client_id))
}

/// The chain of a chat's client messages, ordered by Chat2Desk message id: one at a time.
fn client_chain(client_id: i64) -> String {
    format!("line:{}:in", chat_key(client_id))
}

/// Stores a client's message for its line and queues its job (the same message again is
/// one job; a line disconnected on the portal queues nothing). Returns true when it is new.
pub async fn enqueue_client_message(
    store: &crate::store::Store,
    line: i64,
    message: &Message,
    client: Option<&Client>,
    intake: crate::store::Intake,
) -> Result<bool, crate::store::StoreError> {
    let Some(client_id) = message.client_id.or(client.map(|c| c.id)) else {
        return Ok(false);
    };
    // A line an administrator disconnected on the portal gets nothing (see `openlines`).
    if super::is_disconnected(store, line).await? {
        return Ok(false);
    }
    let payload = ClientLineMessage {
        line,
        message: message.clone(),
        client: client.cloned(),
    };
    let payload = serde_json::to_value(&payload).expect("a message serialises");
    let order = crate::store::LineOrder {
        // Chat2Desk's message ids grow in the order messages are written.
        seq_ms: message.id,
        due: chrono::Utc::now() + REORDER_WINDOW,
    };
    let queued = store
        .enqueue_line_message_at(
            LINE_IN,
            &message.id.to_string(),
            &client_chain(client_id),
            order,
            &payload,
            intake,
        )
        .await?;
    Ok(queued.new)
}

/// The kind of a client's message into its Open Line; the key is the `line_messages` row id.
pub const LINE_IN: JobKind = JobKind::new("line_in");

/// Progress of a `line_in` job.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LineInProgress {
    /// When a run was about to call `imconnector.send.messages` (unix ms).
    attempted_at: Option<i64>,
    /// The portal took it: its answer element (session, saved file ids), or
    /// `{"found_in_chat": <IM message id>}` when a later run found it in the chat.
    delivered: Option<Value>,
}

impl Steps for LineInProgress {}

/// Runs one `line_in` job to the end; returns its steps.
pub(super) async fn deliver_to_line(
    services: &Services,
    rules: &LineRules,
    job: &Job,
    lease: Duration,
) -> Result<LineInProgress, JobError> {
    let mut progress = LineInProgress::of(job);
    if progress.delivered.is_some() {
        return Ok(progress);
    }
    let payload: ClientLineMessage = line_job::stored(services, job, "message").await?;
    let app = line_job::app(services)?;
    let client = client_side(services, &payload).await?;
    if progress.attempted_at.is_some() {
        if let Some(found) = look_in_chat(services, app, rules, job, &payload, &client).await? {
            progress.delivered = Some(found);
            checkpoint(services, job, &progress, lease).await?;
            global().record_line_message(Direction::ToLine, "delivered", None);
            return Ok(progress);
        }
    }
    progress.attempted_at = Some(chrono::Utc::now().timestamp_millis());
    checkpoint(services, job, &progress, lease).await?;
    match send(app, rules, &payload, &client).await {
        Ok(element) => {
            let im_chat = element.pointer("/session/CHAT_ID").and_then(id_from_value);
            progress.delivered = Some(element);
            checkpoint(services, job, &progress, lease).await?;
            if let Some(im_chat) = im_chat {
                let chat = chat_key(client.client_id);
                services
                    .store
                    .remember_im_chat(payload.line, &chat, im_chat)
                    .await?;
            }
            let latency = payload
                .message
                .created
                .and_then(|t| (chrono::Utc::now() - t).to_std().ok());
            global().record_line_message(Direction::ToLine, "delivered", latency);
            tracing::info!(
                line_message = job.key,
                message_id = payload.message.id,
                client_id = client.client_id,
                line = payload.line,
                portal_method = "imconnector.send.messages",
                "Passed a client's message to the Open Line"
            );
            Ok(progress)
        }
        Err(Sent::Refused(e)) => {
            // The portal answered: it did not take the message, so a retry sends it once.
            progress.attempted_at = None;
            checkpoint(services, job, &progress, lease).await?;
            Err(JobError::Transient(e))
        }
        Err(Sent::Unknown(e)) => Err(JobError::Transient(e)),
    }
}

/// After a push whose answer was never recorded: what the chat shows. `Some` (what to
/// record as delivered) when the message is there; `None` when the push must be made again
/// (it is not there, or the chat cannot be read: then counted as a resend).
async fn look_in_chat(
    services: &Services,
    app: &AppClient,
    rules: &LineRules,
    job: &Job,
    payload: &ClientLineMessage,
    client: &ClientSide,
) -> Result<Option<Value>, JobError> {
    let client_id = client.client_id;
    let pushed_id = format!("c2d-msg-{}", payload.message.id);
    let chat = chat_key(client_id);
    let looked = match services.store.im_chat(payload.line, &chat).await? {
        Some(im_chat) => find_pushed(app, im_chat, &pushed_id).await?,
        None => find_by_update(app, push_params(rules, payload, client)).await?,
    };
    match looked {
        InChat::Found(im_message_id) => {
            tracing::info!(
                line_message = job.key,
                message_id = payload.message.id,
                line = payload.line,
                im_message_id,
                portal_method = READ_METHOD,
                "Found the client's message an interrupted run had pushed; not pushing it again"
            );
            Ok(Some(
                json!({ "found_in_chat": im_message_id.map_or(json!(true), |id| json!(id)) }),
            ))
        }
        InChat::Absent => {
            tracing::info!(
                line_message = job.key,
                message_id = payload.message.id,
                line = payload.line,
                portal_method = READ_METHOD,
                "An interrupted push did not reach the chat: pushing the client's message"
            );
            Ok(None)
        }
        InChat::Unreadable(why) => {
            global().record_line_resent();
            tracing::warn!(
                line_message = job.key,
                message_id = payload.message.id,
                line = payload.line,
                portal_method = READ_METHOD,
                error = %why,
                "An earlier attempt's fate is unknown and the chat cannot be read: sending the client's message again"
            );
            Ok(None)
        }
    }
}

/// The client as the line shows it: from the delivery, else `GET /clients/{id}`.
async fn client_side(
    services: &Services,
    payload: &ClientLineMessage,
) -> Result<ClientSide, JobError> {
    let id = payload
        .message
        .client_id
        .or(payload.client.as_ref().map(|c| c.id))
        .ok_or_else(|| JobError::Permanent("the message names no Chat2Desk client".into()))?;
    let client = match &payload.client {
        Some(c) if c.name.is_some() || c.assigned_name.is_some() => c.clone(),
        _ => services.chat2desk.client(id).await?,
    };
    let phone = client
        .client_phone
        .as_deref()
        .or(client.phone.as_deref())
        .and_then(normalize_phone);
    let chat_url = payload
        .message
        .dialog_id
        .map(|d| services.directory.chat_url(d));
    Ok(ClientSide {
        client_id: id,
        name: client.assigned_name.or(client.name),
        phone,
        chat_url,
    })
}

/// How a send ended short of the portal taking the message.
pub(super) enum Sent {
    /// The portal answered and did not take it.
    Refused(String),
    /// No answer, or one we cannot read: it may or may not have been taken.
    Unknown(String),
}

async fn send(
    app: &AppClient,
    rules: &LineRules,
    payload: &ClientLineMessage,
    client: &ClientSide,
) -> Result<Value, Sent> {
    let result = app
        .call(
            "imconnector.send.messages",
            push_params(rules, payload, client),
        )
        .await
        .map_err(|e| match e {
            BitrixError::Api { .. } | BitrixError::Config { .. } => {
                Sent::Refused(format!("Bitrix24: {e} ({})", e.hint()))
            }
            _ => Sent::Unknown(format!("Bitrix24: {e} ({})", e.hint())),
        })?;
    element_result(&result, payload.line)
}

/// The `imconnector.send.messages` parameters of one client's message (the same for the
/// push and for looking it up with `imconnector.update.messages`).
fn push_params(rules: &LineRules, payload: &ClientLineMessage, client: &ClientSide) -> Value {
    json!({
        "CONNECTOR": rules.connector,
        "LINE": payload.line,
        "MESSAGES": [client_message(client, &payload.message)],
    })
}

/// The one element of `DATA.RESULT`, or why the portal did not take the message: the call
/// may succeed while the element failed (doc §2.3), and older portals answer `SUCCESS:false`.
pub(super) fn element_result(result: &Value, line: i64) -> Result<Value, Sent> {
    let success = |v: &Value| {
        v.get("SUCCESS")
            .or_else(|| v.get("success"))
            .is_some_and(|s| s == &json!(true) || s == &json!("Y") || s == &json!(1))
    };
    if !success(result) {
        return Err(Sent::Refused(format!(
            "Bitrix24 method imconnector.send.messages answered SUCCESS:false for line {line} \
             (is the connector active on the line? run `chat2desk-b24 check`)"
        )));
    }
    let element = result.pointer("/DATA/RESULT/0").cloned().ok_or_else(|| {
        Sent::Unknown(
            "Bitrix24 method imconnector.send.messages: the answer has no DATA.RESULT element"
                .into(),
        )
    })?;
    if success(&element) {
        Ok(element)
    } else {
        let errors = element
            .get("ERRORS")
            .map(Value::to_string)
            .unwrap_or_else(|| "no ERRORS given".into());
        Err(Sent::Refused(format!(
            "Bitrix24 method imconnector.send.messages did not take the message for line \
             {line}: {errors}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_element_success_is_checked() {
        let ok = json!({"SUCCESS": true, "DATA": {"RESULT": [{"SUCCESS": true, "session": {"ID": "3"}}]}});
        assert!(element_result(&ok, 3).is_ok());
        let element_failed =
            json!({"SUCCESS": true, "DATA": {"RESULT": [{"SUCCESS": false, "ERRORS": ["bad"]}]}});
        assert!(matches!(
            element_result(&element_failed, 3),
            Err(Sent::Refused(_))
        ));
        let call_failed = json!({"SUCCESS": false, "DATA": []});
        assert!(matches!(
            element_result(&call_failed, 3),
            Err(Sent::Refused(_))
        ));
        let no_element = json!({"SUCCESS": true, "DATA": {"RESULT": []}});
        assert!(matches!(
            element_result(&no_element, 3),
            Err(Sent::Unknown(_))
        ));
    }
}

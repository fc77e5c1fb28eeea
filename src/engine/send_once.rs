//! One `POST /messages` exactly once across crashes, shared by the business-process sends
//! and the operators' replies from Open Lines.
//!
//! The intent (a timestamp) is saved before the call. A run that finds an intent cannot know
//! whether the earlier call reached Chat2Desk, so it first looks the message up among the
//! client's recent messages — by our `external_id`, or, where the API does not echo it, by
//! the same text on the same channel written after the intent — and sends only when it is
//! not there. A sender that may ask again with no intent saved (a business-process call
//! re-delivered after the state database was lost) gets the same look on the first run.

use super::{JobError, Services};
use crate::chat2desk::{Chat2DeskError, MessageKind, MessageQuery, NewMessage, Order};
use serde::{Deserialize, Serialize};
use std::future::Future;

/// A message found by `GET /messages` counts as ours when written at most this long before
/// the intent was saved (clock skew between us and Chat2Desk).
const CLOCK_SLACK_MS: i64 = 120_000;
/// Messages of the client read when looking for one sent before a crash.
const LOOKUP_LIMIT: u64 = 50;

/// How a send ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    /// Chat2Desk took the message.
    Sent {
        /// Its Chat2Desk id.
        message_id: i64,
    },
    /// The message cannot be sent.
    Refused {
        /// Why, in Russian (returned to the process and written to the timeline).
        error: String,
    },
}

/// The message Chat2Desk has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// Its Chat2Desk id.
    pub message_id: i64,
    /// True when an interrupted run had sent it (found, not sent again).
    pub found: bool,
}

/// Why no message id came back.
pub enum SendFailed {
    /// Chat2Desk answered with a refusal (an error envelope): it did not take the message,
    /// and the same message would be refused again.
    Refused(Chat2DeskError),
    /// The lookup, the intent's checkpoint or the call failed otherwise (the worker retries
    /// what is transient).
    Job(JobError),
}

impl From<JobError> for SendFailed {
    fn from(e: JobError) -> Self {
        SendFailed::Job(e)
    }
}

/// Why a send job stopped short of the message in Chat2Desk (the business-process send and
/// the operator's reply both end this way).
#[derive(Debug)]
pub enum Stop {
    /// It cannot be sent; the text (Russian, for managers and operators) says why.
    Refused(String),
    /// Try again later, or give up (the worker decides).
    Job(JobError),
}

impl<E: Into<JobError>> From<E> for Stop {
    fn from(e: E) -> Self {
        Stop::Job(e.into())
    }
}

/// Sends `message` unless the run that saved `intent_at` already did. Without an intent,
/// `asked_at` (unix ms: when the sender asked for the message, e.g. a business-process
/// call's `ts`) makes it look all the same, for a message sent before the state database
/// was lost. `save_intent` must store the new intent (unix ms) durably before it returns;
/// it is called right before the call.
pub async fn send_once<F, Fut>(
    services: &Services,
    message: &NewMessage,
    intent_at: Option<i64>,
    asked_at: Option<i64>,
    save_intent: F,
) -> Result<Sent, SendFailed>
where
    F: FnOnce(i64) -> Fut,
    Fut: Future<Output = Result<(), JobError>>,
{
    // After our own intent the clocks may disagree by the slack; a message older than the
    // sender's own request cannot be the one it asked for.
    let since = intent_at.map(|at| at - CLOCK_SLACK_MS).or(asked_at);
    if let Some(since) = since {
        if let Some(message_id) = find_sent(services, message, since).await? {
            return Ok(Sent {
                message_id,
                found: true,
            });
        }
    }
    save_intent(chrono::Utc::now().timestamp_millis()).await?;
    match services.chat2desk.send_message(message).await {
        Ok(sent) => Ok(Sent {
            message_id: sent.message_id,
            found: false,
        }),
        Err(e @ Chat2DeskError::Api { .. }) => Err(SendFailed::Refused(e)),
        Err(e) => Err(SendFailed::Job(e.into())),
    }
}

/// A message of this client that is ours: our `external_id`, or (when the API does not echo
/// it: `GET /messages` lists no such field in the docs) the same text on the same channel,
/// written at `since` (unix ms) or later.
async fn find_sent(
    services: &Services,
    message: &NewMessage,
    since: i64,
) -> Result<Option<i64>, JobError> {
    let page = services
        .chat2desk
        .messages(&MessageQuery {
            client_id: Some(message.client_id),
            order: Some(Order::Desc),
            limit: LOOKUP_LIMIT,
            ..MessageQuery::default()
        })
        .await?;
    let ours = page.items.iter().find(|m| {
        if m.kind != MessageKind::ToClient {
            return false;
        }
        if let Some(external) = &m.external_id {
            return Some(external) == message.external_id.as_ref();
        }
        let recent = m.created.is_none_or(|t| t.timestamp_millis() >= since);
        recent
            && m.channel_id.is_none_or(|c| Some(c) == message.channel_id)
            && m.text.as_deref().unwrap_or("").trim() == message.text.trim()
    });
    Ok(ours.map(|m| m.id))
}

/// Chat2Desk's own words for a refusal (`message` and `errors`), verbatim.
pub fn refusal_text(e: &Chat2DeskError) -> String {
    match e {
        Chat2DeskError::Api {
            status,
            message,
            errors,
            ..
        } => {
            let mut parts: Vec<String> = Vec::new();
            if !message.trim().is_empty() {
                parts.push(message.trim().to_string());
            }
            for (field, texts) in errors {
                parts.push(format!("{field}: {}", texts.join(", ")));
            }
            if parts.is_empty() {
                format!("HTTP {status}")
            } else {
                parts.join("; ")
            }
        }
        other => other.to_string(),
    }
}

//! The steps of one `line_close` job (an operator finished the Open Lines session of a
//! chat, `OnImConnectorDialogFinish`): close the client's Chat2Desk request, then clear the
//! portal's event. The closed request then becomes a transcript the way every close does
//! (Chat2Desk's close webhook or the poll queues it), by the configured integration type.
//!
//! The request is closed with `PUT /requests/close {client_id}`, not the dialog's
//! `PUT /dialogs/{id} {state: closed}`: the line's chat id names the client, and the request
//! close ends exactly the episode whose transcript is due, while the dialog call needs the
//! dialog id and closes the whole conversation (more in `chat2desk::closing`).
//!
//! The client's current request is noted before the call: when a run finds the call made
//! but unanswered, and the client's newest message is already in another request, the one
//! meant is closed and a new episode is open, which is not closed behind the client's back.

use super::line_out::client_of;
use super::queued::new_or_done;
use super::{line_chain, line_job, LineRules};
use crate::chat2desk::{Chat2DeskError, MessageQuery, Order};
use crate::engine::{checkpoint, JobError, Services, Steps};
use crate::store::{Intake, Job, JobKind, LineItem, LineOrder, Store, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::time::Duration;

/// What a `line_close` job carries (the `line_messages` payload): one element of an
/// `OnImConnectorDialogFinish` event and the event it came in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionFinish {
    /// The Open Line.
    pub line: i64,
    /// `chat.id`: the external chat, `c2d-<Chat2Desk client id>`.
    pub chat_id: String,
    /// `session.id`: the finished session (the ledger key, with the line).
    pub session_id: String,
    /// The event's `MESSAGE_ID` (what `event.offline.clear` names).
    pub event_message_id: String,
    /// The reservation the event was read under (empty: the portal already deleted it).
    pub process_id: String,
    /// `TIMESTAMP_X` of the event (for the log's finish → close time).
    pub raised_at: Option<String>,
}

/// Queues the finished sessions of one event in one transaction (a session is queued once,
/// however often its event is read). Each goes in its chat's reply chain, after the replies
/// the operator wrote before finishing. Returns how many were new, or `None` when every
/// session was queued before and its job is done: the portal handed the finish out again
/// (a new reservation the done job will not clear), so the caller clears the event.
pub async fn enqueue_session_finish(
    store: &Store,
    finishes: &[SessionFinish],
) -> Result<Option<usize>, StoreError> {
    let items: Vec<LineItem> = finishes
        .iter()
        .map(|f| LineItem {
            external_id: format!("{}:{}", f.line, f.session_id),
            chain: client_of(&f.chat_id)
                .map(line_chain)
                .unwrap_or_else(|| format!("line:{}", f.chat_id)),
            order: order_of(f),
            payload: serde_json::to_value(f).expect("a finish serialises"),
        })
        .collect();
    let queued = store
        .enqueue_line_messages(LINE_CLOSE, &items, Intake::Openlines)
        .await?;
    let new = new_or_done(store, &LINE_CLOSE, &queued).await?;
    if new.is_none() {
        for f in finishes {
            tracing::info!(line = f.line, chat = %f.chat_id, session = %f.session_id,
                "A finished session's event came again; its request was closed before, clearing the event");
        }
    }
    Ok(new)
}

/// Due now, placed in the chain when the portal raised the event.
fn order_of(finish: &SessionFinish) -> LineOrder {
    let mut order = LineOrder::now();
    if let Some(at) = raised_at(finish) {
        order.seq_ms = at.timestamp_millis();
    }
    order
}

fn raised_at(finish: &SessionFinish) -> Option<chrono::DateTime<chrono::Utc>> {
    let at = chrono::DateTime::parse_from_rfc3339(finish.raised_at.as_deref()?).ok()?;
    Some(at.with_timezone(&chrono::Utc))
}

/// What became of the close.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum CloseOutcome {
    /// `PUT /requests/close` closed the client's request.
    Closed,
    /// Nothing was open any more (Chat2Desk or an operator there closed it first, or the
    /// chat is not a Chat2Desk client's).
    NothingOpen,
    /// A run before was not answered and the client has written a new request since: the
    /// one meant is closed, the new one is left open.
    NewRequestOpen,
}

/// The kind that closes the Chat2Desk request of an Open Lines session the portal finished; the key is the `line_messages` row id.
pub const LINE_CLOSE: JobKind = JobKind::new("line_close");

/// Progress of a `line_close` job.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CloseProgress {
    /// The client's request before the close (`None`: none seen, or not looked at yet).
    request_id: Option<i64>,
    /// The request was looked at (`request_id` is set or known to be absent).
    looked: bool,
    /// `PUT /requests/close` was about to be sent.
    intent: bool,
    closed: Option<CloseOutcome>,
    /// `event.offline.clear` answered.
    event_done: bool,
}

impl Steps for CloseProgress {}

/// Runs one `line_close` job to the end; returns its steps.
pub(super) async fn close_finished_session(
    services: &Services,
    rules: &LineRules,
    job: &Job,
    lease: Duration,
) -> Result<CloseProgress, JobError> {
    let mut progress = CloseProgress::of(job);
    let finish: SessionFinish = line_job::stored(services, job, "finished session").await?;
    let app = line_job::app(services)?;
    if progress.closed.is_none() {
        let closed = close(services, job, &finish, &mut progress, lease).await?;
        log_closed(job, &finish, closed);
        progress.closed = Some(closed);
        checkpoint(services, job, &progress, lease).await?;
    }
    if !progress.event_done && !finish.process_id.is_empty() {
        const METHOD: &str = "event.offline.clear";
        app.call(
            METHOD,
            json!({
                "process_id": finish.process_id,
                "message_id": [finish.event_message_id],
                "auth_connector": rules.connector,
            }),
        )
        .await
        .map_err(|e| {
            tracing::warn!(line_message = job.key, line = finish.line, chat = %finish.chat_id,
                portal_method = METHOD, error = %e, "Cannot clear the portal's session-finish event");
            JobError::from(e)
        })?;
        progress.event_done = true;
        checkpoint(services, job, &progress, lease).await?;
    }
    Ok(progress)
}

/// Looks at the client's current request, then closes it.
async fn close(
    services: &Services,
    job: &Job,
    finish: &SessionFinish,
    progress: &mut CloseProgress,
    lease: Duration,
) -> Result<CloseOutcome, JobError> {
    let Some(client_id) = client_of(&finish.chat_id) else {
        return Ok(CloseOutcome::NothingOpen);
    };
    if !progress.looked {
        progress.request_id = current_request(services, client_id).await?;
        progress.looked = true;
        checkpoint(services, job, &*progress, lease).await?;
    } else if progress.intent {
        let now = current_request(services, client_id).await?;
        if now.is_some() && now != progress.request_id {
            return Ok(CloseOutcome::NewRequestOpen);
        }
    }
    progress.intent = true;
    checkpoint(services, job, &*progress, lease).await?;
    match services.chat2desk.close_request(client_id).await {
        Ok(()) => Ok(CloseOutcome::Closed),
        // Chat2Desk answers 400 when the client has no open request (closed there first).
        Err(Chat2DeskError::Api { status, .. }) if (400..500).contains(&status) => {
            Ok(CloseOutcome::NothingOpen)
        }
        Err(Chat2DeskError::NotFound { .. }) => Ok(CloseOutcome::NothingOpen),
        Err(e) => Err(e.into()),
    }
}

/// The request of the client's newest message, if any.
async fn current_request(services: &Services, client_id: i64) -> Result<Option<i64>, JobError> {
    let page = services
        .chat2desk
        .messages(&MessageQuery {
            client_id: Some(client_id),
            order: Some(Order::Desc),
            limit: 1,
            ..MessageQuery::default()
        })
        .await;
    match page {
        Ok(page) => Ok(page.items.first().and_then(|m| m.request_id)),
        Err(Chat2DeskError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn log_closed(job: &Job, finish: &SessionFinish, closed: CloseOutcome) {
    let (message, finish_to_close_ms) = match closed {
        CloseOutcome::Closed => (
            "Closed the Chat2Desk request of a finished Open Lines session; its transcript follows",
            Some(
                raised_at(finish)
                    .map(|at| (chrono::Utc::now() - at).num_milliseconds().max(0))
                    .unwrap_or_default(),
            ),
        ),
        CloseOutcome::NothingOpen => (
            "An Open Lines session finished; the client had no open Chat2Desk request (closed there first)",
            None,
        ),
        CloseOutcome::NewRequestOpen => (
            "An Open Lines session finished; the client has written again since, so the new request stays open",
            None,
        ),
    };
    tracing::info!(
        line_message = job.key,
        line = finish.line,
        chat = %finish.chat_id,
        session = %finish.session_id,
        finish_to_close_ms,
        "{message}"
    );
}

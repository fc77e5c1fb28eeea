//! Reading a closed request from Chat2Desk, tolerant of the endpoints the public docs are
//! unsure about (`chat2desk-api.md` §2 "Requests").

use crate::chat2desk::{Chat2Desk, Chat2DeskError, Message, MessageQuery, Order, RequestInfo};
use crate::engine::JobError;

/// Pages of a dialog's messages read when `GET /requests/{id}/messages` is missing.
const DIALOG_PAGES: usize = 50;
const PAGE: u64 = 200;

/// A request with its messages, oldest first.
#[derive(Debug)]
pub struct Fetched {
    /// What `GET /requests/{id}` said (all fields empty when the endpoint answers 404).
    pub info: RequestInfo,
    /// The request's messages.
    pub messages: Vec<Message>,
    /// True when `info` is `GET /requests/{id}`'s answer (it carries the request's tags).
    pub read_request: bool,
}

/// Reads request `id` with as few billed calls as the answers allow.
///
/// One call in the usual case: `GET /requests/{id}/messages` is Chat2Desk's own list of the
/// request's messages, so it is the completeness check and the fetch at once (whatever a
/// webhook or the poller delivered before cannot prove that nothing was missed, and
/// Chat2Desk has no cheaper call that would). The messages name the request's dialog, client
/// and operators, so `GET /requests/{id}` is read only when they do not (no messages, or
/// none naming a client) or when the messages endpoint answers 404 (then the dialog's
/// messages filtered by `request_id` stand in). Only when neither the request nor any
/// message can be found is the error permanent.
pub async fn fetch_request(c2d: &Chat2Desk, id: i64) -> Result<Fetched, JobError> {
    let listed = match c2d.request_messages(id).await {
        Ok(messages) => Some(messages),
        Err(Chat2DeskError::NotFound { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    if let Some(messages) = listed
        .as_ref()
        .filter(|m| m.iter().any(|m| m.client_id.is_some()))
    {
        let info = from_messages(id, messages);
        let messages = listed.expect("checked above");
        return Ok(Fetched {
            info,
            messages,
            read_request: false,
        });
    }
    let info = match c2d.request(id).await {
        Ok(info) => Some(info),
        Err(Chat2DeskError::NotFound { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    let messages = match listed {
        Some(messages) => messages,
        None => match info.as_ref().and_then(|i| i.dialog_id) {
            Some(dialog) => dialog_messages(c2d, dialog, id).await?,
            None => Vec::new(),
        },
    };
    if info.is_none() && messages.is_empty() {
        return Err(JobError::Permanent(format!(
            "Chat2Desk knows no request {id}: GET /v1/requests/{id} and its messages answer 404 (a wrong id, or a request of another company's token)"
        )));
    }
    let read_request = info.is_some();
    let info = info.unwrap_or_else(|| from_messages(id, &messages));
    Ok(Fetched {
        info,
        messages,
        read_request,
    })
}

/// What the messages (oldest first) say of their request: its dialog and client, its
/// operator (the last one who wrote), opened at its first message. The close time is not
/// known (the job's enqueue time stands in for the latency metric).
fn from_messages(id: i64, messages: &[Message]) -> RequestInfo {
    RequestInfo {
        id,
        dialog_id: messages.iter().find_map(|m| m.dialog_id),
        client_id: messages.iter().find_map(|m| m.client_id),
        operator_id: messages.iter().rev().find_map(|m| m.operator_id),
        created: messages.iter().find_map(|m| m.created),
        closed: None,
        status: None,
        tags: Vec::new(),
    }
}

/// The messages of `request` inside `dialog`, oldest first.
async fn dialog_messages(
    c2d: &Chat2Desk,
    dialog: i64,
    request: i64,
) -> Result<Vec<Message>, Chat2DeskError> {
    let mut found = Vec::new();
    let mut offset = 0;
    for _ in 0..DIALOG_PAGES {
        let page = c2d
            .messages(&MessageQuery {
                dialog_id: Some(dialog),
                order: Some(Order::Asc),
                limit: PAGE,
                offset,
                ..MessageQuery::default()
            })
            .await?;
        let n = page.items.len() as u64;
        found.extend(
            page.items
                .into_iter()
                .filter(|m| m.request_id == Some(request)),
        );
        offset += n;
        if n < PAGE {
            break;
        }
    }
    found.sort_by_key(|m| (m.created, m.id));
    found.dedup_by_key(|m| m.id);
    Ok(found)
}

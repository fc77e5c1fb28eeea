//! Reading a closed request from Chat2Desk, tolerant of the endpoints the public docs are
//! unsure about (`chat2desk-api.md` §2 "Requests").

use super::JobError;
use crate::chat2desk::{Chat2Desk, Chat2DeskError, Message, MessageQuery, Order, RequestInfo};

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
}

/// Reads request `id`: `GET /requests/{id}`, then `GET /requests/{id}/messages`, falling back
/// to the dialog's messages filtered by `request_id` when the latter answers 404. Only when
/// neither the request nor any message can be found is the error permanent.
pub async fn fetch_request(c2d: &Chat2Desk, id: i64) -> Result<Fetched, JobError> {
    let info = match c2d.request(id).await {
        Ok(info) => Some(info),
        Err(Chat2DeskError::NotFound { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    let messages = match c2d.request_messages(id).await {
        Ok(messages) => messages,
        Err(Chat2DeskError::NotFound { .. }) => match info.as_ref().and_then(|i| i.dialog_id) {
            Some(dialog) => dialog_messages(c2d, dialog, id).await?,
            None => Vec::new(),
        },
        Err(e) => return Err(e.into()),
    };
    if info.is_none() && messages.is_empty() {
        return Err(JobError::Permanent(format!(
            "Chat2Desk knows no request {id}: GET /v1/requests/{id} and its messages answer 404 (a wrong id, or a request of another company's token)"
        )));
    }
    let info = info.unwrap_or(RequestInfo {
        id,
        dialog_id: messages.iter().find_map(|m| m.dialog_id),
        client_id: None,
        operator_id: None,
        created: None,
        closed: None,
        status: None,
    });
    Ok(Fetched { info, messages })
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

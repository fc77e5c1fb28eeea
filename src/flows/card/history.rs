//! What the tab shows from Chat2Desk: the entity's phones → the clients with those phones
//! (`GET /clients?phone=`) → their messages on every channel (`GET /messages?client_id=`,
//! newest first) within `[card] history_days`, with the operators' names.

use crate::chat2desk::{Attachment, Chat2DeskError, MessageKind, MessageQuery, Order};
use crate::engine::Services;
use chrono::{DateTime, Utc};

/// Pages of 200 messages read per client at most (older ones are not shown).
const MAX_PAGES: u64 = 5;
/// Messages per page.
const PAGE: u64 = 200;

/// One message as the tab shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryMessage {
    /// Chat2Desk's message id.
    pub id: i64,
    /// The text (empty for pure media).
    pub text: String,
    /// Who wrote it: `client`, `operator` or `bot` (`system` and `comment` notes too).
    pub author: String,
    /// The operator's name, for operators' messages when known.
    pub operator: Option<String>,
    /// When it was written.
    pub created: Option<DateTime<Utc>>,
    /// The request (обращение) it belongs to.
    pub request_id: Option<i64>,
    /// The dialog, for the link to the chat.
    pub dialog_id: Option<i64>,
    /// The Chat2Desk client it was written with.
    pub client_id: Option<i64>,
    /// The channel and its transport.
    pub channel: Option<(i64, String)>,
    /// Files, as links.
    pub files: Vec<Attachment>,
}

/// The clients found and their messages, newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    /// Chat2Desk client ids with the entity's phones.
    pub clients: Vec<i64>,
    /// Their messages within the window, newest first.
    pub messages: Vec<HistoryMessage>,
}

impl History {
    /// Reads the history of `phones` (E.164): every message written at or after `since`.
    pub async fn load(
        services: &Services,
        phones: &[String],
        since: DateTime<Utc>,
    ) -> Result<History, Chat2DeskError> {
        let chat2desk = &services.chat2desk;
        let mut history = History::default();
        for phone in phones {
            let digits = phone.trim_start_matches('+');
            for client in chat2desk.clients_by_phone(digits).await? {
                if !history.clients.contains(&client.id) {
                    history.clients.push(client.id);
                }
            }
        }
        let operators = if history.clients.is_empty() {
            Default::default()
        } else {
            services.directory.operators(chat2desk, None).await?
        };
        for client in &history.clients {
            for page in 0..MAX_PAGES {
                let query = MessageQuery {
                    client_id: Some(*client),
                    order: Some(Order::Desc),
                    limit: PAGE,
                    offset: page * PAGE,
                    ..MessageQuery::default()
                };
                let items = chat2desk.messages(&query).await?.items;
                let full = items.len() as u64 >= PAGE;
                let mut older = false;
                for m in items {
                    if m.created.is_some_and(|t| t < since) {
                        older = true;
                        continue;
                    }
                    let operator = m
                        .operator_id
                        .and_then(|id| operators.get(&id))
                        .map(|o| o.full_name())
                        .filter(|n| !n.trim().is_empty());
                    history.messages.push(HistoryMessage {
                        id: m.id,
                        text: m.text.unwrap_or_default(),
                        author: author_of(&m.kind).to_string(),
                        operator,
                        created: m.created,
                        request_id: m.request_id,
                        dialog_id: m.dialog_id,
                        client_id: m.client_id,
                        channel: m.channel_id.map(|c| (c, m.transport.unwrap_or_default())),
                        files: m.attachments,
                    });
                }
                if older || !full {
                    break;
                }
            }
        }
        history
            .messages
            .sort_by(|a, b| b.created.cmp(&a.created).then(b.id.cmp(&a.id)));
        history.messages.dedup_by_key(|m| m.id);
        Ok(history)
    }
}

fn author_of(kind: &MessageKind) -> &'static str {
    match kind {
        MessageKind::FromClient => "client",
        MessageKind::ToClient => "operator",
        MessageKind::Autoreply => "bot",
        MessageKind::System => "system",
        MessageKind::Comment => "comment",
        MessageKind::Other(_) => "other",
    }
}

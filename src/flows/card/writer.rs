//! Who writes from a tab and what its send form offers: the Chat2Desk operator mapped to the
//! portal user (`[[crm.operators]]` read backwards; none: the message goes as the company),
//! the channels (the client's first), the company's templates (`GET /templates`), and the
//! client the message goes to. Kept in the tab's session, so a send cannot name another
//! operator, client or channel than the tab offered.

use super::history::History;
use super::tab::{TabEntity, TabUser};
use crate::chat2desk::{Chat2DeskError, Template};
use crate::config::{OperatorMapping, OperatorRef};
use crate::engine::Services;

/// The Chat2Desk operator a portal user writes as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsOperator {
    /// Operator id.
    pub id: i64,
    /// Their name in Chat2Desk.
    pub name: String,
}

/// What a tab's user may send: as whom, to whom, on which channels.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Writer {
    /// The mapped operator; `None` = the company.
    pub operator: Option<AsOperator>,
    /// The client the tab shows (the newest one written with, else the first found).
    pub client_id: Option<i64>,
    /// The entity's first phone, to write first when there is no client.
    pub phone: Option<String>,
    /// The channels offered: id and label, the client's first.
    pub channels: Vec<(i64, String)>,
}

/// The writer of `user` on `entity` and the templates to start from. Templates are
/// optional: when Chat2Desk does not list them the form has none.
pub async fn writer(
    services: &Services,
    operators: &[OperatorMapping],
    (user, entity): (&TabUser, &TabEntity),
    history: &History,
) -> Result<(Writer, Vec<Template>), Chat2DeskError> {
    let chat2desk = &services.chat2desk;
    let operator = match operators.iter().find(|m| m.bitrix24 == user.id) {
        Some(m) => {
            let known = services.directory.operators(chat2desk, None).await?;
            let found = match &m.chat2desk {
                OperatorRef::Id(id) => known.get(id),
                OperatorRef::Email(email) => known.values().find(|o| {
                    o.email
                        .as_deref()
                        .is_some_and(|e| e.trim().eq_ignore_ascii_case(email.trim()))
                }),
            };
            found.map(|o| AsOperator {
                id: o.id,
                name: o.full_name(),
            })
        }
        None => None,
    };
    let mut mine: Vec<i64> = Vec::new();
    for m in &history.messages {
        if let Some((channel, _)) = m.channel {
            if !mine.contains(&channel) {
                mine.push(channel);
            }
        }
    }
    let mut all = chat2desk.channels().await?;
    all.sort_by_key(|c| mine.iter().position(|m| *m == c.id).unwrap_or(usize::MAX));
    let channels = all
        .into_iter()
        .map(|c| {
            let name = c.name.clone().unwrap_or_else(|| format!("Канал {}", c.id));
            let mark = if mine.contains(&c.id) {
                " · переписка клиента"
            } else {
                ""
            };
            (c.id, format!("{name} ({}){mark}", c.transports.join(", ")))
        })
        .collect();
    let client_id = history
        .messages
        .first()
        .and_then(|m| m.client_id)
        .or(history.clients.first().copied());
    let templates = match chat2desk.templates().await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "Cannot read the Chat2Desk templates (GET /templates); the card tab's form offers none");
            Vec::new()
        }
    };
    let writer = Writer {
        operator,
        client_id,
        phone: entity.phones.first().cloned(),
        channels,
    };
    Ok((writer, templates))
}

//! The messages the daemon sees, as waiting stretches: a client's message opens one (unless
//! one is open), an operator's answer (`to_client`) ends it. Auto-replies, system notes and
//! comments change nothing. A batch (a poll's page) is folded per client first, so an
//! answer later in the batch ends the wait before its job could run.

use super::{refresh_counts, EscalationRules, ESCALATION};
use crate::chat2desk::{Client, Message, MessageKind};
use crate::engine::{Live, Watch};
use crate::store::{ClientMessage, Intake, Store, StoreError};
use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use std::collections::BTreeMap;

/// The watch of the escalation flow.
#[derive(Debug, Clone)]
pub struct EscalationWatch {
    store: Store,
    rules: Live<EscalationRules>,
}

impl EscalationWatch {
    /// Stretches in `store`, under the live `rules`.
    pub fn new(store: Store, rules: Live<EscalationRules>) -> Self {
        Self { store, rules }
    }

    async fn take(
        &self,
        messages: &[Message],
        client: Option<&Client>,
        intake: Intake,
    ) -> Result<(), StoreError> {
        let rules = self.rules.now();
        let Some(config) = &rules.config else {
            return Ok(());
        };
        let folded = fold(messages);
        if folded.is_empty() {
            return Ok(());
        }
        for (client_id, turn) in folded {
            if let Some(answered) = turn.answered {
                if self.store.end_wait(client_id, answered).await? {
                    tracing::debug!(client_id, "An operator answered: the client's wait ended");
                }
            }
            let Some(m) = turn.waiting else { continue };
            let at = m.created.unwrap_or_else(Utc::now);
            let name = client
                .filter(|c| c.id == client_id)
                .and_then(|c| c.name.clone());
            let opened = ClientMessage {
                client_id,
                message_id: m.id,
                at,
                channel_id: m.channel_id,
                dialog_id: m.dialog_id,
                request_id: m.request_id,
                client_name: name,
            };
            let due = rules.due(config.after_minutes, at);
            if let Some(wait_id) = self
                .store
                .open_wait(&opened, ESCALATION, due, intake)
                .await?
            {
                tracing::debug!(wait_id, client_id, message_id = m.id, due = %due, "A client waits for an answer");
            }
        }
        refresh_counts(&self.store, &rules).await;
        Ok(())
    }
}

impl Watch for EscalationWatch {
    fn active(&self) -> bool {
        self.rules.now().config.is_some()
    }

    fn seen<'a>(
        &'a self,
        messages: &'a [Message],
        client: Option<&'a Client>,
        intake: Intake,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.take(messages, client, intake))
    }
}

/// One client's messages of a batch, folded.
#[derive(Debug, Default)]
struct Turn<'a> {
    /// The time of the last operator answer.
    answered: Option<DateTime<Utc>>,
    /// The first client message after it (or of the batch, with no answer) of the latest
    /// request.
    waiting: Option<&'a Message>,
}

/// Folds `messages` (in the order written) per client.
fn fold(messages: &[Message]) -> BTreeMap<i64, Turn<'_>> {
    let mut turns: BTreeMap<i64, Turn<'_>> = BTreeMap::new();
    for m in messages {
        let Some(client_id) = m.client_id else {
            continue;
        };
        match m.kind {
            MessageKind::FromClient => {
                let turn = turns.entry(client_id).or_default();
                // A message of a later request starts that request's wait.
                match turn.waiting {
                    Some(first) if first.request_id == m.request_id => {}
                    _ => turn.waiting = Some(m),
                }
            }
            MessageKind::ToClient => {
                let turn = turns.entry(client_id).or_default();
                let at = m.created.unwrap_or_else(Utc::now);
                turn.answered = Some(turn.answered.map_or(at, |t| t.max(at)));
                turn.waiting = None;
            }
            _ => {}
        }
    }
    turns
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: i64, client: i64, kind: MessageKind, minute: i64) -> Message {
        let mut m = Message::from_json(
            &serde_json::json!({"id": id, "client_id": client, "type": "from_client"}),
            chrono_tz::Tz::UTC,
        )
        .expect("a message");
        m.kind = kind;
        m.created = Some(DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::minutes(minute));
        m
    }

    #[test]
    fn an_answer_later_in_the_batch_ends_the_wait() {
        let batch = [
            message(1, 7, MessageKind::FromClient, 0),
            message(2, 7, MessageKind::ToClient, 1),
            message(3, 8, MessageKind::FromClient, 1),
            message(4, 8, MessageKind::Autoreply, 2),
            message(5, 7, MessageKind::FromClient, 3),
            message(6, 7, MessageKind::FromClient, 4),
        ];
        let turns = fold(&batch);
        let seven = &turns[&7];
        assert_eq!(
            seven.waiting.map(|m| m.id),
            Some(5),
            "the first message after the answer"
        );
        assert!(seven.answered.is_some());
        let mut later = message(7, 8, MessageKind::FromClient, 5);
        later.request_id = Some(99);
        let turns_later = fold(std::slice::from_ref(&later));
        assert_eq!(turns_later[&8].waiting.map(|m| m.id), Some(7));
        let eight = &turns[&8];
        assert_eq!(
            eight.waiting.map(|m| m.id),
            Some(3),
            "an auto-reply is no answer"
        );
        assert!(eight.answered.is_none());
    }
}

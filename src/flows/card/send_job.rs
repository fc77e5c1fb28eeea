//! The card's send job kind (`card_send`): a message a manager wrote in a CRM card tab, sent
//! once with `POST /messages`, attributed to the manager's Chat2Desk operator (none: the
//! company), under the same write-first rules as the business-process action. The message is
//! stored in `sends` under its form's send key, so a double click or a retry is one job.

use crate::chat2desk::NewMessage;
use crate::engine::recipient::{self, WriteFirst, WriteFirstRules};
use crate::engine::{self, checkpoint, send_once, JobError, KeyField, Live};
use crate::engine::{Outcome, Services, Steps, Stop};
use crate::store::{Job, JobKind};
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The kind, as stored in the queue; the key is the `sends` row id.
pub const CARD_SEND: JobKind = JobKind::new("card_send");

/// One message written in a tab, as stored in `sends`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardSend {
    /// The portal user who wrote it.
    pub user_id: i64,
    /// The entity's kind (`lead`…) and id, for the log.
    pub entity: (String, i64),
    /// The Chat2Desk client the tab showed, when it had one.
    pub client_id: Option<i64>,
    /// The entity's phone (E.164), to find or create the client when none was shown.
    pub phone: Option<String>,
    /// The channel chosen.
    pub channel_id: i64,
    /// The text, file links on their own lines at its end.
    pub text: String,
    /// The operator it is attributed to; `None` = the company.
    pub operator_id: Option<i64>,
}

/// What a card send has done, saved after every remote write.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CardSendSteps {
    /// The Chat2Desk client, once found or created.
    pub client_id: Option<i64>,
    /// The client's transports on the channel, read before the intent.
    pub client_transports: Option<Vec<String>>,
    /// When `POST /messages` was about to be sent (unix ms).
    pub intent_at: Option<i64>,
    /// The result, once known.
    pub outcome: Option<Outcome>,
}

impl Steps for CardSendSteps {}

/// The card's send job, reading the live rules of the write-first guard (the
/// business-process send rules: `[bizproc] write_first_daily_limit`).
pub struct CardSendJob<R> {
    rules: Live<R>,
}

impl<R> CardSendJob<R> {
    /// The job, reading `rules` at the start of each run.
    pub fn new(rules: Live<R>) -> Self {
        Self { rules }
    }
}

impl<R> std::fmt::Debug for CardSendJob<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CardSendJob")
    }
}

impl<R: WriteFirstRules> engine::Job for CardSendJob<R> {
    type Steps = CardSendSteps;

    fn kind(&self) -> JobKind {
        CARD_SEND
    }

    fn noun(&self) -> &'static str {
        "Card send"
    }

    fn words(&self) -> &'static str {
        "card send"
    }

    fn key_field(&self) -> KeyField {
        KeyField::SendId
    }

    fn run<'a>(
        &'a self,
        services: &'a Services,
        job: &'a Job,
        lease: Duration,
    ) -> BoxFuture<'a, Result<CardSendSteps, JobError>> {
        Box::pin(async move {
            let rules = self.rules.now().write_first();
            let send_id = job.key;
            let send = services
                .store
                .send_payload(send_id)
                .await?
                .and_then(|v| serde_json::from_value::<CardSend>(v).ok())
                .ok_or_else(|| {
                    JobError::Permanent(format!(
                        "card send {send_id}: its stored message is missing or unreadable (table sends)"
                    ))
                })?;
            let mut steps = CardSendSteps::of(job);
            if steps.outcome.is_none() {
                let outcome = match deliver(services, rules, job, &send, &mut steps, lease).await {
                    Ok(message_id) => Outcome::Sent { message_id },
                    Err(Stop::Refused(error)) => Outcome::Refused { error },
                    Err(Stop::Job(JobError::Permanent(reason))) => Outcome::Refused {
                        error: format!("Chat2Desk не принял сообщение: {reason}"),
                    },
                    Err(Stop::Job(e)) => return Err(e),
                };
                log_outcome(send_id, &send, &outcome);
                steps.outcome = Some(outcome);
                checkpoint(services, job, &steps, lease).await?;
            }
            Ok(steps)
        })
    }
}

/// Everything up to the message: its Chat2Desk id.
async fn deliver(
    services: &Services,
    rules: WriteFirst,
    job: &Job,
    send: &CardSend,
    steps: &mut CardSendSteps,
    lease: Duration,
) -> Result<i64, Stop> {
    let channel = recipient::channel(services, send.channel_id).await?;
    let client_id = match steps.client_id.or(send.client_id) {
        Some(id) => id,
        None => {
            let phone = send.phone.as_deref().ok_or_else(|| {
                Stop::Refused(
                    "в карточке нет телефона: добавьте телефон клиента, чтобы написать ему".into(),
                )
            })?;
            let to = (phone, &channel, None);
            let id = recipient::client_for_phone(services, rules, job, to, lease).await?;
            steps.client_id = Some(id);
            checkpoint(services, job, &*steps, lease).await?;
            id
        }
    };
    let transports = match steps.client_transports.clone() {
        Some(t) => t,
        None => recipient::client_transports(services, client_id, channel.id).await?,
    };
    let offered = &channel.transports;
    let transport = transports
        .iter()
        .find(|t| offered.is_empty() || offered.contains(t))
        .or(offered.first())
        .cloned();
    let message = NewMessage {
        client_id,
        text: send.text.clone(),
        channel_id: Some(channel.id),
        transport,
        external_id: Some(format!("b24card-{}", job.key)),
        operator_id: send.operator_id,
        kind: "to_client",
        ..NewMessage::default()
    };
    let sent = send_once(services, &message, steps.intent_at, None, |at| {
        steps.intent_at = Some(at);
        steps.client_transports = Some(transports);
        let saved = steps.clone();
        async move { checkpoint(services, job, &saved, lease).await }
    })
    .await
    .map_err(|e| e.into_stop("Chat2Desk отказался отправить сообщение"))?;
    Ok(sent.message_id)
}

fn log_outcome(send_id: i64, send: &CardSend, outcome: &Outcome) {
    let (entity, entity_id) = (&send.entity.0, send.entity.1);
    match outcome {
        Outcome::Sent { message_id } => tracing::info!(
            send_id,
            entity = %entity,
            entity_id,
            user_id = send.user_id,
            operator_id = send.operator_id,
            channel_id = send.channel_id,
            message_id,
            "Sent a message from a CRM card tab"
        ),
        Outcome::Refused { error } => tracing::warn!(
            send_id,
            entity = %entity,
            entity_id,
            user_id = send.user_id,
            channel_id = send.channel_id,
            error = %error,
            "CRM card tab message not sent"
        ),
    }
}

//! `POST /bitrix24/card/send`: a message written in the tab (`channel`, `text`, `files`, and
//! the form's one-time `key`), with the session's headers. It is checked against what the
//! tab offered (the channel among the session's), stored under `card:<user>:<key>` and
//! queued as a `card_send` job: the same key again (a double click, a retry, a replay) is
//! refused and sends nothing more. The answer waits a little for the job's outcome, so a
//! refusal is shown in the tab; each answer carries the key for the next message.

use super::route::{json, CardRoute};
use super::send_job::{CardSend, CardSendSteps, CARD_SEND};
use crate::config::random_token;
use crate::engine::{Outcome, Steps};
use crate::portal::sanitize_url;
use crate::server::{form_pairs, read_body, Answer, Caller, FORM_LIMIT};
use crate::store::{Intake, JobState};
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::json;
use std::time::Duration;

/// How long the answer waits for the job's outcome before saying it is queued.
const OUTCOME_WAIT: Duration = Duration::from_secs(15);
/// How often it looks.
const OUTCOME_LOOK: Duration = Duration::from_millis(50);
/// The longest text taken, in characters.
const MAX_TEXT: usize = 4096;

impl CardRoute {
    /// Queues the tab's message once and answers with its outcome.
    pub(super) async fn send(&self, req: Request<Incoming>, caller: Caller<'_>) -> Answer {
        let session = match self.session_of(&req) {
            Ok(session) => session,
            Err(answer) => return *answer,
        };
        let next_key = random_token();
        let refuse = |status: StatusCode, error: &str, message: &str| {
            json(
                status,
                &json!({"error": error, "message": message, "key": next_key}),
            )
        };
        let body = match read_body(req, caller.settings, FORM_LIMIT).await {
            Ok(body) => body,
            Err((status, reason)) => return refuse(status, "body", reason),
        };
        let form = form_pairs(&String::from_utf8_lossy(&body));
        let field = |name: &str| form.get(name).map(|v| v.trim()).unwrap_or_default();
        let key = field("key");
        if key.len() < 16 {
            return refuse(
                StatusCode::BAD_REQUEST,
                "key",
                "Форма устарела: обновите вкладку.",
            );
        }
        let writer = &session.writer;
        let Some(channel_id) = field("channel")
            .parse::<i64>()
            .ok()
            .filter(|c| writer.channels.iter().any(|(id, _)| id == c))
        else {
            return refuse(
                StatusCode::BAD_REQUEST,
                "channel",
                "Выберите канал из списка.",
            );
        };
        let mut text = field("text").to_string();
        let files: Vec<&str> = field("files").split_whitespace().collect();
        if let Some(bad) = files.iter().find(|f| sanitize_url(f).is_none()) {
            let message =
                format!("«{bad}» — не ссылка на файл: нужна ссылка http:// или https://.");
            return refuse(StatusCode::BAD_REQUEST, "files", &message);
        }
        if !files.is_empty() {
            if !text.is_empty() {
                text.push_str("\n\n");
            }
            text.push_str(&files.join("\n"));
        }
        if text.is_empty() || text.chars().count() > MAX_TEXT {
            let message = format!("Напишите текст сообщения (до {MAX_TEXT} знаков).");
            return refuse(StatusCode::BAD_REQUEST, "text", &message);
        }
        if writer.client_id.is_none() && writer.phone.is_none() {
            let message = "В карточке нет телефона: добавьте телефон клиента, чтобы написать ему.";
            return refuse(StatusCode::UNPROCESSABLE_ENTITY, "refused", message);
        }
        let (user, entity) = (&session.user, &session.entity);
        let send = CardSend {
            user_id: user.id,
            entity: (entity.kind.clone(), entity.id),
            client_id: writer.client_id,
            phone: writer.phone.clone(),
            channel_id,
            text,
            operator_id: writer.operator.as_ref().map(|o| o.id),
        };
        let payload = serde_json::to_value(&send).expect("a card send serialises");
        let token = format!("card:{}:{key}", user.id);
        let store = &self.services.store;
        let queued = match store
            .enqueue_send_as(CARD_SEND, &token, &payload, Intake::Manual)
            .await
        {
            Ok(queued) => queued,
            Err(e) => {
                tracing::error!(error = %e, "Cannot queue a CRM card tab message (the state database)");
                let message = "Сообщение не поставлено в очередь: база состояния недоступна, попробуйте позже.";
                return refuse(StatusCode::SERVICE_UNAVAILABLE, "store", message);
            }
        };
        if !queued.new {
            tracing::warn!(
                send_id = queued.send_id,
                user_id = user.id,
                "Refused a CRM card tab message sent again with the same key"
            );
            let message = "Это сообщение уже отправлено: повторная отправка ничего не отправляет.";
            return refuse(StatusCode::CONFLICT, "replayed", message);
        }
        tracing::info!(
            send_id = queued.send_id,
            entity = %entity.kind,
            entity_id = entity.id,
            user_id = user.id,
            "Queued a message from a CRM card tab"
        );
        self.tab.wake.notify_one();
        match self.outcome(queued.send_id).await {
            Some(Outcome::Sent { message_id }) => json(
                StatusCode::OK,
                &json!({"status": "sent", "message_id": message_id, "key": next_key}),
            ),
            Some(Outcome::Refused { error }) => {
                let message = format!("Сообщение не отправлено: {error}");
                refuse(StatusCode::UNPROCESSABLE_ENTITY, "refused", &message)
            }
            None => json(
                StatusCode::ACCEPTED,
                &json!({"status": "queued", "key": next_key,
                        "message": "Сообщение в очереди: оно появится здесь, когда Chat2Desk его примет."}),
            ),
        }
    }

    /// The send's outcome once its job ends, if it does within [`OUTCOME_WAIT`].
    async fn outcome(&self, send_id: i64) -> Option<Outcome> {
        let started = tokio::time::Instant::now();
        while started.elapsed() < OUTCOME_WAIT {
            match self.services.store.job(CARD_SEND, send_id).await {
                Ok(Some(job)) if job.state == JobState::Done => {
                    return CardSendSteps::of(&job).outcome;
                }
                Ok(Some(job)) if job.state == JobState::Dead => {
                    let error = job.last_error.unwrap_or_default();
                    return Some(Outcome::Refused { error });
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(send_id, error = %e, "Cannot read a card send's job");
                    return None;
                }
            }
            tokio::time::sleep(OUTCOME_LOOK).await;
        }
        None
    }
}

//! The steps of one `line_out` job (an operator's reply from an Open Line to the client):
//! the chat's Chat2Desk client, the line's channel the client writes on, the files made
//! reachable, the text as the messenger shows it, `POST /messages` exactly once, then
//! `imconnector.send.status.delivery` and `event.offline.clear` for the portal's event.
//! Progress is saved after every remote write, so a run after a crash goes on where the
//! last one stopped and sends nothing twice.
//!
//! A reply Chat2Desk refuses (4xx), or one that cannot be sent at all (the chat is not a
//! Chat2Desk client, the line is not configured), is not retried: the line is told with a
//! message from the connector, and the event is marked with `event.offline.error`.

use super::line_files::file_links;
use super::line_notice::tell_line;
use super::plain_text;
use super::queued::new_or_done;
use super::{line_chain, line_job, LineRules};
use crate::chat2desk::{Chat2DeskError, MessageQuery, NewMessage, Order};
use crate::engine::{checkpoint, JobError, Services, Steps};
use crate::engine::{send_once, Outcome, Stop};
use crate::metrics::{global, Direction};
use crate::portal::{id_from_value, AppClient, BitrixError};
use crate::store::{Intake, Job, JobKind, LineItem, LineOrder, Store, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::time::Duration;

/// Messages of the client read to find the channel it writes on.
const CHANNEL_LOOKUP_LIMIT: u64 = 50;

/// A file an operator attached: a link on the portal (doc §3.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortalFile {
    /// The file name.
    pub name: String,
    /// The portal's signed short link.
    pub link: String,
}

/// What a `line_out` job carries (the `line_messages` payload): one element of an
/// `OnImConnectorMessageAdd` event and the event it came in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperatorReply {
    /// The Open Line.
    pub line: i64,
    /// `chat.id`: the external chat, `c2d-<Chat2Desk client id>`.
    pub chat_id: String,
    /// `im` as the portal sent it (`chat_id`, `message_id`), returned in the delivery status.
    pub im: Value,
    /// The portal's IM message id (the ledger key).
    pub im_message_id: String,
    /// The BB-coded text, signature included.
    pub text: String,
    /// The attached files.
    pub files: Vec<PortalFile>,
    /// The event's `MESSAGE_ID` (what `event.offline.clear` / `.error` name).
    pub event_message_id: String,
    /// The reservation the event was read under.
    pub process_id: String,
    /// `TIMESTAMP_X` of the event (for the latency metric).
    pub raised_at: Option<String>,
}

impl OperatorReply {
    /// Logs a portal call made for this reply that was refused or could not be read: the
    /// job, the line, the chat, the portal method, the error, and `what` it means.
    pub(super) fn warn_portal(
        &self,
        job: &Job,
        method: &str,
        error: &dyn std::fmt::Display,
        what: &str,
    ) {
        tracing::warn!(
            line_message = job.key,
            line = self.line,
            chat = %self.chat_id,
            portal_method = method,
            error = %error,
            "{what}"
        );
    }
}

/// Queues the replies of one event in one transaction (each reply is queued once, however
/// often the event is read). Returns how many were new, or `None` when every reply was
/// queued before and its job is done: the portal handed the event out again (a new
/// reservation the done job will not clear), so the caller clears the event.
pub async fn enqueue_operator_replies(
    store: &Store,
    replies: &[OperatorReply],
) -> Result<Option<usize>, StoreError> {
    let items: Vec<LineItem> = replies
        .iter()
        .map(|r| LineItem {
            external_id: r.im_message_id.clone(),
            chain: client_of(&r.chat_id)
                .map(line_chain)
                .unwrap_or_else(|| format!("line:{}", r.chat_id)),
            order: order_of(r),
            payload: serde_json::to_value(r).expect("a reply serialises"),
        })
        .collect();
    let queued = store
        .enqueue_line_messages(LINE_OUT, &items, Intake::Openlines)
        .await?;
    let new = new_or_done(store, &LINE_OUT, &queued).await?;
    if new.is_none() {
        for r in replies {
            tracing::info!(line = r.line, chat = %r.chat_id, im_message_id = %r.im_message_id,
                "An operator's reply event came again; the reply was passed on before, clearing the event");
        }
    }
    Ok(new)
}

/// A reply's place in its chat's chain: when the portal raised its event (replies read
/// later, e.g. taken over after a crash, still go in the order they were written), due now.
fn order_of(reply: &OperatorReply) -> LineOrder {
    let mut order = LineOrder::now();
    if let Some(raised) = reply.raised_at.as_deref().and_then(raised_ms) {
        order.seq_ms = raised;
    }
    order
}

/// `TIMESTAMP_X` (ISO 8601 with an offset) as unix ms.
fn raised_ms(at: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(at)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// The Chat2Desk client behind a chat id of ours (`c2d-<id>`).
pub(super) fn client_of(chat_id: &str) -> Option<i64> {
    chat_id.trim().strip_prefix("c2d-")?.parse().ok()
}

/// Where the reply goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Target {
    client_id: i64,
    channel_id: i64,
    /// The transport of the client's last message there (`None`: Chat2Desk's default).
    transport: Option<String>,
}

/// The kind of an operator's reply to the client; the key is the `line_messages` row id.
pub const LINE_OUT: JobKind = JobKind::new("line_out");

/// Progress of a `line_out` job.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LineOutProgress {
    target: Option<Target>,
    /// The file links given to Chat2Desk (public links of re-hosted files, or the portal's).
    links: Option<Vec<String>>,
    /// This reply tells the chat that files go as portal links (once per chat).
    links_notice: bool,
    /// When `POST /messages` was about to be sent (unix ms).
    intent_at: Option<i64>,
    outcome: Option<Outcome>,
    /// When the notice to the line was about to be pushed (unix ms).
    notice_at: Option<i64>,
    /// The line was told (the links notice, or the refusal).
    told: bool,
    /// `imconnector.send.status.delivery` answered.
    delivery_sent: bool,
    /// `event.offline.clear` (sent) or `event.offline.error` (refused) answered.
    event_done: bool,
}

impl Steps for LineOutProgress {}

/// Runs one `line_out` job to the end; returns its steps.
pub(super) async fn deliver_to_client(
    services: &Services,
    rules: &LineRules,
    job: &Job,
    lease: Duration,
) -> Result<LineOutProgress, JobError> {
    let mut progress = LineOutProgress::of(job);
    let reply: OperatorReply = line_job::stored(services, job, "reply").await?;
    let app = line_job::app(services)?;
    if progress.outcome.is_none() {
        // The chat's IM id, for reading the chat after a client's push left unanswered.
        if let Some(im_chat) = reply.im.get("chat_id").and_then(id_from_value) {
            services
                .store
                .remember_im_chat(reply.line, &reply.chat_id, im_chat)
                .await?;
        }
        let outcome = match deliver(services, rules, job, &reply, &mut progress, lease).await {
            Ok(message_id) => Outcome::Sent { message_id },
            Err(Stop::Refused(error)) => Outcome::Refused { error },
            Err(Stop::Job(JobError::Permanent(reason))) => Outcome::Refused { error: reason },
            Err(Stop::Job(e)) => return Err(e),
        };
        record(job, &reply, &outcome);
        progress.outcome = Some(outcome);
        checkpoint(services, job, &progress, lease).await?;
    }
    let outcome = progress.outcome.clone().expect("set above");
    if !progress.told {
        let notice = match &outcome {
            Outcome::Refused { error } => Some(format!("Сообщение не доставлено клиенту: {error}")),
            Outcome::Sent { .. } if progress.links_notice => Some(
                "Файлы операторов уходят клиенту ссылками на портал: клиент сможет открыть их, \
                 только если портал доступен из интернета. Чтобы файлы открывались у клиента, \
                 администратору нужно задать [server] public_url в настройках chat2desk-b24."
                    .to_string(),
            ),
            Outcome::Sent { .. } => None,
        };
        if let Some(text) = notice {
            let pushed_before = progress.notice_at.is_some();
            if !pushed_before {
                progress.notice_at = Some(chrono::Utc::now().timestamp_millis());
                checkpoint(services, job, &progress, lease).await?;
            }
            tell_line(app, rules, job, &reply, &text, pushed_before).await?;
        }
        progress.told = true;
        checkpoint(services, job, &progress, lease).await?;
    }
    if let (Outcome::Sent { message_id }, false) = (&outcome, progress.delivery_sent) {
        delivery_status(app, rules, job, &reply, *message_id).await?;
        progress.delivery_sent = true;
        checkpoint(services, job, &progress, lease).await?;
    }
    if !progress.event_done {
        finish_event(app, rules, job, &reply, &outcome).await?;
        progress.event_done = true;
        checkpoint(services, job, &progress, lease).await?;
    }
    Ok(progress)
}

/// Everything up to the message in Chat2Desk: its id.
async fn deliver(
    services: &Services,
    rules: &LineRules,
    job: &Job,
    reply: &OperatorReply,
    progress: &mut LineOutProgress,
    lease: Duration,
) -> Result<i64, Stop> {
    let target = match progress.target.clone() {
        Some(t) => t,
        None => {
            let t = target(services, rules, reply).await?;
            progress.target = Some(t.clone());
            checkpoint(services, job, &*progress, lease).await?;
            t
        }
    };
    let links = match progress.links.clone() {
        Some(links) => links,
        None => {
            let (links, notice) = file_links(&services.store, rules, reply).await?;
            progress.links = Some(links.clone());
            progress.links_notice = notice;
            checkpoint(services, job, &*progress, lease).await?;
            links
        }
    };
    let mut text = plain_text(&reply.text, rules.signature);
    for link in &links {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(link);
    }
    if text.trim().is_empty() {
        return Err(Stop::Refused(
            "в ответе нет ни текста, ни файлов — Chat2Desk нечего отправить".into(),
        ));
    }
    let message = NewMessage {
        client_id: target.client_id,
        text,
        channel_id: Some(target.channel_id),
        transport: target.transport.clone(),
        external_id: Some(format!("b24-line-{}", reply.im_message_id)),
        kind: "to_client",
        ..NewMessage::default()
    };
    let sent = send_once(services, &message, progress.intent_at, None, |at| {
        progress.intent_at = Some(at);
        let saved = progress.clone();
        async move { checkpoint(services, job, &saved, lease).await }
    })
    .await
    .map_err(|e| e.into_stop("Chat2Desk отказался его отправить"))?;
    if sent.found {
        tracing::info!(
            line_message = job.key,
            line = reply.line,
            chat = %reply.chat_id,
            message_id = sent.message_id,
            "Found the reply an interrupted run had sent; not sending it again"
        );
    }
    Ok(sent.message_id)
}

/// The chat's client and the line's channel it writes on: the channel of its latest
/// message on one of the line's channels, else the line's only channel.
async fn target(
    services: &Services,
    rules: &LineRules,
    reply: &OperatorReply,
) -> Result<Target, Stop> {
    let Some(client_id) = client_of(&reply.chat_id) else {
        return Err(Stop::Refused(format!(
            "чат «{}» открыт не через Chat2Desk (ожидался идентификатор вида c2d-<клиент>)",
            reply.chat_id
        )));
    };
    let Some(line) = rules.lines.iter().find(|l| l.line == reply.line) else {
        return Err(Stop::Refused(format!(
            "линия {} не указана в [[openlines.lines]] настроек chat2desk-b24",
            reply.line
        )));
    };
    let page = services
        .chat2desk
        .messages(&MessageQuery {
            client_id: Some(client_id),
            order: Some(Order::Desc),
            limit: CHANNEL_LOOKUP_LIMIT,
            ..MessageQuery::default()
        })
        .await;
    let page = match page {
        Ok(page) => page,
        Err(Chat2DeskError::NotFound { .. }) => {
            return Err(Stop::Refused(format!(
                "клиент Chat2Desk {client_id} не найден"
            )))
        }
        Err(e) => return Err(e.into()),
    };
    let last = page
        .items
        .iter()
        .find(|m| m.channel_id.is_some_and(|c| line.channels.contains(&c)));
    match (last, line.channels.as_slice()) {
        (Some(m), _) => Ok(Target {
            client_id,
            channel_id: m.channel_id.expect("filtered above"),
            transport: m.transport.clone(),
        }),
        (None, [only]) => Ok(Target {
            client_id,
            channel_id: *only,
            transport: None,
        }),
        (None, _) => Err(Stop::Refused(format!(
            "клиент Chat2Desk {client_id} не писал ни в один из каналов линии {} ({}): \
             неизвестно, через какой канал ему ответить",
            reply.line,
            line.channels
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// `imconnector.send.status.delivery` (doc §2.4): the portal marks the message delivered and
/// learns its Chat2Desk id (edits and deletes raise events only after it). An answered
/// error is logged and skipped: the client has the message.
async fn delivery_status(
    app: &AppClient,
    rules: &LineRules,
    job: &Job,
    reply: &OperatorReply,
    message_id: i64,
) -> Result<(), JobError> {
    const METHOD: &str = "imconnector.send.status.delivery";
    let params = json!({
        "CONNECTOR": rules.connector,
        "LINE": reply.line,
        "MESSAGES": [{
            "im": reply.im,
            "message": {"id": [format!("c2d-msg-{message_id}")], "date": chrono::Utc::now().timestamp()},
            "chat": {"id": reply.chat_id},
        }],
    });
    match app.call(METHOD, params).await {
        Ok(_) => Ok(()),
        Err(e @ (BitrixError::Api { .. } | BitrixError::Config { .. })) => {
            reply.warn_portal(
                job,
                METHOD,
                &e,
                "The portal refused the delivery status; the client has the reply",
            );
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// `event.offline.clear` for a sent reply, `event.offline.error` for a refused one: the
/// event leaves the queue (or is kept aside as an error) under its reservation.
async fn finish_event(
    app: &AppClient,
    rules: &LineRules,
    job: &Job,
    reply: &OperatorReply,
    outcome: &Outcome,
) -> Result<(), JobError> {
    if reply.process_id.is_empty() {
        // Read without a reservation: the portal already deleted the event.
        return Ok(());
    }
    let method = match outcome {
        Outcome::Sent { .. } => "event.offline.clear",
        Outcome::Refused { .. } => "event.offline.error",
    };
    app.call(
        method,
        json!({
            "process_id": reply.process_id,
            "message_id": [reply.event_message_id],
            "auth_connector": rules.connector,
        }),
    )
    .await
    .map_err(|e| {
        reply.warn_portal(
            job,
            method,
            &e,
            "Cannot finish the portal's event of a reply",
        );
        JobError::from(e)
    })?;
    Ok(())
}

/// Logs the outcome and counts it in `/metrics`.
fn record(job: &Job, reply: &OperatorReply, outcome: &Outcome) {
    let latency = reply
        .raised_at
        .as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .and_then(|t| {
            (chrono::Utc::now() - t.with_timezone(&chrono::Utc))
                .to_std()
                .ok()
        });
    match outcome {
        Outcome::Sent { message_id } => {
            global().record_line_message(Direction::ToClient, "delivered", latency);
            tracing::info!(
                line_message = job.key,
                line = reply.line,
                chat = %reply.chat_id,
                message_id,
                "Passed an operator's reply to the client"
            );
        }
        Outcome::Refused { error } => {
            global().record_line_message(Direction::ToClient, "refused", latency);
            tracing::warn!(
                line_message = job.key,
                line = reply.line,
                chat = %reply.chat_id,
                error = %error,
                "Operator's reply not delivered; the line is told"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flows::openlines::chat_key;

    #[test]
    fn chat_ids_name_clients() {
        assert_eq!(client_of(&chat_key(5512)), Some(5512));
        assert_eq!(client_of("livechat-7"), None);
        assert_eq!(client_of("c2d-x"), None);
    }
}

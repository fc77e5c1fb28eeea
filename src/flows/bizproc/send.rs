//! The steps of one send job (the business-process action «Написать сообщение на номер»):
//! normalise the phone, check the channel, find or create the Chat2Desk client, send the
//! message exactly once, write a refusal to the timeline and notify the responsible, and
//! complete the waiting activity with `bizproc.event.send`. Progress is saved after every
//! remote write.

use super::SendCall;
use super::SendProgress;
use crate::chat2desk::{Channel, NewMessage};
use crate::config::FileMode;
use crate::engine::recipient::{self, WriteFirst, WriteFirstRules};
use crate::engine::{checkpoint, JobError, Services, Steps};
use crate::engine::{send_once, Outcome, Stop};
use crate::portal::crm::phone::normalize_phone;
use crate::portal::crm::EntityRef;
use crate::portal::{escape, BitrixError};
use crate::store::Job;
use std::time::Duration;

/// What the send steps need besides the services (from `[bizproc]` and `[crm] timezone`).
#[derive(Debug, Clone)]
pub struct SendRules {
    /// New clients written to first per day at most (0 = no limit).
    pub write_first_daily_limit: u32,
    /// How file links are sent.
    pub files: FileMode,
    /// The zone whose calendar day the daily limit counts.
    pub timezone: chrono_tz::Tz,
}

impl WriteFirstRules for SendRules {
    fn write_first(&self) -> WriteFirst {
        WriteFirst {
            daily_limit: self.write_first_daily_limit,
            timezone: self.timezone,
        }
    }
}

/// Pauses between `bizproc.event.send` attempts inside one run, for the answer that comes
/// before the portal has saved the waiting workflow (`bitrix24-apps.md` §5); after them the
/// job's own backoff takes over.
const EVENT_SEND_PAUSES_MS: [u64; 5] = [200, 500, 1_000, 2_000, 4_000];

/// Runs one send job to the end, saving progress after every remote write.
pub(super) async fn send_message(
    services: &Services,
    rules: &SendRules,
    job: &Job,
    lease: Duration,
) -> Result<SendProgress, JobError> {
    let send_id = job.key;
    let payload = services.store.send_payload(send_id).await?;
    let call = payload
        .as_ref()
        .and_then(SendCall::from_value)
        .ok_or_else(|| {
            JobError::Permanent(format!(
                "send {send_id}: its stored call is missing or unreadable (table sends)"
            ))
        })?;
    let mut progress = SendProgress::of(job);
    if progress.outcome.is_none() {
        let outcome = match deliver(services, rules, job, &call, &mut progress, lease).await {
            Ok(message_id) => Outcome::Sent { message_id },
            Err(Stop::Refused(error)) => Outcome::Refused { error },
            // Chat2Desk refused for good (or answered what we cannot use): the process
            // must hear about it rather than wait for its timeout.
            Err(Stop::Job(JobError::Permanent(reason))) => Outcome::Refused {
                error: format!("Chat2Desk не принял сообщение: {reason}"),
            },
            Err(Stop::Job(e)) => return Err(e),
        };
        log_outcome(send_id, &call, &outcome);
        progress.outcome = Some(outcome);
        checkpoint(services, job, &progress, lease).await?;
    }
    if let Some(Outcome::Refused { error }) = progress.outcome.clone() {
        if let Some(entity) = call.entity() {
            if progress.comment_id.is_none() {
                progress.comment_id =
                    Some(comment_refusal(services, job, &call, entity, &error).await?);
                checkpoint(services, job, &progress, lease).await?;
            }
            if !progress.notified {
                notify_refusal(services, send_id, &call, entity, &error).await?;
                progress.notified = true;
                checkpoint(services, job, &progress, lease).await?;
            }
        } else {
            tracing::warn!(send_id, document = ?call.document_id, "Refused send has no CRM entity to comment on or responsible to notify");
        }
    }
    if let (Some(token), false) = (&call.event_token, progress.reported) {
        let outcome = progress.outcome.clone().expect("set above");
        progress.report_error = report(services, send_id, token, &call, &outcome).await?;
        progress.reported = true;
        checkpoint(services, job, &progress, lease).await?;
    }
    Ok(progress)
}

/// Everything up to the message: its Chat2Desk id.
async fn deliver(
    services: &Services,
    rules: &SendRules,
    job: &Job,
    call: &SendCall,
    progress: &mut SendProgress,
    lease: Duration,
) -> Result<i64, Stop> {
    let phone = normalize_phone(&call.phone).ok_or_else(|| {
        Stop::Refused(format!(
            "номер «{}» не похож на телефон: нужен номер в международном формате, например +7 916 123-45-67",
            call.phone
        ))
    })?;
    let channel = recipient::channel(services, call.channel_id).await?;
    let client_id = match progress.client_id {
        Some(id) => id,
        None => {
            let to = (phone.as_str(), &channel, call.transport.clone());
            let id =
                recipient::client_for_phone(services, rules.write_first(), job, to, lease).await?;
            progress.client_id = Some(id);
            checkpoint(services, job, &*progress, lease).await?;
            id
        }
    };
    let transports = match progress.client_transports.clone() {
        Some(t) => t,
        None => recipient::client_transports(services, client_id, channel.id).await?,
    };
    let message = compose(rules, job.key, call, &channel, client_id, &transports)?;
    // The same event_token delivered again after the state database was lost is a new send
    // row: the message's external_id comes from the token, and the first run looks for it
    // among the client's messages written since the call was made.
    let asked_at = call.event_token.as_ref().and(call.ts).map(|ts| ts * 1000);
    let sent = send_once(services, &message, progress.intent_at, asked_at, |at| {
        progress.intent_at = Some(at);
        progress.client_transports = Some(transports);
        let saved = progress.clone();
        async move { checkpoint(services, job, &saved, lease).await }
    })
    .await
    .map_err(|e| {
        e.into_stop(&format!(
            "Chat2Desk отказался отправить сообщение на номер {phone}"
        ))
    })?;
    if sent.found {
        tracing::info!(
            send_id = job.key,
            message_id = sent.message_id,
            "Found the message an interrupted run had sent; not sending it again"
        );
    }
    Ok(sent.message_id)
}

/// The `POST /messages` body: the transport (given, else the client's on this channel, else
/// the channel's first) and the files (attachments where the API takes them, links in the
/// text otherwise). The same inputs always give the same body, so a message sent before a
/// crash is recognised.
fn compose(
    rules: &SendRules,
    send_id: i64,
    call: &SendCall,
    channel: &Channel,
    client_id: i64,
    client_transports: &[String],
) -> Result<NewMessage, Stop> {
    let offered = &channel.transports;
    let transport = match &call.transport {
        Some(t) if !offered.is_empty() && !offered.contains(t) => {
            return Err(Stop::Refused(format!(
                "канал Chat2Desk {} не работает с транспортом {t}: доступны {}",
                channel.id,
                offered.join(", ")
            )))
        }
        Some(t) => Some(t.clone()),
        None => client_transports
            .iter()
            .find(|t| offered.is_empty() || offered.contains(t))
            .or(offered.first())
            .cloned(),
    };
    let mut message = NewMessage {
        client_id,
        text: call.text.trim().to_string(),
        channel_id: Some(channel.id),
        transport,
        external_id: Some(call.message_key(send_id)),
        kind: "to_client",
        ..NewMessage::default()
    };
    let mut links = Vec::new();
    for url in &call.files {
        let path = url
            .split(['?', '#'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        let image = [".jpg", ".jpeg", ".png", ".gif", ".webp"]
            .iter()
            .any(|e| path.ends_with(e));
        let attach = rules.files == FileMode::Attach;
        if attach && image && message.attachment.is_none() {
            message.attachment = Some(url.clone());
        } else if attach && path.ends_with(".pdf") && message.pdf.is_none() {
            message.pdf = Some(url.clone());
        } else {
            links.push(url.as_str());
        }
    }
    if !links.is_empty() {
        if !message.text.is_empty() {
            message.text.push_str("\n\n");
        }
        message.text.push_str(&links.join("\n"));
    }
    Ok(message)
}

/// Writes the refusal as a comment on the document's entity; its marker line makes a re-run
/// find it instead of writing it twice.
async fn comment_refusal(
    services: &Services,
    job: &Job,
    call: &SendCall,
    entity: EntityRef,
    error: &str,
) -> Result<i64, JobError> {
    let marker = format!("[i]Chat2Desk: бизнес-процесс · b24send:{}[/i]", job.key);
    if job.runs > 1 {
        let page = services.portal.comments(entity.kind, entity.id, 0).await?;
        if let Some(c) = page
            .items
            .iter()
            .find(|c| c.comment.trim_end().ends_with(&marker))
        {
            return Ok(c.id);
        }
    }
    let text = format!(
        "[b]Chat2Desk:[/b] сообщение на номер {} не отправлено.\nОшибка: {}\nТекст сообщения: {}\n{marker}",
        escape(&shown_phone(call)),
        escape(error),
        escape(call.text.trim()),
    );
    let id = services
        .portal
        .comment_add(entity.kind, entity.id, &text)
        .await?;
    tracing::info!(
        send_id = job.key,
        entity = entity.kind.timeline_name(),
        entity_id = entity.id,
        comment_id = id,
        "Wrote the refused send to the timeline"
    );
    Ok(id)
}

/// Notifies the entity's responsible (`ASSIGNED_BY_ID`) about the refusal.
async fn notify_refusal(
    services: &Services,
    send_id: i64,
    call: &SendCall,
    entity: EntityRef,
    error: &str,
) -> Result<(), JobError> {
    let portal = &services.portal;
    let user = match portal.responsible_of(entity.kind, entity.id).await {
        Ok(user) => user,
        Err(e) if e.kind() == crate::portal::ErrorKind::NotFound => None,
        Err(e) => return Err(e.into()),
    };
    let Some(user) = user else {
        tracing::warn!(
            send_id,
            entity = entity.kind.timeline_name(),
            entity_id = entity.id,
            "Entity of a refused send has no responsible: nobody to notify"
        );
        return Ok(());
    };
    let link = format!(
        "{}/crm/{}/details/{}/",
        portal.portal_url(),
        entity.kind.timeline_name(),
        entity.id
    );
    let message = format!(
        "Chat2Desk: сообщение из бизнес-процесса на номер {} не отправлено ([url={link}]{}[/url]). Ошибка: {}",
        escape(&shown_phone(call)),
        entity_title(entity),
        escape(error)
    );
    portal.notify(user, &message).await?;
    tracing::info!(
        send_id,
        entity = entity.kind.timeline_name(),
        entity_id = entity.id,
        user_id = user,
        "Notified the responsible of a refused send"
    );
    Ok(())
}

/// Completes the waiting activity. Retries the answers of a workflow the portal has not
/// saved yet (`404`/`423`/`ERROR_CORE`); `ACCESS_DENIED` (workflow gone, token expired) ends
/// the job with the reason returned.
async fn report(
    services: &Services,
    send_id: i64,
    token: &str,
    call: &SendCall,
    outcome: &Outcome,
) -> Result<Option<String>, JobError> {
    let (values, log) = match outcome {
        Outcome::Sent { message_id } => (
            serde_json::json!({"sent": "Y", "message_id": message_id.to_string(), "error": ""}),
            format!(
                "Chat2Desk: сообщение {message_id} отправлено на номер {}",
                shown_phone(call)
            ),
        ),
        Outcome::Refused { error } => (
            serde_json::json!({"sent": "N", "message_id": "", "error": error}),
            format!("Chat2Desk: сообщение не отправлено: {error}"),
        ),
    };
    let mut pauses = EVENT_SEND_PAUSES_MS.iter();
    loop {
        let err = match services
            .portal
            .event_send(token, values.clone(), &log)
            .await
        {
            Ok(()) => {
                tracing::info!(
                    send_id,
                    workflow_id = call.workflow_id.as_deref().unwrap_or(""),
                    portal_method = "bizproc.event.send",
                    "Completed the business-process action"
                );
                return Ok(None);
            }
            Err(e) => e,
        };
        if err.code() == Some("ACCESS_DENIED") {
            tracing::error!(send_id, workflow_id = call.workflow_id.as_deref().unwrap_or(""), portal_method = "bizproc.event.send", error = %err, "The portal refused the result (the workflow is gone or its token expired); the send is finished");
            return Ok(Some(err.to_string()));
        }
        if !not_saved_yet(&err) {
            return Err(err.into());
        }
        let Some(pause) = pauses.next() else {
            return Err(JobError::Transient(format!(
                "bizproc.event.send: the waiting workflow is not saved yet or locked ({err}); retried later"
            )));
        };
        tracing::debug!(send_id, portal_method = "bizproc.event.send", error = %err, "Workflow not ready for its result yet; retrying");
        tokio::time::sleep(Duration::from_millis(*pause)).await;
    }
}

/// The portal's answers for a workflow still held by the hit that started it, or not saved
/// yet: `error` 404 or 423 (newer), `ERROR_CORE` (older) (`bitrix24-apps.md` §5, [I]).
fn not_saved_yet(e: &BitrixError) -> bool {
    matches!(e.code(), Some("404" | "423" | "ERROR_CORE")) || e.is_transient()
}

/// The phone as managers read it: normalised when possible, else as given.
fn shown_phone(call: &SendCall) -> String {
    normalize_phone(&call.phone).unwrap_or_else(|| call.phone.trim().to_string())
}

fn entity_title(entity: EntityRef) -> String {
    let kind = match entity.kind {
        crate::portal::EntityType::Lead => "Лид",
        crate::portal::EntityType::Deal => "Сделка",
        crate::portal::EntityType::Contact => "Контакт",
        crate::portal::EntityType::Company => "Компания",
    };
    format!("{kind} #{}", entity.id)
}

fn log_outcome(send_id: i64, call: &SendCall, outcome: &Outcome) {
    let workflow_id = call.workflow_id.as_deref().unwrap_or("");
    match outcome {
        Outcome::Sent { message_id } => tracing::info!(
            send_id,
            workflow_id,
            channel_id = call.channel_id,
            message_id,
            "Sent a message from a business process"
        ),
        Outcome::Refused { error } => tracing::warn!(
            send_id,
            workflow_id,
            channel_id = call.channel_id,
            error = %error,
            "Business-process message not sent"
        ),
    }
}

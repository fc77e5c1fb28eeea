//! The steps of one transcript job: read the request from Chat2Desk, route it to a CRM
//! entity, notify about a reopened lead, and write the transcript parts that are missing.

use super::fetch::{fetch_request, Fetched};
use super::single_flight::{self, client_keys};
use super::{checkpoint, JobError, Progress, Rules, Services};
use crate::bitrix24::EntityType;
use crate::chat2desk::{AttachmentKind, Message, MessageKind, Operator};
use crate::crm::{phone::normalize_phone, ClientFacts, EntityRef, Known, Reopen};
use crate::store::{ClientKey, ClientRecord, Job};
use crate::transcript::{self, Author, FileKind, FileLink, Line, TranscriptInput};
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

/// Comment pages (50 each, newest first) searched for markers of an earlier, interrupted run.
const MARKER_SCAN_PAGES: u64 = 3;
/// How long the lead or contact a job resolved for a client is used by the client's next
/// jobs before the portal's own search: longer than a busy portal's duplicate index lags,
/// short enough that a manager's later changes (a merge, a new lead) win soon.
const REMEMBER_FOR: chrono::Duration = chrono::Duration::hours(1);
/// Record scopes of the CRM entities that stand for a client.
const LEAD_SCOPE: &str = "crm.lead";
const CONTACT_SCOPE: &str = "crm.contact";
/// Record scope prefix of the Chat2Desk client ids whose jobs may create an entity.
const ORIGIN_SCOPE: &str = "crm.origin:";

/// Runs one transcript job to the end, saving progress after every remote write.
pub async fn sync_request(
    services: &Services,
    rules: &Rules,
    job: &Job,
    lease: Duration,
) -> Result<Progress, JobError> {
    let request_id = job.key;
    let mut progress = Progress::from_steps(&job.steps);
    let c2d = &services.chat2desk;

    let Fetched {
        info: request,
        messages,
    } = fetch_request(c2d, request_id).await?;
    let client_id = request
        .client_id
        .or_else(|| messages.iter().find_map(|m| m.client_id))
        .ok_or_else(|| {
            JobError::Permanent(format!(
                "Chat2Desk request {request_id} names no client (GET /v1/requests/{request_id}): nothing to attach the transcript to"
            ))
        })?;
    let client = services.directory.client(c2d, client_id).await?;
    let operator_id = request
        .operator_id
        .or_else(|| messages.iter().rev().find_map(|m| m.operator_id));
    let operators = services.directory.operators(c2d, operator_id).await?;
    let operator = operator_id.and_then(|id| operators.get(&id));

    let phone = client.real_phone().and_then(|p| normalize_phone(&p));

    let entity = match progress.entity {
        Some(entity) => entity,
        None => {
            let facts = ClientFacts {
                client_id,
                name: client.display_name().map(str::to_string),
                phone: phone.clone(),
                email: client.email.clone(),
                transport: messages.iter().find_map(|m| m.transport.clone()),
                operator_id,
            };
            let keys = client_keys(phone.as_deref(), Some(client_id));
            let who = Who {
                keys: &keys,
                facts: &facts,
                operator,
            };
            single_flight::for_client(services, job, &keys, lease, || {
                route(services, rules, job, lease, &who, &mut progress)
            })
            .await?
        }
    };

    // The intent (`progress.reopen`) was saved with the entity before the lead is updated, so
    // a run stopped between the update and its checkpoint redoes the (idempotent) update
    // here and notifies once.
    reopen_lead(services, rules, job, lease, &mut progress).await?;
    if let (Some(reopen), false) = (&progress.reopen, progress.notified) {
        notify_reopen(services, reopen, request_id, client.display_name()).await?;
        progress.notified = true;
        checkpoint(services, job, &progress.to_steps(), lease).await?;
    }

    let dialog_id = request
        .dialog_id
        .or_else(|| messages.iter().find_map(|m| m.dialog_id));
    let chat_url = dialog_id.map(|d| services.directory.chat_url(d));
    let lines: Vec<Line> = messages.iter().map(|m| to_line(m, &operators)).collect();
    let parts = transcript::render(&TranscriptInput {
        request_id,
        opened: request.created,
        chat_url: chat_url.as_deref(),
        client_name: client.display_name(),
        client_phone: phone.as_deref(),
        channel: messages.iter().find_map(|m| m.transport.as_deref()),
        lines: &lines,
        timezone: rules.timezone,
        max_bytes: rules.max_comment_bytes,
    });
    progress.parts_total = parts.len();

    // A first run cannot have written anything yet; only a re-run looks for its own markers.
    let mut present: BTreeSet<usize> = progress.parts_written.iter().copied().collect();
    if job.runs > 1 || !progress.parts_written.is_empty() {
        present.extend(markers_on(services, entity, request_id).await?);
    }
    for (index, text) in parts.iter().enumerate() {
        let part = index + 1;
        if present.contains(&part) {
            continue;
        }
        let id = services
            .portal
            .comment_add(entity.kind, entity.id, text)
            .await?;
        progress.parts_written.push(part);
        progress.comment_ids.push(id);
        present.insert(part);
        checkpoint(services, job, &progress.to_steps(), lease).await?;
    }
    let closed = request.closed.unwrap_or(job.created_at);
    let latency = (chrono::Utc::now() - closed).to_std().unwrap_or_default();
    crate::metrics::global().record_close_to_comment(latency);
    Ok(progress)
}

/// The client being routed: its keys, what we know of it, and the request's operator.
struct Who<'a> {
    keys: &'a [ClientKey],
    facts: &'a ClientFacts,
    operator: Option<&'a Operator>,
}

/// Finds or creates the request's entity while holding its client's claim, trying the
/// records the client's previous jobs resolved first; saves the entity with the job's
/// progress and remembers it for the client's next job, in one transaction.
async fn route(
    services: &Services,
    rules: &Rules,
    job: &Job,
    lease: Duration,
    who: &Who<'_>,
    progress: &mut Progress,
) -> Result<EntityRef, JobError> {
    let keys = who.keys;
    let since = chrono::Utc::now() - REMEMBER_FOR;
    let store = &services.store;
    let records = store.client_records(keys, since).await?;
    let newest = |scope: &str| records.iter().find(|r| r.scope == scope).map(|r| r.id);
    let known = Known {
        lead: newest(LEAD_SCOPE),
        contact: newest(CONTACT_SCOPE),
        origins: records
            .iter()
            .filter(|r| r.scope.starts_with(ORIGIN_SCOPE))
            .map(|r| r.id)
            .collect(),
    };
    // Before anything can be created: whatever this job creates carries its client id in
    // ORIGIN_ID, so the person's next job finds it even if this one is stopped before the
    // entity is remembered and the portal's search has not caught up.
    let own_origin = format!("{ORIGIN_SCOPE}{}", who.facts.client_id);
    if !records.iter().any(|r| r.scope == own_origin) {
        let intent = ClientRecord {
            scope: &own_origin,
            id: who.facts.client_id,
        };
        store.remember_clients(keys, &[intent]).await?;
    }
    let routed = rules
        .router
        .route(&services.portal, who.facts, who.operator, known)
        .await?;
    progress.entity = Some(routed.entity);
    progress.reopen = routed.reopened;
    let scope = match routed.person.kind {
        EntityType::Lead => LEAD_SCOPE,
        _ => CONTACT_SCOPE,
    };
    let record = ClientRecord {
        scope,
        id: routed.person.id,
    };
    store
        .save_client_records(
            job.id,
            &progress.to_steps(),
            chrono::Utc::now() + lease,
            keys,
            &[record],
        )
        .await?;
    // Still under the client's claim, so that the client's next job sees the lead open and
    // does not reopen (and notify) it a second time; the intent is saved above.
    reopen_lead(services, rules, job, lease, progress).await?;
    Ok(routed.entity)
}

/// Puts the lead of a saved reopen intent back to `NEW` unless done, then checkpoints.
async fn reopen_lead(
    services: &Services,
    rules: &Rules,
    job: &Job,
    lease: Duration,
    progress: &mut Progress,
) -> Result<(), JobError> {
    if let (Some(reopen), false) = (&progress.reopen, progress.reopen_done) {
        rules.router.reopen(&services.portal, reopen).await?;
        progress.reopen_done = true;
        checkpoint(services, job, &progress.to_steps(), lease).await?;
    }
    Ok(())
}

/// Parts of this request's transcript already on the entity's timeline.
async fn markers_on(
    services: &Services,
    entity: EntityRef,
    request_id: i64,
) -> Result<BTreeSet<usize>, JobError> {
    let mut found = BTreeSet::new();
    let mut start = 0;
    for _ in 0..MARKER_SCAN_PAGES {
        let page = services
            .portal
            .comments(entity.kind, entity.id, start)
            .await?;
        for comment in &page.items {
            if let Some(marker) = transcript::find_marker(&comment.comment) {
                if marker.request_id == request_id {
                    found.insert(marker.part);
                }
            }
        }
        match page.next {
            Some(next) if !page.items.is_empty() => start = next,
            _ => break,
        }
    }
    Ok(found)
}

async fn notify_reopen(
    services: &Services,
    reopen: &Reopen,
    request_id: i64,
    client_name: Option<&str>,
) -> Result<(), JobError> {
    let Some(user) = reopen.user_id else {
        tracing::warn!(
            entity = "lead",
            entity_id = reopen.lead_id,
            request_id,
            "Reopened lead has no responsible: nobody to notify"
        );
        return Ok(());
    };
    let link = format!(
        "{}/crm/lead/details/{}/",
        services.portal.portal_url(),
        reopen.lead_id
    );
    let title = reopen
        .title
        .clone()
        .unwrap_or_else(|| format!("Лид #{}", reopen.lead_id));
    let who = client_name
        .map(transcript::escape)
        .unwrap_or_else(|| "Клиент".into());
    let message = format!(
        "Клиент {who} снова обратился в Chat2Desk (обращение №{request_id}). Лид [url={link}]{}[/url] возвращён в статус «Не обработан».",
        transcript::escape(&title)
    );
    services.portal.notify(user, &message).await?;
    tracing::info!(
        entity = "lead",
        entity_id = reopen.lead_id,
        request_id,
        user_id = user,
        "Notified the responsible of a reopened lead"
    );
    Ok(())
}

fn to_line(m: &Message, operators: &HashMap<i64, Operator>) -> Line {
    let operator_name = || {
        m.operator_id
            .and_then(|id| operators.get(&id))
            .map(|o| o.full_name())
            .filter(|n| !n.trim().is_empty())
    };
    let author = match &m.kind {
        MessageKind::FromClient => Author::Client,
        MessageKind::ToClient => Author::Operator(operator_name()),
        MessageKind::Autoreply => Author::Bot,
        MessageKind::System => Author::System,
        MessageKind::Comment => Author::InternalNote(operator_name()),
        MessageKind::Other(_) => {
            if m.operator_id.is_some() {
                Author::Operator(operator_name())
            } else {
                Author::System
            }
        }
    };
    Line {
        at: m.created,
        author,
        text: m.text.clone(),
        files: m
            .attachments
            .iter()
            .map(|a| FileLink {
                kind: match a.kind {
                    AttachmentKind::Photo => FileKind::Photo,
                    AttachmentKind::Video => FileKind::Video,
                    AttachmentKind::Audio => FileKind::Audio,
                    AttachmentKind::Document => FileKind::Document,
                    AttachmentKind::File => FileKind::File,
                },
                name: a.name.clone(),
                url: a.url.clone(),
            })
            .collect(),
    }
}

//! The steps of one transcript job: read the request from Chat2Desk, render the transcript,
//! find the CRM entity (one lookup round), then write what is missing (one write round: a new
//! entity, a reopened lead and its notice, the comment parts).

use super::fetch::{fetch_request, Fetched};
use super::single_flight::{self, client_keys};
use super::writes::{scope_of, write_all, Comments, Target, CONTACT_SCOPE, LEAD_SCOPE};
use super::{JobError, Progress, Rules, Services};
use crate::chat2desk::{AttachmentKind, Message, MessageKind, Operator};
use crate::crm::{phone::normalize_phone, ClientFacts, EntityRef, Known, Plan};
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
    let comments = Comments {
        request_id,
        client_id,
        client_name: client.display_name(),
        parts: &parts,
        present: progress.parts_written.iter().copied().collect(),
    };

    match progress.entity {
        Some(entity) => {
            let comments = with_markers(services, job, entity, comments).await?;
            let target = Target::Existing(entity);
            write_all(services, job, lease, target, comments, &mut progress).await?;
        }
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
                route_and_write(services, rules, job, lease, &who, comments, &mut progress)
            })
            .await?;
        }
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

/// While holding the client's claim: finds the request's entity (trying the records the
/// client's previous jobs resolved first) or decides to create it, then writes the new
/// entity, the reopen and the comments in one round. An existing entity is saved with the
/// job's progress (and the reopen intent) and remembered for the client's next job, in one
/// transaction, before anything is written.
async fn route_and_write(
    services: &Services,
    rules: &Rules,
    job: &Job,
    lease: Duration,
    who: &Who<'_>,
    comments: Comments<'_>,
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
    let plan = rules
        .router
        .plan(&services.portal, who.facts, who.operator, known)
        .await?;
    let target = match plan {
        Plan::Create(creation) => Target::New(creation, keys.to_vec()),
        Plan::Existing(routed) => {
            progress.entity = Some(routed.entity);
            progress.reopen = routed.reopened;
            let record = ClientRecord {
                scope: scope_of(routed.person.kind),
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
            Target::Existing(routed.entity)
        }
    };
    // An existing entity may hold parts an interrupted run wrote; a new one holds none.
    let comments = match &target {
        Target::Existing(entity) => with_markers(services, job, *entity, comments).await?,
        Target::New(..) => comments,
    };
    // Still under the client's claim, so that the client's next job sees the lead open and
    // does not reopen (and notify) it a second time, and finds the entity created here.
    write_all(services, job, lease, target, comments, progress).await
}

/// Adds the parts a run of this job wrote before it was stopped: only a re-run looks for
/// its own markers (a first run cannot have written anything yet).
async fn with_markers<'a>(
    services: &Services,
    job: &Job,
    entity: EntityRef,
    mut comments: Comments<'a>,
) -> Result<Comments<'a>, JobError> {
    if job.runs > 1 || !comments.present.is_empty() {
        let found = markers_on(services, entity, comments.request_id).await?;
        comments.present.extend(found);
    }
    Ok(comments)
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

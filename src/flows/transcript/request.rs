//! The steps of one transcript job: read the request from Chat2Desk, render the transcript,
//! find the CRM entity (one lookup round), then write what is missing (one write round: a new
//! entity, a reopened lead and its notice, the comment parts).

use super::fetch::{fetch_request, Fetched};
use super::fields::{new_entity_fields, updated_fields, Sources};
use super::filter::{decide, Seen};
use super::fitting;
use super::text::{self as transcript, Author, FileKind, FileLink, Line, TranscriptInput};
use super::writes::{scope_of, write_all, Comments, Target, CONTACT_SCOPE, LEAD_SCOPE};
use super::Progress;
use crate::chat2desk::{AttachmentKind, Message, MessageKind, Operator};
use crate::config::{CrmFilter, FieldRule, TagRule};
use crate::engine::single_flight::{self, client_keys};
use crate::engine::{self, JobError, KeyField, Live, Services, Steps};
use crate::portal::crm::phone::normalize_phone;
use crate::portal::crm::Router;
use crate::portal::crm::{ClientFacts, EntityRef, Known, Plan};
use crate::portal::Comment;
use crate::store::{ClientKey, ClientRecord, Job, JobKind};
use futures_util::future::BoxFuture;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// What can change on reload for transcripts: routing, and how they are printed.
#[derive(Debug)]
pub struct TranscriptRules {
    /// CRM routing (integration type, source, responsibles).
    pub router: Router,
    /// Time zone of the times in transcripts.
    pub timezone: chrono_tz::Tz,
    /// Largest comment before a transcript is split.
    pub max_comment_bytes: usize,
    /// `[crm.filter]`: which closed requests are synced.
    pub filter: CrmFilter,
    /// `[[crm.fields]]`: Chat2Desk values a new entity gets.
    pub fields: Vec<FieldRule>,
    /// `[[crm.tag_rules]]`: tags that set fields of a new entity.
    pub tag_rules: Vec<TagRule>,
}

/// Comment pages (50 each, newest first) searched for markers of an earlier, interrupted run.
const MARKER_SCAN_PAGES: u64 = 3;
/// How long the lead or contact a job resolved for a client is used by the client's next
/// jobs before the portal's own search: longer than a busy portal's duplicate index lags,
/// short enough that a manager's later changes (a merge, a new lead) win soon.
const REMEMBER_FOR: chrono::Duration = chrono::Duration::hours(1);
/// Record scope prefix of the Chat2Desk client ids whose jobs may create an entity.
const ORIGIN_SCOPE: &str = "crm.origin:";

/// The transcript job, reading the live transcript rules.
#[derive(Debug)]
pub struct TranscriptJob {
    rules: Live<TranscriptRules>,
}

impl TranscriptJob {
    /// The job, reading `rules` at the start of each run.
    pub fn new(rules: Live<TranscriptRules>) -> Self {
        Self { rules }
    }
}

impl engine::Job for TranscriptJob {
    type Steps = Progress;

    fn kind(&self) -> JobKind {
        JobKind::TRANSCRIPT
    }

    fn noun(&self) -> &'static str {
        "Request"
    }

    fn words(&self) -> &'static str {
        "request"
    }

    fn key_field(&self) -> KeyField {
        KeyField::RequestId
    }

    fn run<'a>(
        &'a self,
        services: &'a Services,
        job: &'a Job,
        lease: Duration,
    ) -> BoxFuture<'a, Result<Progress, JobError>> {
        Box::pin(async move {
            let rules = self.rules.now();
            let started = std::time::Instant::now();
            let progress = sync_request(services, &rules, job, lease).await?;
            log_synced(job.key, &progress, started.elapsed());
            Ok(progress)
        })
    }
}

/// Runs one transcript job to the end, saving progress after every remote write.
async fn sync_request(
    services: &Services,
    rules: &TranscriptRules,
    job: &Job,
    lease: Duration,
) -> Result<Progress, JobError> {
    let request_id = job.key;
    let mut progress = Progress::of(job);
    let c2d = &services.chat2desk;

    let Fetched {
        info: request,
        messages,
        read_request,
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
    let seen = Seen {
        channel: messages.iter().find_map(|m| m.channel_id),
        request_tags: &request.tags,
        client_tags: &client.tags,
    };
    // A job that found or wrote its entity already finishes whatever the rules say now.
    if progress.entity.is_none() {
        let decided = decide(c2d, &rules.filter, seen, request_id, read_request).await?;
        if let Some(out) = decided {
            tracing::info!(
                request_id,
                client_id,
                rule = out.rule,
                why = %out.why,
                "Skipped request: a [crm.filter] rule keeps it out of the CRM"
            );
            crate::metrics::global().record_skipped(out.rule);
            progress.skipped = Some(out.why);
            return Ok(progress);
        }
    }
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
            // Saved by an earlier run, which may have written parts before it was stopped.
            let mut comments = comments;
            let found = markers_on(services, entity, request_id).await?;
            record_found(&mut progress, &mut comments, entity, found);
            let target = Target::Existing(entity, serde_json::Map::new());
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
            let tags: Vec<_> = request.tags.iter().chain(&client.tags).cloned().collect();
            let sources = Sources {
                client: &client,
                tags: &tags,
                operator,
                channel: seen.channel,
            };
            let who = Who {
                keys: &keys,
                facts: &facts,
                operator,
                fields: new_entity_fields(&rules.fields, &rules.tag_rules, &sources),
                updates: updated_fields(&rules.fields, &sources),
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

/// The client being routed: its keys, what we know of it, the request's operator, and the
/// fields the rules give a new entity.
struct Who<'a> {
    keys: &'a [ClientKey],
    facts: &'a ClientFacts,
    operator: Option<&'a Operator>,
    fields: serde_json::Map<String, serde_json::Value>,
    /// What `update = true` rules write to an entity that exists.
    updates: serde_json::Map<String, serde_json::Value>,
}

/// While holding the client's claim: finds the request's entity (trying the records the
/// client's previous jobs resolved first) or decides to create it, then writes the new
/// entity, the reopen and the comments in one round. An existing entity is saved with the
/// job's progress (and the reopen intent) and remembered for the client's next job, in one
/// transaction, before anything is written.
async fn route_and_write(
    services: &Services,
    rules: &TranscriptRules,
    job: &Job,
    lease: Duration,
    who: &Who<'_>,
    mut comments: Comments<'_>,
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
    let request_id = comments.request_id;
    let field_rules = (&rules.fields[..], &rules.tag_rules[..]);
    let unfit;
    let plan = rules
        .router
        .plan(&services.portal, store, who.facts, who.operator, known);
    let (plan, ()) = tokio::join!(plan, fitting::prefetch(services, rules));
    let plan = plan?;
    let target = match plan {
        Plan::Create(mut creation) => {
            let kind = creation.target();
            let (fitted, misfits) =
                fitting::fit(services, field_rules, kind, &who.fields, request_id).await;
            unfit = misfits;
            creation.add_fields(&fitted);
            Target::New(creation, keys.to_vec())
        }
        Plan::Existing(mut routed) => {
            // The entity may hold the transcript already, written by a daemon whose state
            // was lost or by another one: its markers are the truth, not the state database.
            let found = match routed.timeline.take() {
                Some(timeline) => markers_in(&timeline, comments.request_id),
                None => markers_on(services, routed.entity, comments.request_id).await?,
            };
            record_found(progress, &mut comments, routed.entity, found);
            if comments.present.len() == comments.parts.len() {
                // Written whole: the lead was reopened (or open) back then.
                routed.reopened = None;
            }
            progress.entity = Some(routed.entity);
            progress.reopen = routed.reopened;
            let record = ClientRecord {
                scope: scope_of(routed.person.kind),
                id: routed.person.id,
            };
            store
                .save_client_records(
                    job.id,
                    &progress.to_value(),
                    chrono::Utc::now() + lease,
                    keys,
                    &[record],
                )
                .await?;
            let kind = routed.entity.kind;
            let (fitted, misfits) =
                fitting::fit(services, field_rules, kind, &who.updates, request_id).await;
            unfit = misfits;
            Target::Existing(routed.entity, fitted)
        }
    };
    // A new entity holds no parts yet: nothing to look for.
    // Still under the client's claim, so that the client's next job sees the lead open and
    // does not reopen (and notify) it a second time, and finds the entity created here.
    let entity = write_all(services, job, lease, target, comments, progress).await?;
    fitting::note(services, entity, &unfit, request_id).await;
    Ok(entity)
}

/// Parts of this request's transcript already on the entity's timeline, with their
/// comment ids.
async fn markers_on(
    services: &Services,
    entity: EntityRef,
    request_id: i64,
) -> Result<BTreeMap<usize, i64>, JobError> {
    let mut found = BTreeMap::new();
    let mut start = 0;
    for _ in 0..MARKER_SCAN_PAGES {
        let page = services
            .portal
            .comments(entity.kind, entity.id, start)
            .await?;
        found.extend(markers_in(&page.items, request_id));
        match page.next {
            Some(next) if !page.items.is_empty() => start = next,
            _ => break,
        }
    }
    Ok(found)
}

/// Parts of this request's transcript among `timeline`'s comments, with their ids.
fn markers_in(timeline: &[Comment], request_id: i64) -> BTreeMap<usize, i64> {
    timeline
        .iter()
        .filter_map(|c| Some((transcript::find_marker(&c.comment)?, c.id)))
        .filter(|(marker, _)| marker.request_id == request_id)
        .map(|(marker, id)| (marker.part, id))
        .collect()
}

/// Records the parts found on the timeline as written, so that none is written again.
fn record_found(
    progress: &mut Progress,
    comments: &mut Comments<'_>,
    entity: EntityRef,
    found: BTreeMap<usize, i64>,
) {
    let mut recorded = Vec::new();
    for (part, id) in found {
        if comments.present.insert(part) {
            progress.parts_written.push(part);
            progress.comment_ids.push(id);
            recorded.push(part);
        }
    }
    if !recorded.is_empty() {
        tracing::info!(
            request_id = comments.request_id,
            entity = %entity.kind,
            entity_id = entity.id,
            parts = ?recorded,
            "Found parts of the transcript on the timeline already: not written again"
        );
    }
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

fn log_synced(request_id: i64, progress: &Progress, elapsed: Duration) {
    if progress.skipped.is_some() {
        return; // logged with its rule when skipped
    }
    let (entity, entity_id) = progress
        .entity
        .map(|e| (e.kind.timeline_name(), e.id))
        .unwrap_or(("none", 0));
    tracing::info!(
        request_id,
        entity,
        entity_id,
        parts = progress.parts_total,
        reopened = progress.reopen.is_some(),
        duration_ms = elapsed.as_millis() as u64,
        "Synced request"
    );
}

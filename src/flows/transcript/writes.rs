//! The write round of a transcript job: the new entity (when routing decided to create
//! one), the reopened lead and its notice, and every comment part not yet on the timeline,
//! in one `batch` (the comments take a new entity's id through `$result[...]`). Each answer
//! is read on its own and the progress saved once for the round, so a retry redoes only what
//! failed.

use super::Progress;
use crate::engine::{checkpoint, JobError, Services, Steps};
use crate::portal::crm::{reopen_fields, Creation, EntityRef, Reopen, Routed};
use crate::portal::{escape, Answers, EntityType, IdOf, Round};
use crate::store::{ClientKey, ClientRecord, Job};
use std::collections::BTreeSet;
use std::time::Duration;

/// Record scopes of the CRM entities that stand for a client.
pub(super) const LEAD_SCOPE: &str = "crm.lead";
pub(super) const CONTACT_SCOPE: &str = "crm.contact";

/// Round call names.
const REOPEN: &str = "reopen";
const NOTICE: &str = "notice";
/// Call name of the `update = true` fields.
const FIELDS: &str = "fields";

/// Where the comments go.
pub(super) enum Target {
    /// An entity that exists, and the fields `update = true` rules write to it.
    Existing(EntityRef, serde_json::Map<String, serde_json::Value>),
    /// One the round creates; `keys` are the client's, to remember it by.
    New(Creation, Vec<ClientKey>),
}

/// The transcript and what the notice of a reopened lead says.
pub(super) struct Comments<'a> {
    /// The Chat2Desk request.
    pub request_id: i64,
    /// The Chat2Desk client.
    pub client_id: i64,
    /// The client's name, for the notice.
    pub client_name: Option<&'a str>,
    /// The comment parts, in order.
    pub parts: &'a [String],
    /// Parts (1-based) already on the timeline.
    pub present: BTreeSet<usize>,
}

/// Sends write rounds until every part is on the timeline (a round holds at most 50 calls),
/// saving the progress after each; the entity the comments went to. The first failed call
/// ends it with its error, after the rest of its round was saved. For an existing target the
/// caller has saved it in `progress.entity`.
pub(super) async fn write_all(
    services: &Services,
    job: &Job,
    lease: Duration,
    mut target: Target,
    mut comments: Comments<'_>,
    progress: &mut Progress,
) -> Result<EntityRef, JobError> {
    settle_interrupted_reopen(services, job, progress).await?;
    loop {
        let mut round = Round::new();
        let (kind, entity) = match &target {
            Target::Existing(entity, _) => (entity.kind, IdOf::Known(entity.id)),
            Target::New(creation, _) => (creation.target(), creation.add_to(&mut round)),
        };
        let reopen = progress.reopen.clone();
        if let (Some(reopen), false) = (&reopen, progress.reopen_done) {
            round.lead_update(REOPEN, reopen.lead_id, reopen_fields());
        }
        if let (Some(reopen), false) = (&reopen, progress.notified) {
            match reopen.user_id {
                Some(user) => round.notify(NOTICE, user, &notice_text(services, reopen, &comments)),
                None => {
                    tracing::warn!(
                        entity = "lead",
                        entity_id = reopen.lead_id,
                        request_id = comments.request_id,
                        "Reopened lead has no responsible: nobody to notify"
                    );
                    progress.notified = true;
                }
            }
        }
        let updating = match &mut target {
            Target::Existing(entity, updates) if !updates.is_empty() => {
                let fields = serde_json::Value::Object(std::mem::take(updates));
                round.update(FIELDS, entity.kind, entity.id, fields);
                Some(*entity)
            }
            _ => None,
        };
        let missing: Vec<usize> = (1..=comments.parts.len())
            .filter(|part| !comments.present.contains(part))
            .take(round.room())
            .collect();
        for part in &missing {
            let text = &comments.parts[part - 1];
            round.comment_add(&part_name(*part), kind, entity, text);
        }
        if round.is_empty() {
            break;
        }
        let mut answers = services.portal.round(round).await;
        let mut failed: Option<JobError> = None;
        let mut remember: Option<(Vec<ClientKey>, EntityRef)> = None;
        if let Target::New(creation, keys) = &target {
            let created = creation.read(&mut answers, comments.client_id);
            if let Some(person) = created.person_only {
                remember = Some((keys.clone(), person));
            }
            match created.routed {
                Ok(Routed { entity, person, .. }) => {
                    progress.entity = Some(entity);
                    remember = Some((keys.clone(), person));
                    target = Target::Existing(entity, serde_json::Map::new());
                }
                Err(error) => failed = Some(error.into()),
            }
        }
        if succeeded(&mut answers, REOPEN, &mut failed) {
            progress.reopen_done = true;
            if let Some(reopen) = &reopen {
                tracing::info!(
                    entity = "lead",
                    entity_id = reopen.lead_id,
                    request_id = comments.request_id,
                    "Reopened a closed lead"
                );
            }
        }
        if succeeded(&mut answers, NOTICE, &mut failed) {
            progress.notified = true;
            if let Some(reopen) = &reopen {
                tracing::info!(
                    entity = "lead",
                    entity_id = reopen.lead_id,
                    request_id = comments.request_id,
                    user_id = reopen.user_id,
                    "Notified the responsible of a reopened lead"
                );
            }
        }
        if let Some(entity) = updating {
            report_update(&mut answers, entity, comments.request_id);
        }
        for part in missing {
            match answers.new_id(&part_name(part)) {
                Ok(id) => {
                    progress.parts_written.push(part);
                    progress.comment_ids.push(id);
                    comments.present.insert(part);
                }
                Err(error) => {
                    failed.get_or_insert(error.into());
                }
            }
        }
        save(services, job, lease, progress, remember).await?;
        if let Some(error) = failed {
            return Err(error);
        }
    }
    progress.entity.ok_or_else(|| {
        JobError::Permanent("the write round ended without the transcript's entity".into())
    })
}

/// Logs how the `update = true` fields went: a value the portal refused (a field that does
/// not take it) never holds the transcript up.
fn report_update(answers: &mut Answers, entity: EntityRef, request_id: i64) {
    let method = format!("crm.{}.update", entity.kind.timeline_name());
    match answers.done(FIELDS) {
        Ok(()) => tracing::debug!(
            entity = entity.kind.timeline_name(),
            entity_id = entity.id,
            request_id,
            "Updated the entity's [[crm.fields]] (update = true)"
        ),
        Err(e) => tracing::warn!(
            entity = entity.kind.timeline_name(),
            entity_id = entity.id,
            request_id,
            portal_method = %method,
            error = %e,
            "The portal refused a [[crm.fields]] value (update = true): check the field's type; the transcript is written anyway"
        ),
    }
}

/// On a re-run, a reopen still pending may have been done by the interrupted run, whose
/// round carried the notice right after the update: the lead open again means both went out,
/// and neither is sent twice.
async fn settle_interrupted_reopen(
    services: &Services,
    job: &Job,
    progress: &mut Progress,
) -> Result<(), JobError> {
    let Some(reopen) = &progress.reopen else {
        return Ok(());
    };
    if progress.reopen_done || job.runs <= 1 {
        return Ok(());
    }
    let leads = services
        .portal
        .leads(serde_json::json!({ "ID": reopen.lead_id }))
        .await?;
    if leads
        .iter()
        .any(|l| l.id == reopen.lead_id && !l.is_closed())
    {
        tracing::info!(
            entity = "lead",
            entity_id = reopen.lead_id,
            job_id = job.id,
            "An interrupted run reopened the lead and sent its notice: not sent again"
        );
        progress.reopen_done = true;
        progress.notified = true;
    }
    Ok(())
}

/// True when the round held the call `name` and it succeeded; its error, if any, is kept as
/// the round's first.
fn succeeded(answers: &mut Answers, name: &str, failed: &mut Option<JobError>) -> bool {
    if !answers.has(name) {
        return false;
    }
    match answers.done(name) {
        Ok(()) => true,
        Err(error) => {
            failed.get_or_insert(error.into());
            false
        }
    }
}

/// Saves the progress, with the client's new person record when the round created one.
async fn save(
    services: &Services,
    job: &Job,
    lease: Duration,
    progress: &Progress,
    remember: Option<(Vec<ClientKey>, EntityRef)>,
) -> Result<(), JobError> {
    let Some((keys, person)) = remember else {
        return checkpoint(services, job, progress, lease).await;
    };
    let record = ClientRecord {
        scope: scope_of(person.kind),
        id: person.id,
    };
    services
        .store
        .save_client_records(
            job.id,
            &progress.to_value(),
            chrono::Utc::now() + lease,
            &keys,
            &[record],
        )
        .await?;
    Ok(())
}

/// The record scope of a client's lead or contact.
pub(super) fn scope_of(kind: EntityType) -> &'static str {
    match kind {
        EntityType::Lead => LEAD_SCOPE,
        _ => CONTACT_SCOPE,
    }
}

fn part_name(part: usize) -> String {
    format!("part{part}")
}

fn notice_text(services: &Services, reopen: &Reopen, comments: &Comments<'_>) -> String {
    let link = format!(
        "{}/crm/lead/details/{}/",
        services.portal.portal_url(),
        reopen.lead_id
    );
    let title = reopen
        .title
        .clone()
        .unwrap_or_else(|| format!("Лид #{}", reopen.lead_id));
    let who = comments
        .client_name
        .map(escape)
        .unwrap_or_else(|| "Клиент".into());
    format!(
        "Клиент {who} снова обратился в Chat2Desk (обращение №{}). Лид [url={link}]{}[/url] возвращён в статус «Не обработан».",
        comments.request_id,
        escape(&title)
    )
}

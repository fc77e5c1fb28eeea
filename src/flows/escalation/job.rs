//! The `escalation` job kind: queued with its stretch, due when the wait runs out; sends the
//! notice unless an operator answered first. Its steps list the users already notified, so
//! a run after a crash notifies nobody twice.

use super::notice::{entity_of, recipients, text};
use super::{refresh_counts, EscalationRules, ESCALATION};
use crate::engine::{checkpoint, Job as JobKindTrait, JobError, KeyField, Live, Services, Steps};
use crate::store::{Job, JobKind};
use chrono::Utc;
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The job's steps.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Escalated {
    /// Users notified so far.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notified: Vec<i64>,
    /// Why no notice went out (`answered`, …), when none did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

impl Steps for Escalated {}

/// The escalation job kind, reading the live `[escalation]`.
#[derive(Debug)]
pub struct EscalationJob {
    rules: Live<EscalationRules>,
}

impl EscalationJob {
    /// The kind under `rules`.
    pub fn new(rules: Live<EscalationRules>) -> Self {
        Self { rules }
    }

    async fn escalate(
        &self,
        services: &Services,
        job: &Job,
        lease: Duration,
    ) -> Result<Escalated, JobError> {
        let mut steps = Escalated::of(job);
        let rules = self.rules.now();
        let store = &services.store;
        let Some(wait) = store.wait(job.key).await? else {
            steps.skipped = Some("the waiting stretch is gone".into());
            return Ok(steps);
        };
        if wait.notified_at.is_some() {
            return Ok(steps);
        }
        let client_id = wait.opened_by.client_id;
        if wait.answered_at.is_some() && steps.notified.is_empty() {
            tracing::debug!(
                wait_id = wait.id,
                client_id,
                "An operator answered in time: no escalation"
            );
            steps.skipped = Some("answered".into());
            refresh_counts(store, &rules).await;
            return Ok(steps);
        }
        if steps.notified.is_empty() && closed(services, wait.opened_by.request_id).await? {
            tracing::debug!(
                wait_id = wait.id,
                client_id,
                "The client's request was closed: no escalation"
            );
            steps.skipped = Some("the request was closed".into());
            return Ok(steps);
        }
        let Some(config) = &rules.config else {
            steps.skipped = Some("[escalation] is no longer set".into());
            return Ok(steps);
        };
        let entity = entity_of(services, client_id).await?;
        let users = recipients(services, &rules, config, entity).await?;
        if users.is_empty() {
            tracing::warn!(wait_id = wait.id, client_id, "A client waits too long, but nobody is to be notified: set [escalation] notify or [crm] default_responsibles");
            steps.skipped = Some("nobody to notify".into());
            return Ok(steps);
        }
        let name = match &wait.opened_by.client_name {
            Some(name) => Some(name.clone()),
            None => services
                .directory
                .client(&services.chat2desk, client_id)
                .await
                .ok()
                .and_then(|c| c.name),
        };
        let message = text(services, &wait, name.as_deref(), entity);
        for user in users {
            if steps.notified.contains(&user) {
                continue;
            }
            services.portal.notify(user, &message).await?;
            steps.notified.push(user);
            checkpoint(services, job, &steps, lease).await?;
            tracing::info!(
                wait_id = wait.id,
                client_id,
                user_id = user,
                portal_method = "im.notify.system.add",
                "Escalated: a client's message waits for an operator's answer"
            );
        }
        store.mark_notified(wait.id, Utc::now()).await?;
        refresh_counts(store, &rules).await;
        Ok(steps)
    }
}

/// True when `request` closed: its transcript is queued (whatever the transcript's fate, a
/// closed request waits for no answer).
async fn closed(services: &Services, request: Option<i64>) -> Result<bool, JobError> {
    let Some(request) = request else {
        return Ok(false);
    };
    Ok(services
        .store
        .job(JobKind::TRANSCRIPT, request)
        .await?
        .is_some())
}

impl JobKindTrait for EscalationJob {
    type Steps = Escalated;

    fn kind(&self) -> JobKind {
        ESCALATION
    }

    fn noun(&self) -> &'static str {
        "Escalation"
    }

    fn words(&self) -> &'static str {
        "escalation"
    }

    fn key_field(&self) -> KeyField {
        KeyField::WaitId
    }

    fn run<'a>(
        &'a self,
        services: &'a Services,
        job: &'a Job,
        lease: Duration,
    ) -> BoxFuture<'a, Result<Escalated, JobError>> {
        Box::pin(self.escalate(services, job, lease))
    }
}

//! The business-process send job kind (`send`), reading the live send rules at the start of a
//! run.

use super::send::send_message;
use super::{SendProgress, SendRules};
use crate::engine::{self, JobError, KeyField, Live, Outcome, Services};
use crate::store::{Job, JobKind};
use futures_util::future::BoxFuture;
use std::time::Duration;

/// The business-process send job, reading the live send rules.
#[derive(Debug)]
pub struct SendJob {
    rules: Live<SendRules>,
}

impl SendJob {
    /// The job, reading `rules` at the start of each run.
    pub fn new(rules: Live<SendRules>) -> Self {
        Self { rules }
    }
}

impl engine::Job for SendJob {
    type Steps = SendProgress;

    fn kind(&self) -> JobKind {
        JobKind::SEND
    }

    fn noun(&self) -> &'static str {
        "Send"
    }

    fn words(&self) -> &'static str {
        "send"
    }

    fn key_field(&self) -> KeyField {
        KeyField::SendId
    }

    fn run<'a>(
        &'a self,
        services: &'a Services,
        job: &'a Job,
        lease: Duration,
    ) -> BoxFuture<'a, Result<SendProgress, JobError>> {
        Box::pin(async move {
            let rules = self.rules.now();
            let started = std::time::Instant::now();
            let progress = send_message(services, &rules, job, lease).await?;
            let sent = matches!(progress.outcome, Some(Outcome::Sent { .. }));
            tracing::info!(
                send_id = job.key,
                sent,
                reported = progress.reported,
                duration_ms = started.elapsed().as_millis() as u64,
                "Finished a business-process send"
            );
            Ok(progress)
        })
    }
}

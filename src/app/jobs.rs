//! The job kinds the worker runs, each a flow's job, and the rules they read (swapped whole
//! on SIGHUP).

use crate::config::Config;
use crate::engine::Outcome;
use crate::engine::{JobError, Jobs, Services};
use crate::flows::bizproc::{send_message, SendRules};
use crate::flows::openlines::{
    close_finished_session, deliver_to_client, deliver_to_line, LineRules,
};
use crate::flows::transcript::{sync_request, Progress, TranscriptRules};
use crate::portal::crm::Router;
use crate::store::{Job, JobKind};
use futures_util::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// What can change on reload: routing rules, how transcripts are printed, how sends go.
#[derive(Debug)]
pub struct Rules {
    /// Transcripts: CRM routing and how they are printed.
    pub transcript: TranscriptRules,
    /// Business-process sends.
    pub send: SendRules,
    /// The Open Lines bridge.
    pub lines: LineRules,
}

/// Routing rules from a config.
pub fn rules(config: &Config) -> Rules {
    Rules {
        transcript: TranscriptRules {
            router: Router::new(&config.crm)
                .with_bridge(config.openlines.enabled() && config.bitrix24.app.is_some()),
            timezone: config.timezone(),
            max_comment_bytes: config.crm.max_comment_bytes,
            filter: config.crm.filter.clone(),
            fields: config.crm.fields.clone(),
            tag_rules: config.crm.tag_rules.clone(),
        },
        send: SendRules {
            write_first_daily_limit: config.bizproc.write_first_daily_limit,
            files: config.bizproc.files,
            timezone: config.timezone(),
        },
        lines: LineRules::new(config),
    }
}

/// Every job kind, run with the rules in force when the job starts.
#[derive(Debug)]
pub struct FlowJobs {
    rules: watch::Receiver<Arc<Rules>>,
}

impl FlowJobs {
    /// The jobs reading live `rules`.
    pub fn new(rules: watch::Receiver<Arc<Rules>>) -> Self {
        Self { rules }
    }
}

impl Jobs for FlowJobs {
    fn run<'a>(
        &'a self,
        services: &'a Services,
        job: &'a Job,
        lease: Duration,
    ) -> BoxFuture<'a, Result<serde_json::Value, JobError>> {
        let rules = self.rules.borrow().clone();
        let started = std::time::Instant::now();
        Box::pin(async move {
            match job.kind {
                JobKind::Transcript => sync_request(services, &rules.transcript, job, lease)
                    .await
                    .map(|progress| {
                        log_synced(job.key, &progress, started.elapsed());
                        progress.to_steps()
                    }),
                JobKind::Send => {
                    send_message(services, &rules.send, job, lease)
                        .await
                        .map(|progress| {
                            let sent = matches!(progress.outcome, Some(Outcome::Sent { .. }));
                            tracing::info!(
                                send_id = job.key,
                                sent,
                                reported = progress.reported,
                                duration_ms = started.elapsed().as_millis() as u64,
                                "Finished a business-process send"
                            );
                            progress.to_steps()
                        })
                }
                JobKind::LineIn => deliver_to_line(services, &rules.lines, job, lease).await,
                JobKind::LineOut => deliver_to_client(services, &rules.lines, job, lease).await,
                JobKind::LineClose => {
                    close_finished_session(services, &rules.lines, job, lease).await
                }
            }
        })
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

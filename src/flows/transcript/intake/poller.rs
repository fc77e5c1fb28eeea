//! The cron-driven poll loop around one discovery strategy.

use crate::chat2desk::{Chat2Desk, Chat2DeskError};
use crate::config::PollStrategy;
use crate::engine::{Inbox, Watch};
use crate::store::{Store, StoreError, LAST_POLL_ERROR_KEY, LAST_POLL_KEY};
use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;

/// What one poll did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PollReport {
    /// Messages or dialogs read.
    pub scanned: u64,
    /// Closed requests handed to the queue (new rows only).
    pub enqueued: u64,
    /// Chat2Desk API calls made.
    pub api_calls: u64,
}

/// Why a poll failed.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    /// The Chat2Desk API failed.
    #[error("{0} ({hint})", hint = .0.hint())]
    Chat2Desk(#[from] Chat2DeskError),
    /// The state database failed.
    #[error("state database: {0}")]
    Store(#[from] StoreError),
}

/// Finds closed requests and enqueues them.
#[derive(Debug, Clone)]
pub struct Poller {
    pub(super) chat2desk: Chat2Desk,
    pub(super) store: Store,
    strategy: PollStrategy,
    pub(super) overlap: Duration,
    pub(super) wake: Arc<Notify>,
    webhook_poll: Option<Duration>,
    /// The Open Lines bridge: client messages of its channels that a poll reads go to their
    /// line (the path when webhooks are off); live, as the last reload left them.
    pub(super) inbox: Option<Arc<dyn Inbox>>,
    /// Escalation: every message a poll reads.
    pub(super) watch: Option<Arc<dyn Watch>>,
}

/// What the poll loop remembers between scheduled polls to decide whether to back off.
#[derive(Debug, Default)]
struct Pace {
    /// When the last poll ran (successful or not).
    last_poll: Option<std::time::Instant>,
    /// The last poll failed or found closed requests no webhook had brought.
    found_missed: bool,
    /// Scheduled polls are being skipped.
    backed_off: bool,
}

impl Poller {
    /// A poller using `strategy`; `wake` is poked when something was enqueued.
    pub fn new(
        chat2desk: Chat2Desk,
        store: Store,
        strategy: PollStrategy,
        overlap: Duration,
        wake: Arc<Notify>,
    ) -> Self {
        Self {
            chat2desk,
            store,
            strategy,
            overlap,
            wake,
            webhook_poll: None,
            inbox: None,
            watch: None,
        }
    }

    /// Backs the schedule off to one poll per `every` while webhooks bring the closed
    /// requests (`[sync] webhook_poll_secs`; `None` or zero: always poll on schedule).
    pub fn with_webhook_poll(mut self, every: Option<Duration>) -> Self {
        self.webhook_poll = every.filter(|e| !e.is_zero());
        self
    }

    /// The same poller, also passing the client messages it reads on the bridge's channels
    /// to their Open Lines.
    pub fn with_inbox(mut self, inbox: Arc<dyn Inbox>) -> Self {
        self.inbox = Some(inbox);
        self
    }

    /// The same poller, also passing every message it reads (strategy `messages`) to
    /// `watch`.
    pub fn with_watch(mut self, watch: Arc<dyn Watch>) -> Self {
        self.watch = Some(watch);
        self
    }

    /// One poll: discover, enqueue, move the watermark (only after the enqueue committed).
    pub async fn poll_once(&self) -> Result<PollReport, PollError> {
        let before = self.chat2desk.calls_made();
        let mut report = match self.strategy {
            PollStrategy::Messages => self.poll_messages().await?,
            PollStrategy::Dialogs => self.poll_dialogs().await?,
            PollStrategy::Off => PollReport::default(),
        };
        report.api_calls = self.chat2desk.calls_made() - before;
        if report.enqueued > 0 {
            self.wake.notify_one();
        }
        Ok(report)
    }

    /// Polls on `schedule` until `shutdown`, while `leader` says this node leads (one node
    /// of those sharing a database polls; the others wait for the lead). Polls at once when
    /// it starts leading, so a takeover picks up where the old leader stopped. The schedule
    /// can be replaced live (SIGHUP).
    pub async fn run(
        self,
        mut schedule: watch::Receiver<cron::Schedule>,
        mut leader: watch::Receiver<bool>,
        shutdown: CancellationToken,
    ) {
        if self.strategy == PollStrategy::Off {
            tracing::info!("Polling is off ([sync] poll_strategy = \"off\"): webhooks only");
            return;
        }
        loop {
            if !*leader.borrow_and_update() {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    changed = leader.changed() => {
                        if changed.is_err() { return; }
                        continue;
                    }
                }
            }
            // Poll once on taking the lead: the cursor is set and nothing closed since is
            // missed.
            let mut pace = Pace::default();
            self.poll_paced(&mut pace).await;
            loop {
                let next = schedule.borrow().upcoming(Utc).next();
                let Some(next) = next else {
                    tracing::warn!("The [sync] schedule has no future run: polling stops");
                    return;
                };
                let wait = (next - Utc::now()).to_std().unwrap_or(Duration::ZERO);
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    changed = schedule.changed() => {
                        if changed.is_err() { return; }
                        continue;
                    }
                    changed = leader.changed() => {
                        if changed.is_err() { return; }
                        if !*leader.borrow() { break; }
                        continue;
                    }
                    _ = tokio::time::sleep(wait) => {}
                }
                if !*leader.borrow() {
                    break;
                }
                if self.backs_off(&mut pace).await {
                    continue;
                }
                self.poll_paced(&mut pace).await;
            }
        }
    }

    /// Polls and remembers whether the poll found something webhooks had not brought.
    async fn poll_paced(&self, pace: &mut Pace) {
        pace.last_poll = Some(std::time::Instant::now());
        pace.found_missed = self.poll_and_record().await.is_none_or(|r| r.enqueued > 0);
    }

    /// Whether to skip this scheduled poll: while a webhook brought a closed request within
    /// the back-off interval and the last poll found nothing they had not brought, only one
    /// poll per interval runs (a safety poll). A poll that finds a missed request, a failed
    /// poll, or webhooks falling silent for an interval bring the schedule back at once.
    /// A quiet spell without closes counts as silence: polling resumes until webhooks
    /// bring closes again (safe, and cheap when nothing happens).
    async fn backs_off(&self, pace: &mut Pace) -> bool {
        let skip = match (self.webhook_poll, pace.last_poll) {
            (Some(every), Some(last)) if !pace.found_missed && last.elapsed() < every => {
                match self.store.newest_webhook_job().await {
                    Ok(Some(at)) => (Utc::now() - at).to_std().unwrap_or_default() < every,
                    Ok(None) => false,
                    Err(e) => {
                        tracing::warn!(error = %e, "Cannot tell when a webhook last brought a closed request; polling on schedule");
                        false
                    }
                }
            }
            _ => false,
        };
        if skip != pace.backed_off {
            match (skip, self.webhook_poll) {
                (true, Some(every)) => tracing::info!(
                    every_secs = every.as_secs(),
                    "Webhooks bring the closed requests: polling backs off to a safety poll per [sync] webhook_poll_secs"
                ),
                _ => tracing::info!("Polling is back on the [sync] schedule (a poll found a missed request, failed, or webhooks fell silent)"),
            }
            pace.backed_off = skip;
            crate::metrics::global().record_poll_backed_off(skip);
        }
        skip
    }

    async fn poll_and_record(&self) -> Option<PollReport> {
        let started = std::time::Instant::now();
        match self.poll_once().await {
            Ok(report) if report.enqueued == 0 => {
                tracing::debug!(
                    scanned = report.scanned,
                    api_calls = report.api_calls,
                    duration_ms = started.elapsed().as_millis() as u64,
                    "Polled Chat2Desk: nothing new closed"
                );
                self.record_success().await;
                Some(report)
            }
            Ok(report) => {
                tracing::info!(
                    scanned = report.scanned,
                    enqueued = report.enqueued,
                    api_calls = report.api_calls,
                    duration_ms = started.elapsed().as_millis() as u64,
                    "Polled Chat2Desk: closed requests queued"
                );
                self.record_success().await;
                Some(report)
            }
            Err(e) => {
                tracing::warn!(error = %e, "Poll failed; the next scheduled poll starts where this one began");
                let _ = self
                    .store
                    .set_meta(LAST_POLL_ERROR_KEY, &e.to_string())
                    .await;
                None
            }
        }
    }

    async fn record_success(&self) {
        let now = Utc::now().to_rfc3339();
        if let Err(e) = self.store.set_meta(LAST_POLL_KEY, &now).await {
            tracing::error!(error = %e, "Cannot record the poll time");
        }
        let _ = self.store.set_meta(LAST_POLL_ERROR_KEY, "").await;
    }
}

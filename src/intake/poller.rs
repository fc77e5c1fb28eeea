//! The cron-driven poll loop around one discovery strategy.

use crate::chat2desk::{Chat2Desk, Chat2DeskError};
use crate::config::PollStrategy;
use crate::store::{Store, StoreError};
use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;

/// Meta key: when the last poll finished successfully (RFC 3339).
pub const LAST_POLL_KEY: &str = "poll.last_success_at";
/// Meta key: the last poll error, empty after a success.
pub const LAST_POLL_ERROR_KEY: &str = "poll.last_error";

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
    /// The Open Lines bridge: client messages of its channels that a poll reads go to their
    /// line (the path when webhooks are off).
    pub(super) lines: crate::openlines::LineRules,
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
            lines: crate::openlines::LineRules::default(),
        }
    }

    /// The same poller, also passing the client messages it reads on the bridge's channels
    /// to their Open Lines.
    pub fn with_lines(mut self, lines: crate::openlines::LineRules) -> Self {
        self.lines = lines;
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
            self.poll_and_record().await;
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
                self.poll_and_record().await;
            }
        }
    }

    async fn poll_and_record(&self) {
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
            }
            Err(e) => {
                tracing::warn!(error = %e, "Poll failed; the next scheduled poll starts where this one began");
                let _ = self
                    .store
                    .set_meta(LAST_POLL_ERROR_KEY, &e.to_string())
                    .await;
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

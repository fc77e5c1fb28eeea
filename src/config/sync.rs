//! `[sync]`: how the poller discovers closed requests, and the worker's pace.

use serde::{Deserialize, Serialize};

/// How the poller discovers closed requests.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum PollStrategy {
    /// Scan new messages by id cursor, then ask which of their requests are closed.
    #[default]
    Messages,
    /// Scan closed dialogs and take each one's last request.
    Dialogs,
    /// No polling (webhooks only).
    Off,
}

/// `[sync]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SyncConfig {
    /// Cron expression with seconds (`sec min hour day month weekday`).
    pub schedule: String,
    /// Poll strategy.
    pub poll_strategy: PollStrategy,
    /// Overlap window in seconds re-read on every poll.
    pub overlap_secs: u64,
    /// Requests processed at once.
    pub workers: usize,
    /// Attempts before a job with transient errors goes to dead.
    pub max_attempts: u32,
    /// First retry delay in seconds (doubles per attempt, with jitter).
    pub backoff_base_secs: u64,
    /// Retry delay cap in seconds.
    pub backoff_max_secs: u64,
    /// Lease of a running job in seconds, renewed every third of it while the job works: a
    /// crashed worker's (or dead node's) job runs again after it.
    pub lease_secs: u64,
    /// While webhooks bring the closed requests and the last poll found nothing they had
    /// not, poll only once per this many seconds (a safety poll); 0 = always on `schedule`.
    pub webhook_poll_secs: u64,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            schedule: "0 * * * * *".into(),
            poll_strategy: PollStrategy::Messages,
            overlap_secs: 300,
            workers: 32,
            max_attempts: 30,
            backoff_base_secs: 5,
            backoff_max_secs: 900,
            lease_secs: 30,
            webhook_poll_secs: 900,
        }
    }
}

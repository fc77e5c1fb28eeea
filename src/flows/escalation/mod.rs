//! Escalation (`[escalation]`): a client's message that no operator answers within
//! `after_minutes` of working time gets the entity's responsible (or the listed users) one
//! `im.notify.system.add`.
//!
//! - `watch`: every client and operator message the daemon sees (webhook `inbox`/`outbox`,
//!   the messages poll) opens or ends a waiting stretch, a durable `waits` row whose
//!   `escalation` job is queued in the same transaction, due when the wait runs out;
//! - `job`: the job kind of the shared queue: at its due time, unless an operator answered,
//!   the notice — once per stretch (the queue's unique key and lease make it one run across
//!   nodes, its saved steps one notice across restarts);
//! - `notice`: who gets it and what it says.

mod job;
mod notice;
mod watch;

pub use job::EscalationJob;
pub use watch::EscalationWatch;

use crate::config::{Config, EscalationConfig, WorkingHours};
use crate::metrics::global;
use crate::store::{JobKind, Store};
use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// The kind of the escalation job; its key is the `waits` row.
pub const ESCALATION: JobKind = JobKind::new("escalation");

/// How far back a stretch still counts as waiting in the metrics (a client nobody answers
/// and who stops writing is no longer "waiting now" a day later).
const WAITING_WINDOW: chrono::Duration = chrono::Duration::hours(24);

/// `[escalation]` as the flow reads it (live: a reload swaps it).
#[derive(Debug, Clone)]
pub struct EscalationRules {
    /// The section; `None`: no escalation (nothing is watched, queued jobs finish silently).
    pub config: Option<EscalationConfig>,
    /// Its `working_hours`, parsed.
    pub hours: WorkingHours,
    /// `[crm] timezone`.
    pub timezone: Tz,
    /// `[crm] default_responsibles`: the first gets the notice of a client with no entity
    /// yet when `notify = "responsible"`.
    pub default_responsibles: Vec<i64>,
}

impl EscalationRules {
    /// The rules of `config`.
    pub fn new(config: &Config) -> Self {
        let escalation = config.escalation.clone();
        let hours = escalation
            .as_ref()
            .and_then(|e| WorkingHours::parse(&e.working_hours).ok())
            .unwrap_or(WorkingHours::ALWAYS);
        Self {
            config: escalation,
            hours,
            timezone: config.timezone(),
            default_responsibles: config.crm.default_responsibles.clone(),
        }
    }

    /// When a stretch that started at `start` is due for its notice.
    fn due(&self, after_minutes: f64, start: DateTime<Utc>) -> DateTime<Utc> {
        let wait = chrono::Duration::milliseconds((after_minutes * 60_000.0).round() as i64);
        self.hours.due(start, wait, self.timezone)
    }

    /// Midnight today in `[crm] timezone`, in UTC.
    fn midnight(&self) -> DateTime<Utc> {
        let today = Utc::now().with_timezone(&self.timezone).date_naive();
        let midnight = today.and_hms_opt(0, 0, 0).expect("midnight exists");
        self.timezone
            .from_local_datetime(&midnight)
            .earliest()
            .map_or_else(|| midnight.and_utc(), |t| t.with_timezone(&Utc))
    }
}

/// Reads the counts of every node from `store` into the metrics (a failure leaves them as
/// they were: they are refreshed at the next message or notice).
async fn refresh_counts(store: &Store, rules: &EscalationRules) {
    let since = Utc::now() - WAITING_WINDOW;
    match store.wait_counts(since, rules.midnight()).await {
        Ok((waiting, today)) => global().record_escalation_counts(waiting, today),
        Err(e) => tracing::debug!(error = %e, "Cannot count waiting clients for the metrics"),
    }
}

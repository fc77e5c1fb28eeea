//! The health probe behind `/healthz` and the watchdog's view: the state database answers,
//! the worker loop goes round, and the poller (when on) succeeded recently.

use super::Services;
use crate::config::{Config, PollStrategy};
use crate::store::{LAST_POLL_ERROR_KEY, LAST_POLL_KEY};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;

/// The worker loop goes round at least every second; this much silence means it is stuck.
const DEFAULT_TICK_MAX_AGE: Duration = Duration::from_secs(60);

/// What `/healthz` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// Problems found, one sentence each; empty = healthy.
    pub problems: Vec<String>,
}

impl Health {
    /// True when nothing is wrong.
    pub fn is_healthy(&self) -> bool {
        self.problems.is_empty()
    }
}

/// How old the last successful poll may be before the poller counts as stuck (`/healthz`,
/// `status`): `[server] health_max_poll_age_secs`, or three schedule periods plus a minute
/// when it is 0; `None` when polling is off.
pub fn poll_max_age(config: &Config) -> Option<Duration> {
    (config.sync.poll_strategy != PollStrategy::Off).then(|| {
        match config.server.health_max_poll_age_secs {
            0 => {
                let schedule = config.schedule();
                let mut next = schedule.upcoming(Utc).take(2);
                let period = match (next.next(), next.next()) {
                    (Some(a), Some(b)) => (b - a).to_std().unwrap_or(Duration::from_secs(60)),
                    _ => Duration::from_secs(3600),
                };
                period * 3 + Duration::from_secs(60)
            }
            secs => Duration::from_secs(secs),
        }
    })
}

/// Checks the daemon's moving parts on demand. Cheap to clone.
#[derive(Debug, Clone)]
pub struct HealthProbe {
    services: Arc<Services>,
    poll_max_age: Option<Duration>,
    tick_max_age: Duration,
    started: DateTime<Utc>,
}

impl HealthProbe {
    /// A probe for the daemon built from `config`: polls must succeed within
    /// `[server] health_max_poll_age_secs` (0 = three schedule periods plus a minute), unless
    /// polling is off.
    pub fn new(services: Arc<Services>, config: &Config) -> Self {
        Self {
            services,
            poll_max_age: poll_max_age(config),
            tick_max_age: DEFAULT_TICK_MAX_AGE,
            started: Utc::now(),
        }
    }

    /// The services the probe looks at.
    pub fn services(&self) -> &Arc<Services> {
        &self.services
    }

    /// Runs every check.
    pub async fn check(&self) -> Health {
        let mut problems = Vec::new();
        let store = &self.services.store;
        if let Err(e) = store.ping().await {
            problems.push(format!("state database does not answer: {e}"));
            return Health { problems };
        }
        match self.services.stats.since_tick_ms() {
            None => problems.push("worker loop has not started".into()),
            Some(ms) if ms as u128 > self.tick_max_age.as_millis() => problems.push(format!(
                "worker loop has not gone round for {} s",
                ms / 1000
            )),
            Some(_) => {}
        }
        if let Some(max) = self.poll_max_age {
            let last = store
                .meta(LAST_POLL_KEY)
                .await
                .ok()
                .flatten()
                .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                .map(|t| t.with_timezone(&Utc));
            let since = last.map_or(self.started, |t| t.max(self.started));
            let age = (Utc::now() - since).to_std().unwrap_or(Duration::ZERO);
            if age > max {
                let error = store
                    .meta(LAST_POLL_ERROR_KEY)
                    .await
                    .ok()
                    .flatten()
                    .filter(|e| !e.is_empty())
                    .unwrap_or_else(|| "no error recorded".into());
                problems.push(format!(
                    "no successful Chat2Desk poll for {} s (limit {} s); last error: {error}",
                    age.as_secs(),
                    max.as_secs()
                ));
            }
        }
        Health { problems }
    }
}

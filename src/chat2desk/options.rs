//! Settings of the Chat2Desk client, derived from `[chat2desk]`.

use crate::config::{Chat2DeskConfig, Secret};
use crate::http::Backoff;
use std::time::Duration;

/// Default number of retries of one call.
pub const DEFAULT_MAX_RETRIES: u32 = 5;

/// What [`super::Chat2Desk`] needs to run.
#[derive(Debug, Clone)]
pub struct Chat2DeskOptions {
    /// API base URL without `/v1` (the client appends `/v1`).
    pub api_url: String,
    /// The API token.
    pub token: Secret,
    /// Request budget (0 = unlimited).
    pub requests_per_second: f64,
    /// Per-call timeout.
    pub timeout: Duration,
    /// Zone of API timestamps that carry none.
    pub naive_timezone: chrono_tz::Tz,
    /// Retries of one call after a transient error.
    pub max_retries: u32,
    /// Delay between retries.
    pub backoff: Backoff,
}

impl Chat2DeskOptions {
    /// Options from the config section: 5 retries, backoff 200 ms..10 s. An unparsable
    /// `naive_timezone` falls back to UTC (config validation reports it).
    pub fn from_config(c: &Chat2DeskConfig) -> Self {
        Self {
            api_url: c.api_url.clone(),
            token: c.token.clone(),
            requests_per_second: c.requests_per_second,
            timeout: Duration::from_secs(c.timeout_secs.max(1)),
            naive_timezone: c.naive_timezone.trim().parse().unwrap_or(chrono_tz::UTC),
            max_retries: DEFAULT_MAX_RETRIES,
            backoff: Backoff::new(Duration::from_millis(200), Duration::from_secs(10)),
        }
    }
}

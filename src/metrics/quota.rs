//! Chat2Desk's own count of this month's API calls (`companies/api_info` →
//! `requests_this_month`, what the plan's monthly quota is measured against, calls of other
//! tools on the same token included), read at start and then hourly: one call an hour.

use crate::chat2desk::Chat2Desk;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the count is read.
const EVERY: Duration = Duration::from_secs(3600);

/// Reads the count until `shutdown`; the client records it in the metrics on every read.
pub async fn watch_chat2desk_quota(chat2desk: Chat2Desk, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(EVERY);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = every.tick() => {
                if let Err(e) = chat2desk.api_info().await {
                    tracing::warn!(error = %e, "Cannot read this month's call count from GET /v1/companies/api_info; the chat2desk_b24_chat2desk_requests_this_month metric keeps its last value");
                }
            }
        }
    }
}

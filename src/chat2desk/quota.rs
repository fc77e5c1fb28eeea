//! Keeping this month's Chat2Desk API use: Chat2Desk's own count (`companies/api_info` →
//! `requests_this_month`) read at start and then hourly (one call an hour), and this
//! process's calls added to the state database's count every minute (see
//! [`crate::metrics::MonthUsage`]).

use super::Chat2Desk;
use crate::metrics::{global, month_of, MonthUsage, REPORTED_KEY};
use crate::store::Store;
use chrono::Utc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often Chat2Desk's count is read.
const EVERY: Duration = Duration::from_secs(3600);
/// How often our own calls are added to the state database.
const FLUSH_EVERY: Duration = Duration::from_secs(60);
/// Until `shutdown`: adds this process's Chat2Desk calls to the month's counter every minute,
/// reads Chat2Desk's count hourly, and keeps the metrics. Returns the calls already added:
/// the daemon adds the rest with [`add_remaining_calls`] once nothing makes calls any more.
pub async fn watch_chat2desk_quota(
    chat2desk: Chat2Desk,
    store: Store,
    shutdown: CancellationToken,
) -> u64 {
    let mut hourly = tokio::time::interval(EVERY);
    let mut flush = tokio::time::interval(FLUSH_EVERY);
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut counted = 0;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return counted,
            _ = hourly.tick() => {
                match chat2desk.api_info().await {
                    Ok(info) => if let Some(calls) = info.requests_this_month {
                        let value = format!("{} {}", calls.max(0), Utc::now().to_rfc3339());
                        if let Err(e) = store.set_meta(REPORTED_KEY, &value).await {
                            tracing::warn!(error = %e, "Cannot store Chat2Desk's call count of this month");
                        }
                    },
                    Err(e) => tracing::warn!(error = %e, "Cannot read this month's call count from GET /v1/companies/api_info; the chat2desk_b24_chat2desk_requests_this_month metric keeps its last value"),
                }
            }
            _ = flush.tick() => flush_calls(&chat2desk, &store, &mut counted).await,
        }
    }
}

/// Adds the calls made since `counted` (what [`watch_chat2desk_quota`] returned) to the
/// month's counter: the last flush, on the way out, after the worker and the poller stopped.
pub async fn add_remaining_calls(chat2desk: &Chat2Desk, store: &Store, mut counted: u64) {
    flush_calls(chat2desk, store, &mut counted).await;
}

/// Adds the calls made since the last flush to this month's counter and refreshes the
/// metrics; on a database error the calls are added on the next flush.
async fn flush_calls(chat2desk: &Chat2Desk, store: &Store, counted: &mut u64) {
    let now = Utc::now();
    let made = chat2desk.calls_made();
    let delta = made.saturating_sub(*counted);
    if delta > 0 {
        match store.add_chat2desk_calls(&month_of(now), delta).await {
            Ok(()) => *counted = made,
            Err(e) => {
                tracing::warn!(error = %e, "Cannot add this node's Chat2Desk calls to the month's count; trying again in a minute");
                return;
            }
        }
    }
    match MonthUsage::read(store, now).await {
        Ok(usage) => global().record_chat2desk_month(usage.ours, usage.projection),
        Err(e) => tracing::warn!(error = %e, "Cannot read this month's Chat2Desk call count"),
    }
}

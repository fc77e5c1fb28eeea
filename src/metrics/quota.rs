//! What Chat2Desk's API costs this month: Chat2Desk's own count (`companies/api_info` →
//! `requests_this_month`, what the plan's monthly quota is measured against, calls of other
//! tools on the same token included), read at start and then hourly (one call an hour), and
//! our own count of the calls this installation made (every node adds its calls to the state
//! database each minute), with the projection for the whole month. `status` shows the same.

use crate::chat2desk::Chat2Desk;
use crate::store::{Store, StoreError};
use chrono::{DateTime, Datelike, TimeZone, Utc};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often Chat2Desk's count is read.
const EVERY: Duration = Duration::from_secs(3600);
/// How often our own calls are added to the state database.
const FLUSH_EVERY: Duration = Duration::from_secs(60);
/// Meta key: Chat2Desk's last count and when it was read (`<calls> <RFC 3339>`).
pub const REPORTED_KEY: &str = "chat2desk.requests_this_month";

/// This month's Chat2Desk API use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthUsage {
    /// The month, `YYYY-MM` (UTC).
    pub month: String,
    /// Calls this installation counted (all nodes).
    pub ours: u64,
    /// Chat2Desk's count and when it was read, when read this month.
    pub reported: Option<(u64, DateTime<Utc>)>,
    /// The month's total at the pace so far (from the larger of the two counts).
    pub projection: u64,
}

impl MonthUsage {
    /// Reads this month's counts from the state database.
    pub async fn read(store: &Store, now: DateTime<Utc>) -> Result<Self, StoreError> {
        let month = month_of(now);
        let ours = store.chat2desk_calls(&month).await?;
        let reported = store
            .meta(REPORTED_KEY)
            .await?
            .as_deref()
            .and_then(parse_reported)
            .filter(|(_, at)| month_of(*at) == month);
        let basis = ours.max(reported.map(|(n, _)| n).unwrap_or(0));
        Ok(Self {
            month,
            ours,
            reported,
            projection: project(basis, now),
        })
    }
}

/// The calendar month of `t`, `YYYY-MM` (UTC).
pub fn month_of(t: DateTime<Utc>) -> String {
    t.format("%Y-%m").to_string()
}

/// `calls` made since the month began, extrapolated at the same pace to the month's end.
pub fn project(calls: u64, now: DateTime<Utc>) -> u64 {
    let start = Utc
        .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or(now);
    let (y, m) = if now.month() == 12 {
        (now.year() + 1, 1)
    } else {
        (now.year(), now.month() + 1)
    };
    let end = Utc
        .with_ymd_and_hms(y, m, 1, 0, 0, 0)
        .single()
        .unwrap_or(now);
    let elapsed = (now - start).num_seconds().max(60) as f64;
    let whole = (end - start).num_seconds().max(1) as f64;
    (calls as f64 * (whole / elapsed).max(1.0)).round() as u64
}

fn parse_reported(text: &str) -> Option<(u64, DateTime<Utc>)> {
    let (calls, at) = text.split_once(' ')?;
    let at = DateTime::parse_from_rfc3339(at.trim())
        .ok()?
        .with_timezone(&Utc);
    Some((calls.trim().parse().ok()?, at))
}

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
        Ok(usage) => super::global().record_chat2desk_month(usage.ours, usage.projection),
        Err(e) => tracing::warn!(error = %e, "Cannot read this month's Chat2Desk call count"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projection_extrapolates_the_pace_to_the_month_end() {
        // 10 days of 30 gone: three times as much by the end.
        let t = Utc.with_ymd_and_hms(2026, 11, 11, 0, 0, 0).unwrap();
        assert_eq!(project(1000, t), 3000);
        // December rolls over to January; the last second projects the count itself.
        let t = Utc.with_ymd_and_hms(2026, 12, 31, 23, 59, 59).unwrap();
        assert_eq!(project(500, t), 500);
        assert_eq!(month_of(t), "2026-12");
    }

    #[test]
    fn reported_count_reads_back() {
        let (n, at) = parse_reported("1234 2026-12-01T10:00:00+00:00").unwrap();
        assert_eq!(n, 1234);
        assert_eq!(month_of(at), "2026-12");
        assert_eq!(parse_reported("garbage"), None);
    }
}

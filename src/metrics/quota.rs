//! What Chat2Desk's API costs this month: Chat2Desk's own count (`companies/api_info` →
//! `requests_this_month`, what the plan's monthly quota is measured against, calls of other
//! tools on the same token included) and our own count of the calls this installation made
//! (every node adds its calls to the state database each minute), with the projection for
//! the whole month. `status` shows the same; the Chat2Desk client's
//! `watch_chat2desk_quota` keeps both.

use crate::store::{Store, StoreError};
use chrono::{DateTime, Datelike, TimeZone, Utc};

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

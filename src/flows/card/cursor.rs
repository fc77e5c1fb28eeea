//! Where the tab's poll for new messages starts: a time with an overlap, plus the ids already
//! shown inside it. A cursor of "the newest id" or "the newest time" alone loses or repeats a
//! message on the boundary of two polls: Chat2Desk's times have whole seconds (two messages
//! share one), the clients of an entity are read one after another (a message to the first
//! can be written, with a lower id, after the second was read), and a message may be listed
//! a moment after a later one. So each poll reads everything written since the newest
//! message shown minus [`OVERLAP`] and leaves out the ids the page already has.

use super::history::HistoryMessage;
use chrono::{DateTime, Duration, Utc};

/// How far before the newest message shown each poll reads again.
pub const OVERLAP: Duration = Duration::seconds(120);

/// Where the next poll starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor {
    /// Read messages written at or after this (unix ms).
    pub since_ms: i64,
    /// Ids already shown among them.
    pub seen: Vec<i64>,
}

impl Cursor {
    /// The cursor after showing `shown` (newest first, every message at or after the
    /// previous cursor's time); it never moves back before `previous`.
    pub fn after(previous: i64, shown: &[HistoryMessage]) -> Self {
        let newest = shown.iter().filter_map(|m| m.created).max();
        let since_ms = newest
            .map(|t| (t - OVERLAP).timestamp_millis())
            .unwrap_or(previous)
            .max(previous);
        let seen = shown
            .iter()
            .filter(|m| m.created.is_none_or(|t| t.timestamp_millis() >= since_ms))
            .map(|m| m.id)
            .collect();
        Self { since_ms, seen }
    }

    /// The cursor's time.
    pub fn since(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.since_ms).unwrap_or_default()
    }

    /// Reads `since` (unix ms) and `seen` (ids, comma-separated) of a poll's query.
    pub fn parse(since: Option<&String>, seen: Option<&String>) -> Option<Self> {
        let since_ms = since?.trim().parse().ok()?;
        let seen = seen
            .map(|s| {
                s.split(',')
                    .filter_map(|id| id.trim().parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        Some(Self { since_ms, seen })
    }

    /// `seen` as the query writes it.
    pub fn seen_text(&self) -> String {
        let ids: Vec<String> = self.seen.iter().map(i64::to_string).collect();
        ids.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(id: i64, secs: i64) -> HistoryMessage {
        HistoryMessage {
            id,
            text: String::new(),
            author: "client".into(),
            operator: None,
            created: DateTime::from_timestamp(secs, 0),
            request_id: None,
            dialog_id: None,
            client_id: None,
            channel: None,
            files: Vec::new(),
        }
    }

    #[test]
    fn the_cursor_reads_back_an_overlap_and_remembers_what_is_inside_it() {
        let shown = [at(9, 1_000), at(7, 1_000), at(5, 900), at(2, 700)];
        let c = Cursor::after(0, &shown);
        assert_eq!(c.since_ms, 880_000);
        assert_eq!(c.seen, vec![9, 7, 5]);
        let later = Cursor::after(c.since_ms, &[]);
        assert_eq!(
            later.since_ms, c.since_ms,
            "a poll with nothing new keeps the cursor"
        );
        let parsed = Cursor::parse(Some(&"880000".into()), Some(&c.seen_text()));
        assert_eq!(parsed, Some(c));
    }
}

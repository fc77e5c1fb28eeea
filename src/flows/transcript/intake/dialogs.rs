//! Poll strategy "dialogs": read closed dialogs, newest first, and enqueue the request of each
//! one's last message when the dialog ended after the watermark (minus the overlap window).
//!
//! Cheaper than "messages" (usually one call per poll) but it sees only the last request of a
//! dialog: a dialog that was closed, reopened and closed again between two polls loses the
//! middle request, and the docs do not say what `order` sorts closed dialogs by (we assume
//! newest first and stop at the first page with nothing new; `MAX_PAGES` bounds the rest).

use super::{PollError, PollReport, Poller};
use crate::chat2desk::DialogState;
use crate::store::Intake;
use chrono::{DateTime, Utc};

/// Meta key: the latest dialog `end` seen (RFC 3339).
pub const WATERMARK_KEY: &str = "poll.dialogs.watermark";

const PAGE: u64 = 200;
const MAX_PAGES: u64 = 20;

impl Poller {
    /// Reads closed dialogs down to the watermark and enqueues their requests.
    pub(super) async fn poll_dialogs(&self) -> Result<PollReport, PollError> {
        let watermark = self
            .store
            .meta(WATERMARK_KEY)
            .await?
            .and_then(|v| DateTime::parse_from_rfc3339(&v).ok())
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(Utc::now);
        let threshold = watermark
            - chrono::Duration::from_std(self.overlap).unwrap_or(chrono::Duration::zero());
        let mut report = PollReport::default();
        let mut requests = Vec::new();
        let mut newest = watermark;
        let mut offset = 0;
        for _ in 0..MAX_PAGES {
            let page = self
                .chat2desk
                .dialogs(Some(DialogState::Closed), offset, PAGE)
                .await?;
            let n = page.items.len() as u64;
            report.scanned += n;
            let mut recent_on_page = false;
            for d in &page.items {
                // A dialog without `end` cannot be placed in time: take it (enqueue is idempotent).
                let recent = d.end.is_none_or(|end| end >= threshold);
                if !recent {
                    continue;
                }
                recent_on_page = true;
                if let Some(end) = d.end {
                    newest = newest.max(end);
                }
                if let Some(r) = d.last_message.as_ref().and_then(|m| m.request_id) {
                    requests.push(r);
                }
            }
            offset += n;
            if n < PAGE || !recent_on_page || page.total.is_some_and(|t| offset >= t) {
                break;
            }
        }
        requests.sort_unstable();
        requests.dedup();
        report.enqueued = self
            .store
            .promote(
                &requests,
                Intake::Poll,
                &[(WATERMARK_KEY, newest.to_rfc3339())],
            )
            .await?;
        Ok(report)
    }
}

//! Poll strategy "messages": read new messages by id cursor, remember the requests they
//! belong to, and enqueue those requests once Chat2Desk shows them closed.
//!
//! A request R of dialog D counts as closed when D is not among the open dialogs, or when D's
//! last message belongs to another (newer) request. Both facts come from documented endpoints
//! (`GET /messages` with `start_id`/`order`, `GET /dialogs?state=open` with `last_message`).
//! Cost per poll: ⌈new messages / 200⌉ + ⌈open dialogs / 200⌉ calls (one page each at least),
//! plus the re-read of the overlap window.
//!
//! Limitation: a request closed by Chat2Desk's timer while its dialog stays open, with no later
//! message, is only seen once the dialog closes or the client writes again; the webhook intake
//! (`close_request`) covers that case.

use super::{PollError, PollReport, Poller};
use crate::chat2desk::{
    Chat2Desk, Chat2DeskError, DialogState, Message, MessageKind, MessageQuery, Order,
};
use crate::store::Intake;
use chrono::{DateTime, Utc};
use std::collections::{BTreeSet, HashMap};

/// Meta key: the highest message id read.
pub const CURSOR_KEY: &str = "poll.messages.cursor";
/// Meta key: `[[unix seconds, cursor], …]`, where the overlap window's re-read starts.
pub const CHECKPOINTS_KEY: &str = "poll.messages.checkpoints";

const PAGE: u64 = 200;
/// Pages read in one poll at most; the rest waits for the next poll.
const MAX_PAGES: usize = 500;
/// Pages the first poll reads back into the overlap window at most.
const FIRST_POLL_PAGES: usize = 10;

impl Poller {
    /// Reads new messages, records their requests, enqueues the closed ones.
    pub(super) async fn poll_messages(&self) -> Result<PollReport, PollError> {
        let now = Utc::now().timestamp();
        let cursor = self
            .store
            .meta(CURSOR_KEY)
            .await?
            .and_then(|v| v.parse::<i64>().ok());
        let mut checkpoints: Vec<(i64, i64)> = self
            .store
            .meta(CHECKPOINTS_KEY)
            .await?
            .and_then(|v| serde_json::from_str(&v).ok())
            .unwrap_or_default();
        let mut report = PollReport::default();

        let (candidates, new_cursor) = match cursor {
            None => self.first_poll().await?,
            Some(cursor) => {
                let from = rescan_from(&checkpoints, cursor, now - self.overlap.as_secs() as i64);
                let mut bridged = Vec::new();
                let mut read = Vec::new();
                let (candidates, max_id, scanned) =
                    self.scan_from(from, &mut bridged, &mut read).await?;
                report.scanned = scanned;
                self.bridge(&bridged).await?;
                if let Some(watch) = self.watch.as_ref().filter(|_| !read.is_empty()) {
                    watch.seen(&read, None, Intake::Poll).await?;
                }
                (candidates, max_id.max(cursor))
            }
        };
        checkpoints.push((now, new_cursor));
        prune(&mut checkpoints, now - 2 * self.overlap.as_secs() as i64);
        let checkpoints_json = serde_json::to_string(&checkpoints).expect("checkpoints serialise");
        self.store
            .record_scan(
                &candidates,
                &[
                    (CURSOR_KEY, new_cursor.to_string()),
                    (CHECKPOINTS_KEY, checkpoints_json),
                ],
            )
            .await?;

        let tracked = self.store.candidates().await?;
        if !tracked.is_empty() {
            let closed = closed_among(&self.chat2desk, &tracked).await?;
            if !closed.is_empty() {
                report.enqueued = self.store.promote(&closed, Intake::Poll, &[]).await?;
            }
        }
        Ok(report)
    }

    /// The first poll starts at the newest message and tracks the requests of the messages
    /// within the overlap window and of the dialogs open right now, so a request closed just
    /// before the first poll is still found; older history is `backfill`'s job.
    async fn first_poll(&self) -> Result<(Vec<(i64, i64)>, i64), Chat2DeskError> {
        let since = Utc::now()
            - chrono::Duration::from_std(self.overlap).unwrap_or(chrono::Duration::zero());
        let recent = recent_requests(&self.chat2desk, since, FIRST_POLL_PAGES, |_, _| {}).await?;
        let open = open_dialogs(&self.chat2desk).await?;
        let mut candidates = recent.pairs;
        candidates.extend(
            open.into_iter()
                .filter_map(|(dialog, request)| request.map(|r| (r, dialog))),
        );
        Ok((candidates.into_iter().collect(), recent.newest_id))
    }

    /// Queues each client message for its Open Line (the same message again is one job).
    async fn bridge(&self, messages: &[(i64, Message)]) -> Result<(), PollError> {
        let Some(inbox) = &self.inbox else {
            return Ok(());
        };
        let mut new = 0;
        for (line, m) in messages {
            if inbox.enqueue(*line, m, None, Intake::Poll).await? {
                new += 1;
            }
        }
        if new > 0 {
            tracing::debug!(
                messages = new,
                "Queued client messages for their Open Lines"
            );
            self.wake.notify_one();
        }
        Ok(())
    }

    /// Reads every message with an id above `from`, in pages by id; client messages of the
    /// bridge's channels are added to `bridged` with their line, and every message to
    /// `read` when a watch takes them.
    async fn scan_from(
        &self,
        from: i64,
        bridged: &mut Vec<(i64, Message)>,
        read: &mut Vec<Message>,
    ) -> Result<(Vec<(i64, i64)>, i64, u64), Chat2DeskError> {
        let mut seen: BTreeSet<(i64, i64)> = BTreeSet::new();
        let mut start = from;
        let mut max_id = from;
        let mut scanned = 0;
        let watching = self.watch.as_ref().is_some_and(|w| w.active());
        for _ in 0..MAX_PAGES {
            let page = self
                .chat2desk
                .messages(&MessageQuery {
                    start_id: Some(start),
                    order: Some(Order::Asc),
                    limit: PAGE,
                    ..MessageQuery::default()
                })
                .await?;
            let full = page.items.len() as u64 >= PAGE;
            // `start_id` may be inclusive or exclusive (undocumented): drop what we have.
            let fresh: Vec<_> = page.items.into_iter().filter(|m| m.id > start).collect();
            scanned += fresh.len() as u64;
            for m in &fresh {
                if let (Some(r), Some(d)) = (m.request_id, m.dialog_id) {
                    seen.insert((r, d));
                }
                let line = m.channel_id.and_then(|c| self.inbox.as_ref()?.line_of(c));
                if let (Some(line), MessageKind::FromClient) = (line, &m.kind) {
                    bridged.push((line, m.clone()));
                }
            }
            let page_max = fresh.iter().map(|m| m.id).max();
            if watching {
                read.extend(fresh);
            }
            match page_max {
                Some(id) if full => {
                    max_id = max_id.max(id);
                    start = id;
                }
                Some(id) => {
                    max_id = max_id.max(id);
                    break;
                }
                None => break,
            }
        }
        Ok((seen.into_iter().collect(), max_id, scanned))
    }
}

/// What [`recent_requests`] found.
#[derive(Debug, Default)]
pub struct Recent {
    /// (request, dialog) of every message read.
    pub pairs: BTreeSet<(i64, i64)>,
    /// The highest message id seen (0 when there are no messages).
    pub newest_id: i64,
    /// Messages read.
    pub read: u64,
}

/// Reads messages newest first (`GET /messages?order=desc`, 200 a page, at most `max_pages`)
/// until they are older than `since`; `progress(read, total)` is called after each page.
pub async fn recent_requests(
    chat2desk: &Chat2Desk,
    since: DateTime<Utc>,
    max_pages: usize,
    mut progress: impl FnMut(u64, Option<u64>),
) -> Result<Recent, Chat2DeskError> {
    let mut recent = Recent::default();
    for _ in 0..max_pages {
        let page = chat2desk
            .messages(&MessageQuery {
                order: Some(Order::Desc),
                limit: PAGE,
                offset: recent.read,
                ..MessageQuery::default()
            })
            .await?;
        let n = page.items.len() as u64;
        let mut reached_since = false;
        for m in &page.items {
            recent.newest_id = recent.newest_id.max(m.id);
            if m.created.is_some_and(|t| t < since) {
                reached_since = true;
                continue;
            }
            if let (Some(r), Some(d)) = (m.request_id, m.dialog_id) {
                recent.pairs.insert((r, d));
            }
        }
        recent.read += n;
        progress(recent.read, page.total);
        if n < PAGE || reached_since {
            break;
        }
    }
    Ok(recent)
}

/// The requests among `candidates` (request, dialog) that Chat2Desk shows closed.
pub async fn closed_among(
    chat2desk: &Chat2Desk,
    candidates: &[(i64, i64)],
) -> Result<Vec<i64>, Chat2DeskError> {
    let open = open_dialogs(chat2desk).await?;
    Ok(candidates
        .iter()
        .filter(|(request, dialog)| match open.get(dialog) {
            None => true,
            Some(Some(current)) => current != request,
            Some(None) => false,
        })
        .map(|(request, _)| *request)
        .collect())
}

/// Open dialogs with the request of their last message.
async fn open_dialogs(chat2desk: &Chat2Desk) -> Result<HashMap<i64, Option<i64>>, Chat2DeskError> {
    let mut open = HashMap::new();
    let mut offset = 0;
    for _ in 0..MAX_PAGES {
        let page = chat2desk
            .dialogs(Some(DialogState::Open), offset, PAGE)
            .await?;
        let n = page.items.len() as u64;
        for d in page.items {
            // A listed dialog is open whatever its own `state` field says.
            open.insert(d.id, d.last_message.and_then(|m| m.request_id));
        }
        offset += n;
        let done = n < PAGE || page.total.is_some_and(|t| offset >= t);
        if done {
            break;
        }
    }
    Ok(open)
}

/// Where to re-read from: the cursor as it was `overlap` ago (the newest checkpoint at or
/// before `since`), or the oldest checkpoint we have, never above the cursor.
fn rescan_from(checkpoints: &[(i64, i64)], cursor: i64, since: i64) -> i64 {
    let older = checkpoints
        .iter()
        .filter(|(t, _)| *t <= since)
        .max_by_key(|(t, _)| *t);
    let from = match older.or_else(|| checkpoints.iter().min_by_key(|(t, _)| *t)) {
        Some((_, id)) => *id,
        None => cursor,
    };
    from.min(cursor)
}

/// Drops checkpoints older than `keep_after`, except the newest of those (the overlap start).
fn prune(checkpoints: &mut Vec<(i64, i64)>, keep_after: i64) {
    checkpoints.sort_unstable();
    let old = checkpoints.iter().filter(|(t, _)| *t < keep_after).count();
    if old > 1 {
        checkpoints.drain(..old - 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rescan_starts_where_the_cursor_was_an_overlap_ago() {
        let cps = vec![(100, 10), (200, 20), (300, 30)];
        assert_eq!(rescan_from(&cps, 35, 250), 20);
        assert_eq!(rescan_from(&cps, 35, 50), 10);
        assert_eq!(rescan_from(&[], 35, 50), 35);
        assert_eq!(rescan_from(&cps, 15, 350), 15);
    }

    #[test]
    fn prune_keeps_one_checkpoint_before_the_window() {
        let mut cps = vec![(100, 10), (200, 20), (300, 30), (400, 40)];
        prune(&mut cps, 250);
        assert_eq!(cps, vec![(200, 20), (300, 30), (400, 40)]);
    }
}

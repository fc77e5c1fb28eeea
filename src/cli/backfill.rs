//! `backfill --since`: find requests closed since a date and queue them.
//!
//! Reads messages newest first (`GET /messages?order=desc`, 200 a page) until they are older
//! than the date, keeps their (request, dialog) pairs, and queues those Chat2Desk shows closed
//! (see `intake::closed_among`). Cost: ⌈messages since the date / 200⌉ + ⌈open dialogs / 200⌉
//! API calls.

use crate::chat2desk::{Chat2Desk, MessageQuery, Order};
use crate::intake::closed_among;
use crate::store::{Intake, JobKind, Store};
use chrono::{DateTime, NaiveDate, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::BTreeSet;
use std::io::IsTerminal;

const PAGE: u64 = 200;

/// Queues every request closed since `since` (midnight in `tz`).
pub async fn backfill(
    chat2desk: &Chat2Desk,
    store: &Store,
    since: NaiveDate,
    tz: chrono_tz::Tz,
) -> anyhow::Result<u64> {
    let start: DateTime<Utc> = since
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_local_timezone(tz)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| since.and_hms_opt(0, 0, 0).expect("midnight").and_utc());
    let bar = progress_bar();
    let mut pairs = BTreeSet::new();
    let mut offset = 0;
    loop {
        let page = chat2desk
            .messages(&MessageQuery {
                order: Some(Order::Desc),
                limit: PAGE,
                offset,
                ..MessageQuery::default()
            })
            .await?;
        if let (Some(total), Some(bar)) = (page.total, &bar) {
            bar.set_length(total);
        }
        let n = page.items.len() as u64;
        let mut reached_start = false;
        for m in &page.items {
            if m.created.is_some_and(|t| t < start) {
                reached_start = true;
                continue;
            }
            if let (Some(r), Some(d)) = (m.request_id, m.dialog_id) {
                pairs.insert((r, d));
            }
        }
        offset += n;
        if let Some(bar) = &bar {
            bar.set_position(offset);
            bar.set_message(format!("{} requests", pairs.len()));
        }
        if n < PAGE || reached_start {
            break;
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let pairs: Vec<(i64, i64)> = pairs.into_iter().collect();
    let closed = closed_among(chat2desk, &pairs).await?;
    let added = store
        .enqueue_many(JobKind::Transcript, &closed, Intake::Backfill)
        .await?;
    println!(
        "Read {offset} messages since {since}: {} requests, {} closed, {added} newly queued ({} already known).",
        pairs.len(),
        closed.len(),
        closed.len() as u64 - added
    );
    Ok(added)
}

/// A progress bar on a terminal; nothing when output is redirected.
fn progress_bar() -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{spinner} messages {pos}/{len} [{bar:30}] {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    Some(bar)
}

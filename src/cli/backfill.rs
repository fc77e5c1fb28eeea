//! `backfill --since`: find requests closed since a date and queue them.
//!
//! Reads messages newest first (`GET /messages?order=desc`, 200 a page) until they are older
//! than the date, keeps their (request, dialog) pairs, and queues those Chat2Desk shows closed
//! (see `intake::closed_among`). Cost: ⌈messages since the date / 200⌉ + ⌈open dialogs / 200⌉
//! API calls.

use crate::chat2desk::Chat2Desk;
use crate::flows::transcript::intake::{closed_among, recent_requests};
use crate::store::{Intake, JobKind, Store};
use chrono::{DateTime, NaiveDate, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

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
    let recent = recent_requests(chat2desk, start, usize::MAX, |read, total| {
        if let Some(bar) = &bar {
            if let Some(total) = total {
                bar.set_length(total);
            }
            bar.set_position(read);
        }
    })
    .await?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let offset = recent.read;
    let pairs = recent.pairs;
    let pairs: Vec<(i64, i64)> = pairs.into_iter().collect();
    let closed = closed_among(chat2desk, &pairs).await?;
    let added = store
        .enqueue_many(JobKind::TRANSCRIPT, &closed, Intake::Backfill)
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

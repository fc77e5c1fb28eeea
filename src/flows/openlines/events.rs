//! The offline-events reader (doc §3.5): operators' replies come as `OnImConnectorMessageAdd`
//! offline events, finished sessions as `OnImConnectorDialogFinish`, an admin's disconnect
//! as `OnImConnectorStatusDelete`/`LineDelete`, fetched with `event.offline.get` (`clear=0`)
//! every `events_poll_ms` while this node leads.
//!
//! `clear=0` reserves the rows under a new `process_id`, and reserved rows never come back to
//! a plain `get`, so the `process_id` is stored before anything else is done with the
//! batch. Each reply becomes a `line_out` job (keyed by the portal's IM message id: a batch
//! read twice queues nothing twice), each finished session a `line_close` job (keyed by line
//! and session); the job clears its event when done. Disconnects are recorded, and they and
//! events of other kinds are logged and cleared here.
//!
//! At start and every [`SWEEP_EVERY`], the sweep re-reads the open batches (queuing what a
//! crash left unqueued, closing those with nothing left) and takes over rows that
//! `event.offline.list` shows reserved under a `process_id` this daemon never stored (a
//! crash between the portal's answer and our write).

use super::disconnect::{note_disconnect, LINE_DELETE, STATUS_DELETE};
use super::event_data::text;
use super::finish::DIALOG_FINISH;
use super::finishes_of;
use super::replies_of;
use super::{enqueue_operator_replies, enqueue_session_finish};
use crate::portal::AppClient;
use crate::store::Store;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;

/// Events asked for per `event.offline.get` (the portal's default and usual page).
pub const BATCH_LIMIT: usize = 50;
/// How often open batches are re-read and unknown reservations looked for.
pub const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// The event an operator's reply raises (upper-case, as the portal stores names).
const MESSAGE_ADD: &str = "ONIMCONNECTORMESSAGEADD";
/// Most `get` calls in one round while a backlog drains.
const MAX_GETS_PER_ROUND: usize = 20;
/// Most `event.offline.list` pages read per sweep.
const MAX_LIST_PAGES: usize = 200;

/// Why a round stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// A portal call failed (its method named).
    #[error("Bitrix24 method {method}: {error}")]
    Portal {
        /// The method.
        method: &'static str,
        /// What went wrong.
        error: crate::portal::BitrixError,
    },
    /// The state database failed.
    #[error("state database: {0}")]
    Store(#[from] crate::store::StoreError),
}

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadReport {
    /// Events read.
    pub events: usize,
    /// New `line_out` jobs.
    pub queued: usize,
    /// Events cleared here (of other kinds, or read again after their jobs were done).
    pub cleared: usize,
    /// Reservations taken over (sweep only).
    pub taken_over: usize,
    /// Batches closed (sweep only).
    pub closed: usize,
}

impl std::ops::AddAssign for ReadReport {
    fn add_assign(&mut self, o: Self) {
        self.events += o.events;
        self.queued += o.queued;
        self.cleared += o.cleared;
        self.taken_over += o.taken_over;
        self.closed += o.closed;
    }
}

/// The reader of one connector's offline events.
#[derive(Debug, Clone)]
pub struct EventsReader {
    app: AppClient,
    store: Store,
    connector: String,
    every: Duration,
    wake: Arc<Notify>,
}

impl EventsReader {
    /// A reader of `connector`'s events (`auth_connector`), polling `every`; `wake` is poked
    /// when replies were queued.
    pub fn new(
        app: AppClient,
        store: Store,
        connector: &str,
        every: Duration,
        wake: Arc<Notify>,
    ) -> Self {
        Self {
            app,
            store,
            connector: connector.to_string(),
            every,
            wake,
        }
    }

    /// Reads on every tick until `shutdown`, while `leader` says this node leads; sweeps on
    /// taking the lead and every [`SWEEP_EVERY`].
    pub async fn run(self, mut leader: watch::Receiver<bool>, shutdown: CancellationToken) {
        let mut last_error = String::new();
        loop {
            if !*leader.borrow_and_update() {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    changed = leader.changed() => {
                        if changed.is_err() { return; }
                        continue;
                    }
                }
            }
            let mut swept: Option<tokio::time::Instant> = None;
            loop {
                if swept.is_none_or(|at| at.elapsed() >= SWEEP_EVERY) {
                    let outcome = self.sweep().await;
                    self.note(outcome, "sweep", &mut last_error);
                    swept = Some(tokio::time::Instant::now());
                }
                let outcome = self.read_new().await;
                self.note(outcome, "read", &mut last_error);
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    changed = leader.changed() => {
                        if changed.is_err() { return; }
                        if !*leader.borrow() { break; }
                    }
                    _ = tokio::time::sleep(self.every) => {}
                }
            }
        }
    }

    /// Logs a round: what it did, or its error (each distinct error once, not every tick).
    fn note(&self, outcome: Result<ReadReport, ReadError>, round: &str, last_error: &mut String) {
        match outcome {
            Ok(report) => {
                if !last_error.is_empty() {
                    tracing::info!(round, "Offline events are read again");
                    last_error.clear();
                }
                if report != ReadReport::default() {
                    tracing::info!(
                        round,
                        events = report.events,
                        queued = report.queued,
                        cleared = report.cleared,
                        taken_over = report.taken_over,
                        closed = report.closed,
                        "Read the portal's offline events"
                    );
                }
            }
            Err(e) => {
                let text = e.to_string();
                if text != *last_error {
                    tracing::warn!(round, error = %text, "Cannot read the portal's offline events (operators' replies wait); retrying every tick");
                    *last_error = text;
                }
            }
        }
    }

    /// Reserves free events (`event.offline.get`, `clear=0`), stores the reservation, queues
    /// the replies; repeats while full batches come back.
    pub async fn read_new(&self) -> Result<ReadReport, ReadError> {
        let mut report = ReadReport::default();
        for _ in 0..MAX_GETS_PER_ROUND {
            let (process_id, events) = self.get(None).await?;
            let full = events.len() >= BATCH_LIMIT;
            if events.is_empty() {
                break;
            }
            let Some(process_id) = process_id else {
                // Nothing is reserved without a process id: the portal deleted what it sent
                // (it behaved as `clear=1`). Queue the replies; nothing is left to clear.
                tracing::warn!(
                    portal_method = "event.offline.get",
                    events = events.len(),
                    "The portal answered clear=0 without a process_id"
                );
                report += self.take("", &events).await?;
                break;
            };
            self.store.remember_offline_batch(&process_id).await?;
            report += self.take(&process_id, &events).await?;
            if !full {
                break;
            }
        }
        Ok(report)
    }

    /// Takes over reservations unknown to the daemon, re-reads every open batch (queuing what
    /// is missing), closes those with no events left.
    pub async fn sweep(&self) -> Result<ReadReport, ReadError> {
        let mut report = ReadReport::default();
        for process_id in self.unknown_reservations().await? {
            tracing::warn!(
                portal_method = "event.offline.list",
                process_id = %process_id,
                "Taking over offline events reserved under a process_id this daemon never stored (a crash after event.offline.get)"
            );
            self.store.remember_offline_batch(&process_id).await?;
            report.taken_over += 1;
        }
        for process_id in self.store.open_offline_batches().await? {
            let (_, events) = self.get(Some(&process_id)).await?;
            if events.is_empty() {
                self.store.close_offline_batch(&process_id).await?;
                report.closed += 1;
            } else {
                report += self.take(&process_id, &events).await?;
            }
        }
        Ok(report)
    }

    async fn get(
        &self,
        process_id: Option<&str>,
    ) -> Result<(Option<String>, Vec<Value>), ReadError> {
        const METHOD: &str = "event.offline.get";
        let mut params = json!({
            "clear": 0,
            "limit": BATCH_LIMIT,
            "auth_connector": self.connector,
        });
        if let Some(p) = process_id {
            params["process_id"] = json!(p);
        }
        let result = self
            .app
            .call(METHOD, params)
            .await
            .map_err(|error| ReadError::Portal {
                method: METHOD,
                error,
            })?;
        let process = result
            .get("process_id")
            .and_then(Value::as_str)
            .filter(|p| !p.is_empty())
            .map(str::to_string);
        let events = result
            .get("events")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        Ok((process, events))
    }

    /// `PROCESS_ID`s of reserved rows (not marked as errors) the store does not know.
    async fn unknown_reservations(&self) -> Result<Vec<String>, ReadError> {
        const METHOD: &str = "event.offline.list";
        let mut seen = BTreeSet::new();
        let mut start = 0usize;
        for _ in 0..MAX_LIST_PAGES {
            let page = self
                .app
                .call(
                    METHOD,
                    json!({"start": start, "auth_connector": self.connector}),
                )
                .await
                .map_err(|error| ReadError::Portal {
                    method: METHOD,
                    error,
                })?;
            let rows = page.as_array().cloned().unwrap_or_default();
            for row in &rows {
                let process = text(&row["PROCESS_ID"]).unwrap_or_default();
                let error = text(&row["ERROR"]).is_some_and(|e| e == "1" || e == "Y");
                if !process.is_empty() && !error {
                    seen.insert(process);
                }
            }
            // The portal pages by 50; a shorter page is the last.
            if rows.len() < BATCH_LIMIT {
                break;
            }
            start += rows.len();
        }
        let mut unknown = Vec::new();
        for process in seen {
            if !self.store.knows_offline_batch(&process).await? {
                unknown.push(process);
            }
        }
        Ok(unknown)
    }

    /// Queues the replies of `events` (each event's elements together); clears the events
    /// of other kinds.
    async fn take(&self, process_id: &str, events: &[Value]) -> Result<ReadReport, ReadError> {
        let mut report = ReadReport {
            events: events.len(),
            ..ReadReport::default()
        };
        let mut others = Vec::new();
        for event in events {
            let name = text(&event["EVENT_NAME"])
                .unwrap_or_default()
                .to_uppercase();
            let message_id = text(&event["MESSAGE_ID"]).unwrap_or_default();
            let data = &event["EVENT_DATA"];
            let connector = text(&data["CONNECTOR"]).unwrap_or_default().to_lowercase();
            let ours = connector == self.connector;
            let queued = match name.as_str() {
                MESSAGE_ADD if ours => self.queue_replies(event, process_id).await?,
                DIALOG_FINISH if ours => self.queue_finishes(event, process_id).await?,
                LINE_DELETE | STATUS_DELETE => {
                    note_disconnect(&self.store, &self.connector, &name, data).await?;
                    None
                }
                _ => {
                    tracing::info!(
                        event = %name,
                        message_id = %message_id,
                        line = %text(&data["LINE"]).unwrap_or_default(),
                        "Offline event not bridged (only operators' new replies and finished sessions are); clearing it"
                    );
                    None
                }
            };
            let Some(queued) = queued else {
                others.push(message_id);
                continue;
            };
            report.queued += queued;
        }
        if report.queued > 0 {
            self.wake.notify_one();
        }
        let others: Vec<String> = others.into_iter().filter(|m| !m.is_empty()).collect();
        if !others.is_empty() && !process_id.is_empty() {
            const METHOD: &str = "event.offline.clear";
            self.app
                .call(
                    METHOD,
                    json!({"process_id": process_id, "message_id": others,
                           "auth_connector": self.connector}),
                )
                .await
                .map_err(|error| ReadError::Portal {
                    method: METHOD,
                    error,
                })?;
            report.cleared += others.len();
        }
        Ok(report)
    }
}

impl EventsReader {
    /// Queues the replies of an `OnImConnectorMessageAdd` event; `None` (cleared here) when
    /// it has none, or only replies passed on before.
    async fn queue_replies(
        &self,
        event: &Value,
        process_id: &str,
    ) -> Result<Option<usize>, ReadError> {
        let replies = replies_of(event, process_id);
        if replies.is_empty() {
            tracing::warn!(
                message_id = %text(&event["MESSAGE_ID"]).unwrap_or_default(),
                "An OnImConnectorMessageAdd event carries no message with a chat and an IM id; clearing it"
            );
            return Ok(None);
        }
        for r in &replies {
            tracing::debug!(line = r.line, chat = %r.chat_id, im_message_id = %r.im_message_id, "Queued an operator's reply");
        }
        Ok(enqueue_operator_replies(&self.store, &replies).await?)
    }

    /// Queues the finished sessions of an `OnImConnectorDialogFinish` event; `None` (cleared
    /// here) when it names none, or only sessions whose requests were closed before.
    async fn queue_finishes(
        &self,
        event: &Value,
        process_id: &str,
    ) -> Result<Option<usize>, ReadError> {
        let finishes = finishes_of(event, process_id);
        if finishes.is_empty() {
            return Ok(None);
        }
        for f in &finishes {
            tracing::info!(line = f.line, chat = %f.chat_id, session = %f.session_id, "An operator finished an Open Lines session; closing its Chat2Desk request");
        }
        Ok(enqueue_session_finish(&self.store, &finishes).await?)
    }
}

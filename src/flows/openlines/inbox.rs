//! The bridge's [`Inbox`]: a client's message on a channel of a live line becomes a `line_in`
//! job, whether the poller or a webhook brought it.

use super::{enqueue_client_message, LiveLines};
use crate::chat2desk::{Client, Message};
use crate::engine::Inbox;
use crate::store::{Intake, Store, StoreError};
use futures_util::future::BoxFuture;

/// Client messages of the lines in force now, queued in `store`.
#[derive(Debug, Clone)]
pub struct LineInbox {
    store: Store,
    lines: LiveLines,
}

impl LineInbox {
    /// The inbox of `lines` (live: a reload changes which channels it takes).
    pub fn new(store: Store, lines: LiveLines) -> Self {
        Self { store, lines }
    }
}

impl Inbox for LineInbox {
    fn line_of(&self, channel: i64) -> Option<i64> {
        self.lines.line_of(channel)
    }

    fn enqueue<'a>(
        &'a self,
        line: i64,
        message: &'a Message,
        client: Option<&'a Client>,
        intake: Intake,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(enqueue_client_message(
            &self.store,
            line,
            message,
            client,
            intake,
        ))
    }
}

//! The seam between intake and the Open Lines flow: the poller and the Chat2Desk webhook
//! hand a client's message on a bridged channel to whatever inbox the app mounted, without
//! knowing the bridge.

use crate::chat2desk::{Client, Message};
use crate::store::{Intake, StoreError};
use futures_util::future::BoxFuture;

/// Where client messages of bridged channels go (the Open Lines flow implements it).
pub trait Inbox: Send + Sync + std::fmt::Debug + 'static {
    /// The Open Line channel `channel` is bridged to now (the live rules), if any.
    fn line_of(&self, channel: i64) -> Option<i64>;

    /// Stores `message` for `line` and queues its job, durably; true when it is new (the
    /// same message again is one job).
    fn enqueue<'a>(
        &'a self,
        line: i64,
        message: &'a Message,
        client: Option<&'a Client>,
        intake: Intake,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
}

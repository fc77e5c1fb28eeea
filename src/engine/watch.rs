//! The seam between intake and the escalation flow: the poller and the Chat2Desk webhook
//! hand every message they see (a client's, an operator's) to whatever watch the app mounted,
//! without knowing what it does with them.

use crate::chat2desk::{Client, Message};
use crate::store::{Intake, StoreError};
use futures_util::future::BoxFuture;

/// Where the messages the daemon sees go (the escalation flow implements it).
pub trait Watch: Send + Sync + std::fmt::Debug + 'static {
    /// True while the watch takes messages at all (the live rules say so): a poll keeps
    /// the messages it reads for it only then.
    fn active(&self) -> bool;

    /// Takes `messages` in the order they were written; `client` is the client object a
    /// webhook delivery carried, if any. Durable when it returns.
    fn seen<'a>(
        &'a self,
        messages: &'a [Message],
        client: Option<&'a Client>,
        intake: Intake,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
}

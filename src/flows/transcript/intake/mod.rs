//! Intake: everything that says "request N closed" becomes one `enqueue(N)`.
//!
//! The poller asks Chat2Desk on a cron schedule; the strategy that finds closed requests is
//! pluggable because the public docs do not settle how to list them (see
//! `chat2desk-api.md`, open questions). The webhook route ([`ChatWebhook`]) takes Chat2Desk's
//! deliveries. Client messages of bridged channels, whichever way they come, go to the
//! [`crate::engine::Inbox`] the app mounted.

mod commit;
mod dialogs;
mod messages;
mod parse;
mod poller;
mod requalify;
mod webhook;

pub use commit::{CommitError, GroupCommit};
pub use messages::{closed_among, recent_requests, Recent};
pub use parse::{parse_delivery, Delivery, ParseError};
pub use poller::{PollError, PollReport, Poller};
pub use webhook::{ChatWebhook, ChatWebhookParts};

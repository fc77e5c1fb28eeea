//! Intake: everything that says "request N closed" becomes one `enqueue(N)`.
//!
//! The poller asks Chat2Desk on a cron schedule; the strategy that finds closed requests is
//! pluggable because the public docs do not settle how to list them (see
//! `chat2desk-api.md`, open questions).

mod dialogs;
mod messages;
mod poller;
pub mod webhook;

pub use messages::{closed_among, recent_requests, Recent};
pub use poller::{PollError, PollReport, Poller, LAST_POLL_ERROR_KEY, LAST_POLL_KEY};
pub use webhook::Cidr;

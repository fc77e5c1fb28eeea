//! The HTTP server behind the customer's reverse proxy: Chat2Desk webhook deliveries at
//! `/webhook/<secret>`, the portal's business-process action at `/bizproc/send` and
//! `/bizproc/channels`, the local application's `/bitrix24/*` pages, operators' re-hosted
//! files at `/files/<token>/<name>`, `/healthz` and
//! `/metrics`.
//!
//! A delivery naming a closed request is acknowledged only after its enqueue committed to
//! SQLite (503 otherwise, so Chat2Desk retries); concurrent deliveries share one transaction
//! ([`GroupCommit`]). Chat2Desk cannot sign deliveries reliably (`chat2desk-api.md` §3: the
//! 2025 HMAC scheme is undocumented), so the secret travels in the URL and is compared in
//! constant time; it is never logged.

mod bitrix24;
mod bizproc;
mod cidr;
mod commit;
mod error;
mod files;
mod handler;
mod parse;
mod server;
mod settings;

pub use cidr::{Cidr, CidrError};
pub use commit::{CommitError, GroupCommit};
pub use error::ServerError;
pub use parse::{parse_delivery, Delivery, ParseError};
pub use server::{WebhookServer, MAX_CONNECTIONS};
pub use settings::ServerSettings;

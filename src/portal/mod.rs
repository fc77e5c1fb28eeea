//! Bitrix24 client for an on-premise portal's inbound webhook (`bitrix24-rest.md`).
//!
//! Calls made at the same time are gathered into one `batch` request; a token bucket sits in
//! front of every HTTP request; rate-limit answers are retried, and a request holding a write
//! is never repeated when its fate is unknown. The webhook URL (whose path is the secret)
//! appears in no error, log line or `Debug` output.
//!
//! Also here: the local application's client and its stored OAuth grant ([`local_app`],
//! `keeper`), BB-code escaping of untrusted text (`bbcode`), and the CRM lookups and routing
//! the flows share ([`crm`]).
//!
//! May import config, http, store, metrics and chat2desk.

mod app;
mod batcher;
mod bbcode;
mod client;
pub mod crm;
mod error;
mod keeper;
pub mod local_app;
mod methods;
pub mod oauth;
mod params;
pub mod query;
mod references;
mod round;
mod transport;
mod types;

pub use app::{not_connected, AppClient, BoxFuture, TokenKeeper};
pub use bbcode::{escape, sanitize_url};
pub(crate) use bbcode::{escape_inline, truncate_chars, ZWSP};
pub use client::{Bitrix24, Bitrix24Options};
pub use error::{BitrixError, ErrorKind};
pub use keeper::StoredGrant;
pub use oauth::{OAuthClient, OAuthError, TokenSet};
pub use round::{Answers, IdOf, Round};
pub(crate) use types::id_from_value;
pub use types::{Comment, Contact, Deal, EntityType, Lead, ListPage, Profile, StatusItem, User};

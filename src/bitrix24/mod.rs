//! Bitrix24 client for an on-premise portal's inbound webhook (`bitrix24-rest.md`).
//!
//! Calls made at the same time are gathered into one `batch` request; a token bucket sits in
//! front of every HTTP request; rate-limit answers are retried, and a request holding a write
//! is never repeated when its fate is unknown. The webhook URL (whose path is the secret)
//! appears in no error, log line or `Debug` output.

mod app;
mod batcher;
mod client;
mod error;
mod methods;
pub mod oauth;
mod params;
pub mod query;
mod references;
mod round;
mod transport;
mod types;

pub use app::{not_connected, AppClient, BoxFuture, TokenKeeper};
pub use client::{Bitrix24, Bitrix24Options};
pub use error::{BitrixError, ErrorKind};
pub use oauth::{OAuthClient, OAuthError, TokenSet};
pub use round::{Answers, IdOf, Round};
pub(crate) use types::id_from_value;
pub use types::{Comment, Contact, Deal, EntityType, Lead, ListPage, Profile, StatusItem, User};

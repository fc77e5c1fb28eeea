//! The Chat2Desk API v1 client: typed models, lenient decoding, paging, retries, the request
//! budget and typed errors. Facts and uncertainties are from `chat2desk-api.md`. Also the
//! cache of operators and clients ([`Directory`]) and the month's call count
//! ([`watch_chat2desk_quota`]).
//!
//! May import config, http, store and metrics.

mod client;
mod closing;
mod directory;
mod error;
pub(crate) mod lenient;
mod models;
mod options;
mod outbound;
mod quota;
mod tags;
mod templates;
pub mod time;

pub use client::Chat2Desk;
pub use directory::{Directory, DEFAULT_WEB_URL};
pub use error::Chat2DeskError;
pub use models::{
    ApiInfo, Attachment, AttachmentKind, Channel, Client, Dialog, DialogState, Message,
    MessageKind, MessageQuery, NewWebhook, Operator, Order, Page, RequestInfo, Webhook,
    WebhookEvent,
};
pub use options::{Chat2DeskOptions, DEFAULT_MAX_RETRIES};
pub use outbound::{NewMessage, SentMessage};
pub use quota::{add_remaining_calls, watch_chat2desk_quota};
pub use tags::Tag;
pub use templates::Template;
pub use time::parse_time;

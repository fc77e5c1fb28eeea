//! The Chat2Desk API v1 client: typed models, lenient decoding, paging, retries, the request
//! budget and typed errors. Facts and uncertainties are from `chat2desk-api.md`.

mod client;
mod closing;
mod error;
mod lenient;
mod models;
mod options;
mod outbound;
pub mod time;

pub use client::Chat2Desk;
pub use error::Chat2DeskError;
pub use models::{
    ApiInfo, Attachment, AttachmentKind, Channel, Client, Dialog, DialogState, Message,
    MessageKind, MessageQuery, NewWebhook, Operator, Order, Page, RequestInfo, Webhook,
    WebhookEvent,
};
pub use options::{Chat2DeskOptions, DEFAULT_MAX_RETRIES};
pub use outbound::{NewMessage, SentMessage};
pub use time::parse_time;

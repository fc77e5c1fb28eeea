//! Typed Chat2Desk objects, decoded leniently from raw JSON.
//!
//! Every decoder reads a `serde_json::Value` (the raw object, times still untyped) and
//! converts it: unknown fields are ignored, every field except the id is optional, numbers
//! may come as strings, and times go through [`parse_time`](super::parse_time) with the configured zone for
//! zone-less shapes. A decoder returns `None` only when the object has no usable id.

mod api_info;
mod channel;
mod client;
mod dialog;
mod message;
mod operator;
mod paging;
mod request;
mod webhook;

pub use api_info::ApiInfo;
pub use channel::Channel;
pub use client::Client;
pub use dialog::{Dialog, DialogState};
pub use message::{Attachment, AttachmentKind, Message, MessageKind};
pub use operator::Operator;
pub use paging::{MessageQuery, Order, Page};
pub use request::RequestInfo;
pub use webhook::{NewWebhook, Webhook, WebhookEvent};

#[cfg(test)]
mod tests;

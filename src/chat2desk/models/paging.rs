//! List calls: sort order, the message query, and one page of results.

use serde::{Deserialize, Serialize};

/// Sort order of list calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// Oldest first.
    Asc,
    /// Newest first.
    Desc,
}

impl Order {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Order::Asc => "asc",
            Order::Desc => "desc",
        }
    }
}

/// Filters of `GET /messages`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessageQuery {
    /// Id cursor (the API's `start_id`).
    pub start_id: Option<i64>,
    /// Only this dialog.
    pub dialog_id: Option<i64>,
    /// Only this client.
    pub client_id: Option<i64>,
    /// Sort order.
    pub order: Option<Order>,
    /// Page size (clamped to 200; 0 = the API's default).
    pub limit: u64,
    /// Items to skip.
    pub offset: u64,
}

/// One page of a list call.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// `meta.total`, when sent.
    pub total: Option<u64>,
    /// `meta.offset` (else the requested offset).
    pub offset: u64,
    /// `meta.limit` (else the requested limit).
    pub limit: u64,
}

impl<T> Page<T> {
    /// True when a later page may hold more items.
    pub fn has_more(&self) -> bool {
        match self.total {
            Some(total) => self.offset + (self.items.len() as u64) < total,
            None => !self.items.is_empty() && self.items.len() as u64 >= self.limit,
        }
    }
}

//! Test helpers: the shared fixture (simulators, config file, the real binary) plus what only
//! tests need.
#![allow(dead_code)]

pub mod bizproc;
pub mod bridge;
pub mod exposition;
mod fixture;
pub mod hostile;
pub mod replies;
mod running;
pub mod webdriver;
pub mod webhook;

pub use fixture::*;
pub use running::*;

/// A string field of a portal record.
pub fn field(row: &serde_json::Value, name: &str) -> String {
    match row.get(name) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(v) if !v.is_null() => v.to_string(),
        _ => String::new(),
    }
}

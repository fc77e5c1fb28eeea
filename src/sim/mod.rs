//! Loopback simulators of Chat2Desk and of the portal's inbound webhook, faithful to
//! `chat2desk-api.md` and `bitrix24-rest.md`, with fault injection. Used by the tests, the
//! benches and `chat2desk-b24 demo`.

pub mod bitrix24;
pub mod browser;
pub mod chat2desk;
pub mod faults;
pub mod http;
pub mod scenario;

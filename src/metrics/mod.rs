//! Metrics and health: counters and histograms recorded by the API clients, the webhook intake
//! and the worker, the health probe behind `/healthz`, and the page behind `/metrics`.
//!
//! The metrics are `prometheus-client`, the Prometheus project's own Rust client, rather than
//! the `metrics` facade with its exporter: we serve `/metrics` from our own listener and read
//! the queue at scrape time, which prometheus-client does by encoding a registry into our
//! response (the facade's exporter wants its own listener or a global recorder handle); its
//! label sets are typed structs, so a label cannot be misspelt; and it writes OpenMetrics, the
//! format Prometheus asks for first.

mod health;
mod quota;
mod registry;
mod render;

pub use health::{poll_max_age, Health, HealthProbe};
pub use quota::{
    add_remaining_calls, month_of, project, watch_chat2desk_quota, MonthUsage, REPORTED_KEY,
};
pub use registry::{global, Direction, Outcome, Registry, Remote};
pub use render::{render, CONTENT_TYPE};

//! Metrics: counters and histograms recorded by the API clients, the webhook intake and the
//! worker, the worker's totals ([`Stats`]), and the page behind `/metrics`, rendered from
//! plain handles (the store, the totals, the health verdict).
//!
//! May import config, http and store.
//!
//! The metrics are `prometheus-client`, the Prometheus project's own Rust client, rather than
//! the `metrics` facade with its exporter: we serve `/metrics` from our own listener and read
//! the queue at scrape time, which prometheus-client does by encoding a registry into our
//! response (the facade's exporter wants its own listener or a global recorder handle); its
//! label sets are typed structs, so a label cannot be misspelt; and it writes OpenMetrics, the
//! format Prometheus asks for first.

mod quota;
mod registry;
mod render;
mod stats;

pub use quota::{month_of, project, MonthUsage, REPORTED_KEY};
pub use registry::{global, Direction, Outcome, Registry, Remote};
pub use render::{render, CONTENT_TYPE};
pub use stats::Stats;

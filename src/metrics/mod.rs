//! Metrics and health: counters and latency histograms recorded by the API clients and the
//! webhook intake, the health probe behind `/healthz`, and the Prometheus text format behind
//! `/metrics` (written by hand: a few counters do not need a crate).

mod health;
mod histogram;
mod registry;
mod render;
mod text;

pub use health::{Health, HealthProbe};
pub use histogram::Histogram;
pub use registry::{global, Outcome, Registry, Remote};
pub use render::render;
pub use text::Exposition;

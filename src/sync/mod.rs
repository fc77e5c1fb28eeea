//! The worker: claims due jobs from the queue and turns each closed request into a timeline
//! transcript on the right CRM entity, exactly once.

mod directory;
mod error;
mod fetch;
mod progress;
mod request;
pub mod single_flight;
mod stats;
mod worker;

pub use directory::{Directory, DEFAULT_WEB_URL};
pub use error::JobError;
pub use progress::Progress;
pub use request::sync_request;
pub use stats::Stats;
pub use worker::{Rules, Services, Worker, WorkerSettings, IDLE_POLL};

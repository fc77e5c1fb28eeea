//! The job machinery every flow shares: the worker loop that claims due jobs and runs each to
//! its end exactly once (leases kept while it runs, retries with capped backoff, dead jobs with
//! a reason), single flight per client, the checkpoint of a job's steps, the exactly-once
//! Chat2Desk send, the leader lease loop, the health probe, and the [`Inbox`] seam through which
//! intake hands bridged messages on. What each job kind does is its flow's; the app registers
//! them through [`Jobs`].
//!
//! May import config, http, store, metrics, chat2desk and portal; never a flow, the server or the
//! app.

mod error;
mod health;
mod inbox;
mod job;
mod leadership;
mod live;
pub mod recipient;
mod send_once;
pub mod single_flight;
mod watch;
mod worker;

pub use error::JobError;
pub use health::{poll_max_age, Health, HealthProbe};
pub use inbox::Inbox;
pub use job::{Job, KeyField, Registry, Steps};
pub use leadership::Leadership;
pub use live::Live;
pub use send_once::{refusal_text, send_once, Outcome, SendFailed, Sent, Stop};
pub use watch::Watch;
pub use worker::{Services, Worker, WorkerSettings, IDLE_POLL};

/// Saves a running job's progress after a remote write and extends its lease.
pub async fn checkpoint(
    services: &Services,
    job: &crate::store::Job,
    steps: &impl Steps,
    lease: std::time::Duration,
) -> Result<(), JobError> {
    let lease_until = chrono::Utc::now() + lease;
    services
        .store
        .save_steps(job.id, &steps.to_value(), lease_until)
        .await?;
    Ok(())
}

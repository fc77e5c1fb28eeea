//! The worker: claims due jobs from the queue and runs each to the end, exactly once: a
//! closed request becomes a timeline transcript on the right CRM entity ([`sync_request`]),
//! a business-process call becomes a Chat2Desk message ([`send_message`]).

mod directory;
mod error;
mod fetch;
mod line_close;
mod line_files;
mod line_in;
mod line_job;
mod line_look;
mod line_notice;
mod line_out;
mod progress;
mod request;
mod send;
mod send_once;
mod send_progress;
pub mod single_flight;
mod stats;
mod worker;
mod writes;

pub use crate::openlines::LineRules;
pub use directory::{Directory, DEFAULT_WEB_URL};
pub use error::JobError;
pub use line_close::{close_finished_session, enqueue_session_finish, SessionFinish};
pub use line_files::HOSTED_FILE_TTL;
pub use line_in::{deliver_to_line, enqueue_client_message, line_chain, ClientLineMessage};
pub use line_out::{deliver_to_client, enqueue_operator_replies, OperatorReply, PortalFile};
pub use progress::Progress;
pub use request::sync_request;
pub use send::{send_message, SendRules};
pub use send_progress::{Outcome, SendProgress};
pub use stats::Stats;
pub use worker::{Rules, Services, Worker, WorkerSettings, IDLE_POLL};

/// Saves a running job's progress after a remote write and extends its lease.
async fn checkpoint(
    services: &Services,
    job: &crate::store::Job,
    steps: &serde_json::Value,
    lease: std::time::Duration,
) -> Result<(), JobError> {
    let lease_until = chrono::Utc::now() + lease;
    services
        .store
        .save_steps(job.id, steps, lease_until)
        .await?;
    Ok(())
}

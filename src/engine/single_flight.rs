//! Single flight per client: the one place where every flow (transcripts now, sending and
//! Open Lines as they land) makes sure that at most one job at a time resolves or creates what
//! belongs to a client, so two requests of one person closed at the same moment make one lead,
//! one contact, one Chat2Desk client.
//!
//! The claim lives in the state database next to the queue ([`Store::try_claim_clients`]),
//! tied to the job's lease: a process killed in the middle leaves no lock behind once its
//! lease ends, and a second process (or node) sharing the database obeys the same rule.
//!
//! [`Store::try_claim_clients`]: crate::store::Store::try_claim_clients

use super::{JobError, Services};
use crate::store::{ClaimAttempt, ClientKey, Job};
use chrono::Utc;
use std::future::Future;
use std::time::{Duration, Instant};

/// How long a job waits for another job of its client before it gives its worker slot back
/// (the job is deferred, not failed, and tries again a moment later).
const WAIT: Duration = Duration::from_secs(30);
/// Pause between two looks at a held claim.
const POLL: Duration = Duration::from_millis(150);
/// How soon a deferred job is due again.
pub const DEFER: Duration = Duration::from_secs(1);

/// The keys a client is known by: its normalised phone (when it has a real one) and its
/// Chat2Desk client id (when known), in a fixed order.
pub fn client_keys(phone: Option<&str>, chat2desk_client: Option<i64>) -> Vec<ClientKey> {
    let mut keys: Vec<ClientKey> = phone
        .map(ClientKey::phone)
        .into_iter()
        .chain(chat2desk_client.map(ClientKey::chat2desk))
        .collect();
    keys.sort();
    keys
}

/// Runs `work` while `job` holds the claim on every key of its client. Waits (keeping the
/// job's own lease alive) while another job holds one of them; after [`WAIT`] the job is
/// handed back with [`JobError::Busy`]. The claim is released when `work` ends, whatever
/// its result; `work` should save what it resolved with
/// [`Store::save_client_records`](crate::store::Store::save_client_records) before that.
pub async fn for_client<T, F, Fut>(
    services: &Services,
    job: &Job,
    keys: &[ClientKey],
    lease: Duration,
    work: F,
) -> Result<T, JobError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, JobError>>,
{
    if keys.is_empty() {
        return work().await;
    }
    claim(services, job, keys, lease).await?;
    let result = work().await;
    if let Err(e) = services.store.release_clients(job.id).await {
        // Harmless: the claim ends with the job's lease anyway.
        tracing::warn!(job_id = job.id, error = %e, "Cannot release the client's claim");
    }
    result
}

/// Takes the claim, waiting for the job that holds it.
async fn claim(
    services: &Services,
    job: &Job,
    keys: &[ClientKey],
    lease: Duration,
) -> Result<(), JobError> {
    let store = &services.store;
    let started = Instant::now();
    let mut lease_renewed = Instant::now();
    let mut logged = false;
    loop {
        let holder = match store.try_claim_clients(job.id, keys, Utc::now()).await? {
            ClaimAttempt::Taken => return Ok(()),
            ClaimAttempt::HeldBy(holder) => holder,
        };
        if !logged {
            tracing::debug!(
                job_id = job.id,
                key = job.key,
                holder,
                "Waiting for another job of the same client"
            );
            logged = true;
        }
        if started.elapsed() >= WAIT {
            return Err(JobError::Busy(format!(
                "the client is being resolved by job {holder}; waiting for it"
            )));
        }
        if lease_renewed.elapsed() >= lease / 3 {
            if !store.extend_lease(job.id, Utc::now() + lease).await? {
                return Err(JobError::Busy(
                    "the job's lease ran out while it waited for its client".into(),
                ));
            }
            lease_renewed = Instant::now();
        }
        tokio::time::sleep(POLL).await;
    }
}

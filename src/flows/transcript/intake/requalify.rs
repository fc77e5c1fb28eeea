//! A request a `[crm.filter]` rule kept out runs again when its tags change: the job is
//! done with the rule in its steps, and a re-run decides anew (a tag added after the close).

use crate::engine::{Services, Steps};
use crate::flows::transcript::Progress;
use crate::store::{JobKind, JobState};

/// Makes the transcript job of `request_id` due again when a rule had kept it out; returns
/// the webhook outcome label: `requeued`, `ignored` (no such skipped job) or `unavailable`.
pub async fn requalify(services: &Services, request_id: i64) -> &'static str {
    let store = &services.store;
    let job = match store.job(JobKind::TRANSCRIPT, request_id).await {
        Ok(job) => job,
        Err(e) => {
            tracing::warn!(request_id, error = %e, hint = e.hint(), "Could not look at a skipped request after its tags changed");
            return "unavailable";
        }
    };
    let skipped = job
        .filter(|j| j.state == JobState::Done)
        .and_then(|j| <Progress as Steps>::of(&j).skipped);
    let Some(rule) = skipped else {
        return "ignored";
    };
    match store.retry(JobKind::TRANSCRIPT, request_id).await {
        Ok(_) => {
            tracing::info!(request_id, was = %rule, "Request's tags changed: the request a rule kept out is checked again");
            "requeued"
        }
        Err(e) => {
            tracing::warn!(request_id, error = %e, hint = e.hint(), "Could not queue a skipped request again after its tags changed");
            "unavailable"
        }
    }
}

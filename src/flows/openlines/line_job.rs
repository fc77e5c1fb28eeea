//! What both Open Lines job kinds (`line_in`, `line_out`) start with: the stored message
//! behind the job, and the local application's client.

use crate::engine::{JobError, Services};
use crate::portal::AppClient;
use crate::store::Job;
use serde::de::DeserializeOwned;

/// The `line_messages` payload of line job `job`, read as `T`; `what` names it in the error.
pub(super) async fn stored<T: DeserializeOwned>(
    services: &Services,
    job: &Job,
    what: &str,
) -> Result<T, JobError> {
    services
        .store
        .line_message(job.key)
        .await?
        .and_then(|v| serde_json::from_value(v).ok())
        .ok_or_else(|| {
            JobError::Permanent(format!(
                "line message {}: its stored {what} is missing or unreadable (table line_messages)",
                job.key
            ))
        })
}

/// The local application's client, which every Open Lines call needs.
pub(super) fn app(services: &Services) -> Result<&AppClient, JobError> {
    services.app.as_ref().ok_or_else(|| {
        JobError::Permanent(
            "[bitrix24.app] is not configured: Open Lines need the local application".into(),
        )
    })
}

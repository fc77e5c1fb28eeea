//! How a failed job is classified: retry later, or give up with a reason.

use crate::chat2desk::Chat2DeskError;
use crate::portal::BitrixError;
use crate::store::StoreError;

/// Why a job did not finish.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Worth another attempt (network, 5xx, rate limits, database busy).
    #[error("{0}")]
    Transient(String),
    /// Will fail again until a person fixes something; the text says what.
    #[error("{0}")]
    Permanent(String),
    /// Could not start yet: another job holds the client (single flight). Not an attempt.
    #[error("{0}")]
    Busy(String),
}

impl JobError {
    /// True for [`JobError::Permanent`].
    pub fn is_permanent(&self) -> bool {
        matches!(self, JobError::Permanent(_))
    }
}

impl From<Chat2DeskError> for JobError {
    fn from(e: Chat2DeskError) -> Self {
        let text = format!("Chat2Desk: {e} ({})", e.hint());
        if e.is_transient() {
            JobError::Transient(text)
        } else {
            JobError::Permanent(text)
        }
    }
}

impl From<BitrixError> for JobError {
    fn from(e: BitrixError) -> Self {
        let text = format!("Bitrix24: {e} ({})", e.hint());
        if e.is_transient() {
            JobError::Transient(text)
        } else {
            JobError::Permanent(text)
        }
    }
}

impl From<StoreError> for JobError {
    fn from(e: StoreError) -> Self {
        JobError::Transient(format!("state database: {e}"))
    }
}

//! What a send job has already done, saved after every remote write.

use crate::engine::{Outcome, Steps};
use serde::{Deserialize, Serialize};

/// The finished steps of one send job (stored as JSON in the job row).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SendProgress {
    /// The Chat2Desk client, once found or created.
    pub client_id: Option<i64>,
    /// The client's transports on the channel, read before the intent (so a re-run builds
    /// the same message).
    pub client_transports: Option<Vec<String>>,
    /// When `POST /messages` was about to be sent (unix ms): a re-run looks for the
    /// message before sending again.
    pub intent_at: Option<i64>,
    /// The result, once known.
    pub outcome: Option<Outcome>,
    /// The timeline comment of a refusal.
    pub comment_id: Option<i64>,
    /// True once the responsible was notified of a refusal.
    pub notified: bool,
    /// True once `bizproc.event.send` was answered (or refused for good).
    pub reported: bool,
    /// Why the portal refused the result for good (`ACCESS_DENIED`), if it did.
    pub report_error: Option<String>,
}

impl Steps for SendProgress {}

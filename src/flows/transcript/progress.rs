//! What a job has already done, saved after every remote write so a retry never redoes it.

use crate::engine::Steps;
use crate::portal::crm::{EntityRef, Reopen};
use serde::{Deserialize, Serialize};

/// The finished steps of one transcript job (stored as JSON in the job row).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Progress {
    /// The entity the transcript goes to, once found or created.
    pub entity: Option<EntityRef>,
    /// A closed lead to reopen for this request (saved before it is reopened), until its
    /// responsible was notified.
    pub reopen: Option<Reopen>,
    /// True once the lead of `reopen` was put back to `NEW` (the intent, `reopen`, is saved
    /// before the update).
    pub reopen_done: bool,
    /// True once the reopen notification was sent.
    pub notified: bool,
    /// Parts (1-based) already on the timeline.
    pub parts_written: Vec<usize>,
    /// Ids of the comments written.
    pub comment_ids: Vec<i64>,
    /// Number of parts the transcript has.
    pub parts_total: usize,
    /// The `[crm.filter]` rule that kept the request out (nothing was written), in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

impl Steps for Progress {}

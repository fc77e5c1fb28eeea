//! Transcripts a `[crm.filter]` rule kept out (done, with the rule in `steps.skipped`), for
//! `status`.

use super::{Job, Store, StoreError};

impl Store {
    /// The transcript jobs a rule skipped, most recent first, at most `limit`.
    pub async fn skipped(&self, limit: usize) -> Result<Vec<Job>, StoreError> {
        self.select(
            "skipped jobs",
            "SELECT * FROM jobs WHERE kind = 'transcript' AND state = 'done' \
             AND steps LIKE '%\"skipped\":%' ORDER BY updated_at DESC, id DESC LIMIT ?",
            limit,
        )
        .await
    }
}

//! Status queries: one job, the counts per state, the oldest pending and next due job, recent
//! errors and the dead jobs.

use chrono::{DateTime, Utc};

use crate::store::with_pool;
use crate::store::{Job, JobKind, JobState, QueueCounts, Store, StoreError};

impl Store {
    /// The job identified by `kind` and `key`, if any.
    pub async fn job(&self, kind: JobKind, key: i64) -> Result<Option<Job>, StoreError> {
        let fail = self.err_of("job");
        with_pool!(self, pool, _sql => {
            let row = sqlx::query("SELECT * FROM jobs WHERE kind = ? AND job_key = ?")
                .bind(kind.as_str())
                .bind(key)
                .fetch_optional(pool)
                .await
                .map_err(&fail)?;
            row.as_ref()
                .map(Job::from_row)
                .transpose()
                .map_err(self.err_of("job"))
        })
    }

    /// Number of jobs in each state.
    pub async fn counts(&self) -> Result<QueueCounts, StoreError> {
        let fail = self.err_of("counts");
        let rows: Vec<(String, i64)> = with_pool!(self, pool, _sql => {
            sqlx::query_as("SELECT state, COUNT(*) FROM jobs GROUP BY state")
                .fetch_all(pool)
                .await
                .map_err(&fail)?
        });
        let mut counts = QueueCounts::default();
        for (state, n) in rows {
            let n = u64::try_from(n).unwrap_or(0);
            match JobState::parse(&state) {
                Some(JobState::Pending) => counts.pending = n,
                Some(JobState::Running) => counts.running = n,
                Some(JobState::Done) => counts.done = n,
                Some(JobState::Dead) => counts.dead = n,
                // The CHECK constraint keeps other values out.
                None => {}
            }
        }
        Ok(counts)
    }

    /// When the oldest pending job was enqueued (queue lag for status and metrics).
    pub async fn oldest_pending(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.min_time(
            "oldest_pending",
            "SELECT MIN(created_at) FROM jobs WHERE state = 'pending'",
        )
        .await
    }

    /// The next moment a job becomes claimable: the earliest `next_attempt_at` of a pending
    /// job or `lease_until` of a running one. The worker sleeps until then (or new work).
    pub async fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.min_time(
            "next_due",
            "SELECT MIN(t) FROM ( \
                 SELECT MIN(next_attempt_at) AS t FROM jobs WHERE state = 'pending' \
                 UNION ALL \
                 SELECT MIN(lease_until) AS t FROM jobs WHERE state = 'running') AS due",
        )
        .await
    }

    /// Unfinished jobs (pending, running or dead) that have an error, most recently updated
    /// first.
    pub async fn recent_errors(&self, limit: usize) -> Result<Vec<Job>, StoreError> {
        self.select(
            "recent_errors",
            "SELECT * FROM jobs WHERE last_error IS NOT NULL AND state <> 'done' \
             ORDER BY updated_at DESC, id DESC LIMIT ?",
            limit,
        )
        .await
    }

    /// Dead jobs, most recently buried first.
    pub async fn dead(&self, limit: usize) -> Result<Vec<Job>, StoreError> {
        self.select(
            "dead",
            "SELECT * FROM jobs WHERE state = 'dead' ORDER BY updated_at DESC, id DESC LIMIT ?",
            limit,
        )
        .await
    }
}

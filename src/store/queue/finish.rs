//! Ending a run: done, failed (retry later), deferred, buried as dead; and the operator's
//! retries of one job or of every dead job.

use chrono::{DateTime, Utc};

use crate::store::job::to_millis;
use crate::store::with_pool;
use crate::store::{JobKind, Store, StoreError};

impl Store {
    /// Marks a running job done with its final progress.
    pub async fn complete(&self, id: i64, steps: &serde_json::Value) -> Result<(), StoreError> {
        let args = vec![
            steps.to_string().into(),
            to_millis(Utc::now()).into(),
            id.into(),
            self.node().into(),
        ];
        self.change(
            "complete",
            id,
            "running",
            "UPDATE jobs SET state = 'done', steps = ?, lease_until = NULL, updated_at = ? \
             WHERE id = ? AND state = 'running' AND node = ?",
            args,
        )
        .await
    }

    /// Records a failed run: `attempts + 1`, back to pending until `next_attempt_at`.
    pub async fn fail(
        &self,
        id: i64,
        error: &str,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let args = vec![
            error.into(),
            to_millis(next_attempt_at).into(),
            to_millis(Utc::now()).into(),
            id.into(),
            self.node().into(),
        ];
        self.change(
            "fail",
            id,
            "running",
            "UPDATE jobs SET state = 'pending', attempts = attempts + 1, last_error = ?, \
                 next_attempt_at = ?, lease_until = NULL, updated_at = ? \
             WHERE id = ? AND state = 'running' AND node = ?",
            args,
        )
        .await
    }

    /// Puts a running job back to pending until `next_attempt_at` without counting an
    /// attempt: it could not start its work yet (its client is busy with another job).
    pub async fn defer(
        &self,
        id: i64,
        reason: &str,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let args = vec![
            reason.into(),
            to_millis(next_attempt_at).into(),
            to_millis(Utc::now()).into(),
            id.into(),
            self.node().into(),
        ];
        self.change(
            "defer",
            id,
            "running",
            "UPDATE jobs SET state = 'pending', last_error = ?, next_attempt_at = ?, \
                 lease_until = NULL, updated_at = ? \
             WHERE id = ? AND state = 'running' AND node = ?",
            args,
        )
        .await
    }

    /// Gives up on a pending job, or a running one of this node: dead, with `reason` as its
    /// last error.
    pub async fn bury(&self, id: i64, reason: &str) -> Result<(), StoreError> {
        let args = vec![
            reason.into(),
            to_millis(Utc::now()).into(),
            id.into(),
            self.node().into(),
        ];
        self.change(
            "bury",
            id,
            "pending or running",
            "UPDATE jobs SET state = 'dead', last_error = ?, lease_until = NULL, updated_at = ? \
             WHERE id = ? AND (state = 'pending' OR (state = 'running' AND node = ?))",
            args,
        )
        .await
    }

    /// Makes a job due now with a clean slate (`attempts` 0, no last error); false when no
    /// such job exists. Dead and pending jobs keep their steps (finished steps are not
    /// redone); a done job's steps are cleared so it really runs again (the comment marker
    /// still prevents a duplicate comment). A running job is left to its worker (returns
    /// true).
    pub async fn retry(&self, kind: JobKind, key: i64) -> Result<bool, StoreError> {
        let fail = self.err_of("retry");
        let now = to_millis(Utc::now());
        with_pool!(self, pool, _sql => {
            let changed = sqlx::query(
                "UPDATE jobs SET steps = CASE state WHEN 'done' THEN '{}' ELSE steps END, \
                     state = 'pending', attempts = 0, next_attempt_at = ?, \
                     last_error = NULL, lease_until = NULL, updated_at = ? \
                 WHERE kind = ? AND job_key = ? AND state <> 'running'",
            )
            .bind(now)
            .bind(now)
            .bind(kind.as_str())
            .bind(key)
            .execute(pool)
            .await
            .map_err(&fail)?
            .rows_affected();
            if changed > 0 {
                return Ok(true);
            }
            let exists: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE kind = ? AND job_key = ?")
                    .bind(kind.as_str())
                    .bind(key)
                    .fetch_one(pool)
                    .await
                    .map_err(&fail)?;
            Ok(exists > 0)
        })
    }

    /// Makes every dead job pending and due now (`attempts` 0, steps kept); returns how many.
    pub async fn retry_dead(&self) -> Result<u64, StoreError> {
        let now = to_millis(Utc::now());
        let fail = self.err_of("retry_dead");
        Ok(with_pool!(self, pool, _sql => {
            sqlx::query(
                "UPDATE jobs SET state = 'pending', attempts = 0, next_attempt_at = ?, \
                     last_error = NULL, updated_at = ? \
                 WHERE state = 'dead'",
            )
            .bind(now)
            .bind(now)
            .execute(pool)
            .await
            .map_err(&fail)?
            .rows_affected()
        }))
    }
}

//! Claiming jobs with a lease: the batch claim and the single claim, checkpoints, lease
//! renewals, and taking back at start-up the jobs this node left running.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::store::job::to_millis;
use crate::store::with_pool;
use crate::store::{Job, JobKind, Store, StoreError};

use super::{limit_param, placeholders, CHAIN_HEAD, SAVE_STEPS};

impl Store {
    /// Atomically takes up to `limit` jobs that are due at `now` for this node: pending ones
    /// whose `next_attempt_at <= now`, and running ones whose lease ended before `now` (their
    /// worker or node died), skipping a job while an earlier job of its chain is unfinished.
    /// Earliest due first. They become running on this node with
    /// `lease_until = now + lease` and `runs + 1`. Jobs another node is claiming at the same
    /// moment are skipped, never shared.
    pub async fn claim(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Job>, StoreError> {
        let lease = chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
        let lease_until = to_millis(
            now.checked_add_signed(lease)
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
        );
        let fail = self.err_of("claim");
        let mut jobs = match &self.pool {
            crate::store::Pool::Sqlite(pool) => {
                let rows = sqlx::query(&format!(
                    "UPDATE jobs SET state = 'running', lease_until = ?, runs = runs + 1, \
                         node = ?, updated_at = ? \
                     WHERE id IN ( \
                         SELECT id FROM jobs AS j \
                         WHERE ((state = 'pending' AND next_attempt_at <= ?) \
                            OR (state = 'running' AND lease_until < ?)) \
                           AND {CHAIN_HEAD} \
                         ORDER BY CASE state WHEN 'pending' THEN next_attempt_at ELSE lease_until END, id \
                         LIMIT ?) \
                     RETURNING *"
                ))
                .bind(lease_until)
                .bind(self.node())
                .bind(to_millis(Utc::now()))
                .bind(to_millis(now))
                .bind(to_millis(now))
                .bind(limit_param(limit))
                .fetch_all(pool)
                .await
                .map_err(&fail)?;
                self.jobs("claim", &rows)?
            }
            crate::store::Pool::MySql(pool) => {
                let mut tx = pool.begin().await.map_err(&fail)?;
                // Two index-ordered scans (no filesort), so each locks only the rows it
                // returns; rows locked by another node's claim are skipped. The chain test
                // reads committed rows without locking them: a chain's head that another
                // node is claiming still counts as unfinished.
                let mut due: Vec<(i64, i64)> = sqlx::query_as(&format!(
                    "SELECT next_attempt_at, id FROM jobs AS j \
                     WHERE state = 'pending' AND next_attempt_at <= ? AND {CHAIN_HEAD} \
                     ORDER BY next_attempt_at, id LIMIT ? FOR UPDATE SKIP LOCKED"
                ))
                .bind(to_millis(now))
                .bind(limit_param(limit))
                .fetch_all(&mut *tx)
                .await
                .map_err(&fail)?;
                let expired: Vec<(i64, i64)> = sqlx::query_as(&format!(
                    "SELECT lease_until, id FROM jobs AS j \
                     WHERE state = 'running' AND lease_until < ? AND {CHAIN_HEAD} \
                     ORDER BY lease_until, id LIMIT ? FOR UPDATE SKIP LOCKED"
                ))
                .bind(to_millis(now))
                .bind(limit_param(limit))
                .fetch_all(&mut *tx)
                .await
                .map_err(&fail)?;
                due.extend(expired);
                due.sort();
                due.truncate(limit);
                if due.is_empty() {
                    tx.commit().await.map_err(&fail)?;
                    return Ok(Vec::new());
                }
                let ids: Vec<i64> = due.into_iter().map(|(_, id)| id).collect();
                let update = format!(
                    "UPDATE jobs SET state = 'running', lease_until = ?, runs = runs + 1, \
                         node = ?, updated_at = ? WHERE id IN ({})",
                    placeholders(ids.len())
                );
                let mut query = sqlx::query(&update)
                    .bind(lease_until)
                    .bind(self.node())
                    .bind(to_millis(Utc::now()));
                for id in &ids {
                    query = query.bind(id);
                }
                query.execute(&mut *tx).await.map_err(&fail)?;
                let select = format!(
                    "SELECT * FROM jobs WHERE id IN ({})",
                    placeholders(ids.len())
                );
                let mut query = sqlx::query(&select);
                for id in &ids {
                    query = query.bind(id);
                }
                let rows = query.fetch_all(&mut *tx).await.map_err(&fail)?;
                tx.commit().await.map_err(&fail)?;
                self.jobs("claim", &rows)?
            }
        };
        // RETURNING (and IN) have no defined order.
        jobs.sort_by_key(|job| (job.next_attempt_at, job.id));
        Ok(jobs)
    }

    /// Takes the job `kind`/`key` when it is due (pending and due, or running with an
    /// expired lease), like [`Store::claim`] for one job; `None` when it is not claimable
    /// (another worker holds it, it is done or dead, or it backs off).
    pub async fn claim_one(
        &self,
        kind: JobKind,
        key: i64,
        lease: Duration,
    ) -> Result<Option<Job>, StoreError> {
        let now = Utc::now();
        let lease = chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
        let lease_until = now
            .checked_add_signed(lease)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let (lease_until, now) = (to_millis(lease_until), to_millis(now));
        let fail = self.err_of("claim_one");
        let row = match &self.pool {
            crate::store::Pool::Sqlite(pool) => sqlx::query(
                "UPDATE jobs SET state = 'running', lease_until = ?, runs = runs + 1, node = ?, \
                     updated_at = ? \
                 WHERE kind = ? AND job_key = ? \
                   AND ((state = 'pending' AND next_attempt_at <= ?) \
                     OR (state = 'running' AND lease_until < ?)) \
                 RETURNING *",
            )
            .bind(lease_until)
            .bind(self.node())
            .bind(now)
            .bind(kind.as_str())
            .bind(key)
            .bind(now)
            .bind(now)
            .fetch_optional(pool)
            .await
            .map_err(&fail)?
            .map(|row| Job::from_row(&row))
            .transpose()
            .map_err(self.err_of("claim_one"))?,
            crate::store::Pool::MySql(pool) => {
                let mut tx = pool.begin().await.map_err(&fail)?;
                let id: Option<i64> = sqlx::query_scalar(
                    "SELECT id FROM jobs WHERE kind = ? AND job_key = ? \
                       AND ((state = 'pending' AND next_attempt_at <= ?) \
                         OR (state = 'running' AND lease_until < ?)) \
                     FOR UPDATE SKIP LOCKED",
                )
                .bind(kind.as_str())
                .bind(key)
                .bind(now)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await
                .map_err(&fail)?;
                let mut job = None;
                if let Some(id) = id {
                    sqlx::query(
                        "UPDATE jobs SET state = 'running', lease_until = ?, runs = runs + 1, \
                             node = ?, updated_at = ? WHERE id = ?",
                    )
                    .bind(lease_until)
                    .bind(self.node())
                    .bind(now)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(&fail)?;
                    let row = sqlx::query("SELECT * FROM jobs WHERE id = ?")
                        .bind(id)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(&fail)?;
                    job = Some(Job::from_row(&row).map_err(self.err_of("claim_one"))?);
                }
                tx.commit().await.map_err(&fail)?;
                job
            }
        };
        Ok(row)
    }

    /// Checkpoints a running job's progress and extends its lease to `lease_until`.
    pub async fn save_steps(
        &self,
        id: i64,
        steps: &serde_json::Value,
        lease_until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let args = vec![
            steps.to_string().into(),
            to_millis(lease_until).into(),
            to_millis(Utc::now()).into(),
            id.into(),
            self.node().into(),
        ];
        self.change("save_steps", id, "running", SAVE_STEPS, args)
            .await
    }

    /// Extends the lease of a running job of this node; false when the job is no longer
    /// this node's (finished, or its lease ran out and another node took it over).
    pub async fn extend_lease(
        &self,
        job_id: i64,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let fail = self.err_of("extend lease");
        let changed = with_pool!(self, pool, _sql => {
            sqlx::query(
                "UPDATE jobs SET lease_until = ? WHERE id = ? AND state = 'running' AND node = ?",
            )
            .bind(to_millis(lease_until))
            .bind(job_id)
            .bind(self.node())
            .execute(pool)
            .await
            .map_err(&fail)?
            .rows_affected()
        });
        Ok(changed > 0)
    }

    /// Makes every job this node left running pending and due now, keeping its steps and its
    /// run count (so the next run knows an earlier one may have written and checks the
    /// portal first). Called at start-up: a job left running by this node's name belongs to
    /// a process that died, so a restarted node takes its jobs back at once; other nodes'
    /// jobs are left to their leases. Rows from before node names (NULL) count as this
    /// node's. Returns how many jobs were recovered.
    pub async fn recover_running(&self) -> Result<u64, StoreError> {
        let now = to_millis(Utc::now());
        let fail = self.err_of("recover running jobs");
        Ok(with_pool!(self, pool, _sql => {
            sqlx::query(
                "UPDATE jobs SET state = 'pending', next_attempt_at = ?, lease_until = NULL, \
                     updated_at = ? WHERE state = 'running' AND (node = ? OR node IS NULL)",
            )
            .bind(now)
            .bind(now)
            .bind(self.node())
            .execute(pool)
            .await
            .map_err(&fail)?
            .rows_affected()
        }))
    }
}

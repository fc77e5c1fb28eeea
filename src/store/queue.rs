//! The job queue: enqueue, claim with a lease, checkpoint, finish, retry, and status queries.
//!
//! A running job belongs to the node that claimed it (`jobs.node`): checkpoints, lease
//! renewals and the final transition all name the node, so a node whose lease ran out and
//! was taken over can no longer write to the job.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::error::Cause;
use super::job::{from_millis, to_millis};
use super::{bind_args, with_pool, Arg, WritePool};
use super::{Intake, Job, JobKind, JobState, QueueCounts, Store, StoreError};

/// Checkpoints a running job: steps, lease end, now, job id, node.
pub(super) const SAVE_STEPS: &str = "UPDATE jobs SET steps = ?, lease_until = ?, updated_at = ? \
     WHERE id = ? AND state = 'running' AND node = ?";

/// Inserts a pending job per key (due now) on the connection `$conn` with the dialect
/// `$sql`, in `$chain` (an `Option<&str>`, see [`Store::enqueue_in_chain`]), leaving existing
/// ones untouched; evaluates to how many were new.
macro_rules! insert_jobs {
    ($conn:expr, $sql:expr, $kind:expr, $keys:expr, $intake:expr) => {
        insert_jobs!($conn, $sql, $kind, $keys, $intake, None::<&str>)
    };
    ($conn:expr, $sql:expr, $kind:expr, $keys:expr, $intake:expr, $chain:expr) => {
        async {
            let now = $crate::store::job::to_millis(chrono::Utc::now());
            let mut inserted: u64 = 0;
            for &key in $keys {
                inserted += sqlx::query($sql.insert_job)
                    .bind($kind.as_str())
                    .bind(key)
                    .bind(now)
                    .bind($intake.as_str())
                    .bind(now)
                    .bind(now)
                    .bind($chain)
                    .execute(&mut *$conn)
                    .await?
                    .rows_affected();
            }
            Ok::<u64, sqlx::Error>(inserted)
        }
    };
}
pub(super) use insert_jobs;

/// A job `j` that is not waiting for an earlier, unfinished job of its chain (earlier: a
/// smaller `chain_seq`, or the same and a smaller id).
const CHAIN_HEAD: &str = "(j.chain IS NULL OR NOT EXISTS (SELECT 1 FROM jobs AS e \
     WHERE e.chain = j.chain AND e.state IN ('pending', 'running') \
     AND (e.chain_seq < j.chain_seq OR (e.chain_seq = j.chain_seq AND e.id < j.id))))";

/// A `LIMIT` bind value.
fn limit_param(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// `?, ?, ?` for an `IN (…)` list of `n` values.
fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

impl Store {
    /// Adds a pending job due now. True when the row is new; an existing job (in any state)
    /// is left untouched, so repeated intake of the same request is harmless.
    pub async fn enqueue(
        &self,
        kind: JobKind,
        key: i64,
        intake: Intake,
    ) -> Result<bool, StoreError> {
        let fail = self.err_of("enqueue");
        let inserted = with_pool!(self, pool, sql => {
            let mut conn = pool.acquire().await.map_err(&fail)?;
            insert_jobs!(conn, sql, kind, &[key], intake).await
        })
        .map_err(&fail)?;
        Ok(inserted == 1)
    }

    /// Adds a pending job due now to `chain`: it runs after every earlier job of the chain
    /// has finished (done or dead). True when the row is new.
    pub async fn enqueue_in_chain(
        &self,
        kind: JobKind,
        key: i64,
        intake: Intake,
        chain: &str,
    ) -> Result<bool, StoreError> {
        let fail = self.err_of("enqueue in chain");
        let inserted = with_pool!(self, pool, sql => {
            let mut conn = pool.acquire().await.map_err(&fail)?;
            insert_jobs!(conn, sql, kind, &[key], intake, Some(chain)).await
        })
        .map_err(&fail)?;
        Ok(inserted == 1)
    }

    /// Enqueues every key in one transaction (all or nothing); returns the rows inserted.
    pub async fn enqueue_many(
        &self,
        kind: JobKind,
        keys: &[i64],
        intake: Intake,
    ) -> Result<u64, StoreError> {
        let fail = self.err_of("enqueue_many");
        with_pool!(self, pool, sql => {
            let mut tx = pool.begin_write().await.map_err(&fail)?;
            let inserted = insert_jobs!(tx, sql, kind, keys, intake)
                .await
                .map_err(&fail)?;
            tx.commit().await.map_err(&fail)?;
            Ok(inserted)
        })
    }

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
            super::Pool::Sqlite(pool) => {
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
            super::Pool::MySql(pool) => {
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
            super::Pool::Sqlite(pool) => sqlx::query(
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
            super::Pool::MySql(pool) => {
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

    /// Runs a single-row update of job `id`; no row changed means the job is missing, not in
    /// the `expected` state, or not this node's.
    async fn change(
        &self,
        operation: &'static str,
        id: i64,
        expected: &'static str,
        sql: &'static str,
        args: Vec<Arg>,
    ) -> Result<(), StoreError> {
        let fail = self.err_of(operation);
        let changed = with_pool!(self, pool, _sql => {
            bind_args!(sqlx::query(sql), args)
                .execute(pool)
                .await
                .map_err(&fail)?
                .rows_affected()
        });
        if changed == 0 {
            return Err(self.err_of(operation)(Cause::WrongState { id, expected }));
        }
        Ok(())
    }

    /// Runs a `SELECT *` of jobs with one `LIMIT ?` parameter.
    pub(super) async fn select(
        &self,
        operation: &'static str,
        sql: &'static str,
        limit: usize,
    ) -> Result<Vec<Job>, StoreError> {
        let fail = self.err_of(operation);
        with_pool!(self, pool, _sql => {
            let rows = sqlx::query(sql)
                .bind(limit_param(limit))
                .fetch_all(pool)
                .await
                .map_err(&fail)?;
            self.jobs(operation, &rows)
        })
    }

    /// Runs a query returning one nullable millisecond time.
    pub(super) async fn min_time(
        &self,
        operation: &'static str,
        sql: &'static str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let fail = self.err_of(operation);
        let millis: Option<i64> = with_pool!(self, pool, _sql => {
            sqlx::query_scalar(sql).fetch_one(pool).await.map_err(&fail)?
        });
        Ok(millis.map(from_millis))
    }

    /// Reads job rows of either backend.
    fn jobs<R>(&self, operation: &'static str, rows: &[R]) -> Result<Vec<Job>, StoreError>
    where
        R: sqlx::Row,
        for<'a> &'a str: sqlx::ColumnIndex<R>,
        for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
        for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    {
        rows.iter()
            .map(|row| Job::from_row(row).map_err(self.err_of(operation)))
            .collect()
    }
}

//! The job queue: enqueue, claim with a lease, checkpoint, finish, retry, and status queries.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::SqliteConnection;

use super::error::Cause;
use super::job::{from_millis, to_millis};
use super::{Intake, Job, JobKind, JobState, QueueCounts, Store, StoreError};

/// Checkpoints a running job: `?1` steps, `?2` lease end, `?3` now, `?4` job id.
pub(super) const SAVE_STEPS: &str =
    "UPDATE jobs SET steps = ?1, lease_until = ?2, updated_at = ?3 \
     WHERE id = ?4 AND state = 'running'";

const INSERT_JOB: &str = "INSERT INTO jobs \
     (kind, job_key, state, next_attempt_at, intake, created_at, updated_at, chain) \
     VALUES (?1, ?2, 'pending', ?3, ?4, ?3, ?3, ?5) \
     ON CONFLICT (kind, job_key) DO NOTHING";

/// Inserts a pending job per key (due now) on `conn`, leaving existing ones untouched;
/// returns how many were new.
pub(super) async fn insert_jobs(
    conn: &mut SqliteConnection,
    kind: JobKind,
    keys: &[i64],
    intake: Intake,
) -> Result<u64, sqlx::Error> {
    insert_chained(conn, kind, keys, intake, None).await
}

/// [`insert_jobs`] into `chain` (see [`Store::enqueue_in_chain`]).
pub(super) async fn insert_chained(
    conn: &mut SqliteConnection,
    kind: JobKind,
    keys: &[i64],
    intake: Intake,
    chain: Option<&str>,
) -> Result<u64, sqlx::Error> {
    let now = to_millis(Utc::now());
    let mut inserted = 0;
    for &key in keys {
        inserted += sqlx::query(INSERT_JOB)
            .bind(kind.as_str())
            .bind(key)
            .bind(now)
            .bind(intake.as_str())
            .bind(chain)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    }
    Ok(inserted)
}

/// A `LIMIT` bind value.
fn limit_param(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
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
        let mut conn = self.pool.acquire().await.map_err(self.err_of("enqueue"))?;
        let inserted = insert_jobs(&mut conn, kind, &[key], intake)
            .await
            .map_err(self.err_of("enqueue"))?;
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
        let mut conn = self.pool.acquire().await.map_err(&fail)?;
        let inserted = insert_chained(&mut conn, kind, &[key], intake, Some(chain))
            .await
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
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(&fail)?;
        let inserted = insert_jobs(&mut tx, kind, keys, intake)
            .await
            .map_err(&fail)?;
        tx.commit().await.map_err(&fail)?;
        Ok(inserted)
    }

    /// Atomically takes up to `limit` jobs that are due at `now`: pending ones whose
    /// `next_attempt_at <= now`, and running ones whose lease ended before `now` (their worker
    /// crashed), skipping a job while an earlier job of its chain is unfinished. Earliest due
    /// first. They become running with `lease_until = now + lease` and
    /// `runs + 1`.
    pub async fn claim(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Job>, StoreError> {
        let lease = chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
        let lease_until = now
            .checked_add_signed(lease)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let rows = sqlx::query(
            "UPDATE jobs SET state = 'running', lease_until = ?1, runs = runs + 1, updated_at = ?2 \
             WHERE id IN ( \
                 SELECT id FROM jobs AS j \
                 WHERE ((state = 'pending' AND next_attempt_at <= ?3) \
                    OR (state = 'running' AND lease_until < ?3)) \
                   AND (chain IS NULL OR NOT EXISTS ( \
                       SELECT 1 FROM jobs AS e WHERE e.chain = j.chain AND e.id < j.id \
                         AND e.state IN ('pending', 'running'))) \
                 ORDER BY CASE state WHEN 'pending' THEN next_attempt_at ELSE lease_until END, id \
                 LIMIT ?4) \
             RETURNING *",
        )
        .bind(to_millis(lease_until))
        .bind(to_millis(Utc::now()))
        .bind(to_millis(now))
        .bind(limit_param(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(self.err_of("claim"))?;
        let mut jobs = self.jobs("claim", &rows)?;
        // RETURNING has no defined order.
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
        let row = sqlx::query(
            "UPDATE jobs SET state = 'running', lease_until = ?1, runs = runs + 1, updated_at = ?2 \
             WHERE kind = ?3 AND job_key = ?4 \
               AND ((state = 'pending' AND next_attempt_at <= ?2) \
                 OR (state = 'running' AND lease_until < ?2)) \
             RETURNING *",
        )
        .bind(to_millis(lease_until))
        .bind(to_millis(now))
        .bind(kind.as_str())
        .bind(key)
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err_of("claim_one"))?;
        row.as_ref()
            .map(Job::from_row)
            .transpose()
            .map_err(self.err_of("claim_one"))
    }

    /// Checkpoints a running job's progress and extends its lease to `lease_until`.
    pub async fn save_steps(
        &self,
        id: i64,
        steps: &serde_json::Value,
        lease_until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let query = sqlx::query(SAVE_STEPS)
            .bind(steps.to_string())
            .bind(to_millis(lease_until))
            .bind(to_millis(Utc::now()))
            .bind(id);
        self.change("save_steps", id, "running", query).await
    }

    /// Marks a running job done with its final progress.
    pub async fn complete(&self, id: i64, steps: &serde_json::Value) -> Result<(), StoreError> {
        let query = sqlx::query(
            "UPDATE jobs SET state = 'done', steps = ?1, lease_until = NULL, updated_at = ?2 \
             WHERE id = ?3 AND state = 'running'",
        )
        .bind(steps.to_string())
        .bind(to_millis(Utc::now()))
        .bind(id);
        self.change("complete", id, "running", query).await
    }

    /// Records a failed run: `attempts + 1`, back to pending until `next_attempt_at`.
    pub async fn fail(
        &self,
        id: i64,
        error: &str,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let query = sqlx::query(
            "UPDATE jobs SET state = 'pending', attempts = attempts + 1, last_error = ?1, \
                 next_attempt_at = ?2, lease_until = NULL, updated_at = ?3 \
             WHERE id = ?4 AND state = 'running'",
        )
        .bind(error)
        .bind(to_millis(next_attempt_at))
        .bind(to_millis(Utc::now()))
        .bind(id);
        self.change("fail", id, "running", query).await
    }

    /// Puts a running job back to pending until `next_attempt_at` without counting an
    /// attempt: it could not start its work yet (its client is busy with another job).
    pub async fn defer(
        &self,
        id: i64,
        reason: &str,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let query = sqlx::query(
            "UPDATE jobs SET state = 'pending', last_error = ?1, next_attempt_at = ?2, \
                 lease_until = NULL, updated_at = ?3 \
             WHERE id = ?4 AND state = 'running'",
        )
        .bind(reason)
        .bind(to_millis(next_attempt_at))
        .bind(to_millis(Utc::now()))
        .bind(id);
        self.change("defer", id, "running", query).await
    }

    /// Gives up on a pending or running job: dead, with `reason` as its last error.
    pub async fn bury(&self, id: i64, reason: &str) -> Result<(), StoreError> {
        let query = sqlx::query(
            "UPDATE jobs SET state = 'dead', last_error = ?1, lease_until = NULL, updated_at = ?2 \
             WHERE id = ?3 AND state IN ('pending', 'running')",
        )
        .bind(reason)
        .bind(to_millis(Utc::now()))
        .bind(id);
        self.change("bury", id, "pending or running", query).await
    }

    /// Makes every running job pending and due now, keeping its steps and its run count (so
    /// the next run knows an earlier one may have written and checks the portal first).
    /// Called at start-up: a job left running belongs to a process that died. Returns how
    /// many jobs were recovered.
    pub async fn recover_running(&self) -> Result<u64, StoreError> {
        let now = to_millis(Utc::now());
        let done = sqlx::query(
            "UPDATE jobs SET state = 'pending', next_attempt_at = ?1, lease_until = NULL, \
                 updated_at = ?1 WHERE state = 'running'",
        )
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(self.err_of("recover running jobs"))?;
        Ok(done.rows_affected())
    }

    /// Makes a job due now with a clean slate (`attempts` 0, no last error); false when no
    /// such job exists. Dead and pending jobs keep their steps (finished steps are not
    /// redone); a done job's steps are cleared so it really runs again (the comment marker
    /// still prevents a duplicate comment). A running job is left to its worker (returns
    /// true).
    pub async fn retry(&self, kind: JobKind, key: i64) -> Result<bool, StoreError> {
        let fail = self.err_of("retry");
        let now = to_millis(Utc::now());
        let changed = sqlx::query(
            "UPDATE jobs SET state = 'pending', attempts = 0, next_attempt_at = ?1, \
                 last_error = NULL, lease_until = NULL, updated_at = ?1, \
                 steps = CASE state WHEN 'done' THEN '{}' ELSE steps END \
             WHERE kind = ?2 AND job_key = ?3 AND state <> 'running'",
        )
        .bind(now)
        .bind(kind.as_str())
        .bind(key)
        .execute(&self.pool)
        .await
        .map_err(&fail)?
        .rows_affected();
        if changed > 0 {
            return Ok(true);
        }
        let exists: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM jobs WHERE kind = ?1 AND job_key = ?2)",
        )
        .bind(kind.as_str())
        .bind(key)
        .fetch_one(&self.pool)
        .await
        .map_err(&fail)?;
        Ok(exists)
    }

    /// Makes every dead job pending and due now (`attempts` 0, steps kept); returns how many.
    pub async fn retry_dead(&self) -> Result<u64, StoreError> {
        let now = to_millis(Utc::now());
        let result = sqlx::query(
            "UPDATE jobs SET state = 'pending', attempts = 0, next_attempt_at = ?1, \
                 last_error = NULL, updated_at = ?1 \
             WHERE state = 'dead'",
        )
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(self.err_of("retry_dead"))?;
        Ok(result.rows_affected())
    }

    /// The job identified by `kind` and `key`, if any.
    pub async fn job(&self, kind: JobKind, key: i64) -> Result<Option<Job>, StoreError> {
        let row = sqlx::query("SELECT * FROM jobs WHERE kind = ?1 AND job_key = ?2")
            .bind(kind.as_str())
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.err_of("job"))?;
        row.as_ref()
            .map(Job::from_row)
            .transpose()
            .map_err(self.err_of("job"))
    }

    /// Number of jobs in each state.
    pub async fn counts(&self) -> Result<QueueCounts, StoreError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT state, COUNT(*) FROM jobs GROUP BY state")
                .fetch_all(&self.pool)
                .await
                .map_err(self.err_of("counts"))?;
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
                 SELECT MIN(lease_until) FROM jobs WHERE state = 'running')",
        )
        .await
    }

    /// Unfinished jobs (pending, running or dead) that have an error, most recently updated
    /// first.
    pub async fn recent_errors(&self, limit: usize) -> Result<Vec<Job>, StoreError> {
        self.select(
            "recent_errors",
            "SELECT * FROM jobs WHERE last_error IS NOT NULL AND state <> 'done' \
             ORDER BY updated_at DESC, id DESC LIMIT ?1",
            limit,
        )
        .await
    }

    /// Dead jobs, most recently buried first.
    pub async fn dead(&self, limit: usize) -> Result<Vec<Job>, StoreError> {
        self.select(
            "dead",
            "SELECT * FROM jobs WHERE state = 'dead' ORDER BY updated_at DESC, id DESC LIMIT ?1",
            limit,
        )
        .await
    }

    /// Runs a single-row update of job `id`; no row changed means the job is missing or not in
    /// the `expected` state.
    async fn change<'q>(
        &self,
        operation: &'static str,
        id: i64,
        expected: &'static str,
        query: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    ) -> Result<(), StoreError> {
        let result = query
            .execute(&self.pool)
            .await
            .map_err(self.err_of(operation))?;
        if result.rows_affected() == 0 {
            return Err(StoreError::new(
                operation,
                self.path(),
                Cause::WrongState { id, expected },
            ));
        }
        Ok(())
    }

    /// Runs a `SELECT *` of jobs with one `LIMIT ?1` parameter.
    async fn select(
        &self,
        operation: &'static str,
        sql: &'static str,
        limit: usize,
    ) -> Result<Vec<Job>, StoreError> {
        let rows = sqlx::query(sql)
            .bind(limit_param(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(self.err_of(operation))?;
        self.jobs(operation, &rows)
    }

    /// Runs a query returning one nullable millisecond time.
    async fn min_time(
        &self,
        operation: &'static str,
        sql: &'static str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let millis: Option<i64> = sqlx::query_scalar(sql)
            .fetch_one(&self.pool)
            .await
            .map_err(self.err_of(operation))?;
        Ok(millis.map(from_millis))
    }

    /// Reads job rows.
    fn jobs(&self, operation: &'static str, rows: &[SqliteRow]) -> Result<Vec<Job>, StoreError> {
        rows.iter()
            .map(|row| Job::from_row(row).map_err(self.err_of(operation)))
            .collect()
    }
}

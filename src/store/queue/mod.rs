//! The job queue: enqueue, claim with a lease, checkpoint, finish, retry, and status queries.
//!
//! A running job belongs to the node that claimed it (`jobs.node`): checkpoints, lease
//! renewals and the final transition all name the node, so a node whose lease ran out and
//! was taken over can no longer write to the job. Enqueueing and the shared row helpers live
//! here; claims and leases in [`lease`], the end of a run in [`finish`], queries in [`status`].

mod finish;
mod lease;
mod status;

use chrono::{DateTime, Utc};

use super::error::Cause;
use super::job::from_millis;
use super::{bind_args, with_pool, Arg, WritePool};
use super::{Intake, Job, JobKind, Store, StoreError};

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

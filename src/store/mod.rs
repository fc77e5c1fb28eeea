//! The durable queue and state store: one SQLite file, the only place that writes SQL.
//!
//! # Durability
//! The file runs in WAL mode with `synchronous=FULL`: every commit fsyncs the WAL before it
//! returns. With `NORMAL`, a commit can be lost on power failure (not on a process crash), and
//! the webhook intake answers 200 only after its enqueue committed, so Chat2Desk would not
//! resend what we lost. The cost is one fsync per commit (about a millisecond on SSD, more on
//! spinning disks), negligible at the rate requests close.
//!
//! # Concurrency
//! SQLite has one writer at a time. Every state change is one statement or one
//! `BEGIN IMMEDIATE` transaction (which takes the write lock up front, so it never fails half
//! way on a stale read snapshot); waiting writers retry for up to 5 s (`busy_timeout`).
//! [`Store::claim`] is a single `UPDATE … WHERE id IN (SELECT … LIMIT n) RETURNING`, so two
//! claimers, in one process or in two, never get the same job.
//!
//! Times are stored as integer unix milliseconds (UTC).

mod claims;
mod error;
mod grant;
mod job;
mod queue;
mod scan;
mod sends;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

pub use claims::{ClaimAttempt, ClientKey, ClientRecord, StoredRecord};
pub use error::{Cause, StoreError};
pub use grant::{Grant, RefreshFailure, Rotated, Rotation};
pub use job::{Intake, Job, JobKind, JobState, QueueCounts};
pub use sends::Enqueued;

/// How often a failed migration is tried again (a concurrent first start).
const MIGRATE_RETRIES: u32 = 3;
/// Pause before trying a failed migration again.
const MIGRATE_RETRY_DELAY: Duration = Duration::from_millis(200);
/// Connections in the pool: enough for the worker, the intake and status readers; writes are
/// serialised by SQLite anyway.
const POOL_SIZE: u32 = 4;

/// How long a statement waits for another writer's lock before failing with `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Handle on the state database; cheap to clone (a connection pool).
#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
    path: Arc<PathBuf>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (creating the directory and file if missing) the database at `path`, sets WAL,
    /// `synchronous=FULL`, a 5 s busy timeout and foreign keys, and applies the embedded
    /// migrations.
    pub async fn open(path: &Path) -> Result<Store, StoreError> {
        let fail = |cause: Cause| StoreError::new("open", path, cause);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| fail(Cause::CreateDir(e)))?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(POOL_SIZE)
            // Waiting for a connection longer than a writer may hold the lock means trouble.
            .acquire_timeout(BUSY_TIMEOUT * 2)
            .connect_with(options)
            .await
            .map_err(|e| fail(e.into()))?;
        // Two processes opening a fresh file at once (the daemon starting while `status`
        // runs) may both try the first migration; the loser's transaction rolls back, and on
        // a second look it finds the migration applied.
        let mut attempt = 0;
        loop {
            match sqlx::migrate!("./migrations").run(&pool).await {
                Ok(()) => break,
                Err(_) if attempt < MIGRATE_RETRIES => {
                    attempt += 1;
                    tokio::time::sleep(MIGRATE_RETRY_DELAY).await;
                }
                Err(e) => return Err(StoreError::new("migrate", path, e)),
            }
        }
        Ok(Store {
            pool,
            path: Arc::new(path.to_path_buf()),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Checks that the database answers (`SELECT 1`), for health checks and the watchdog.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(self.err_of("ping"))?;
        Ok(())
    }

    /// Closes every connection (checkpointing the WAL); later calls on any clone fail.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Maps an error of `operation` to a [`StoreError`] naming this database.
    fn err_of<E: Into<Cause>>(&self, operation: &'static str) -> impl Fn(E) -> StoreError + '_ {
        move |e| StoreError::new(operation, &self.path, e)
    }
}

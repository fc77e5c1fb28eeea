//! The store's error: which operation failed on which database file, why, and what to do.

use std::path::{Path, PathBuf};

/// A failed store operation. Carries the operation (`"claim"`, `"open"`, ...), the database
/// path (not a secret) and the cause; [`StoreError::is_transient`] says whether retrying can
/// help and [`StoreError::hint`] tells the sysadmin what to do.
#[derive(Debug, thiserror::Error)]
#[error("State database {}: {operation} failed: {cause}", path.display())]
pub struct StoreError {
    operation: &'static str,
    path: PathBuf,
    cause: Cause,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Cause {
    /// The database's parent directory could not be created.
    #[error("cannot create the directory: {0}")]
    CreateDir(std::io::Error),
    /// SQLite (through sqlx) reported an error.
    #[error("{0}")]
    Sql(#[from] sqlx::Error),
    /// Applying the embedded schema migrations failed.
    #[error("schema migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value could not be read back (damaged or hand-edited row).
    #[error("job {id}: invalid {column} value {value:?}")]
    Corrupt {
        /// Row id of the job.
        id: i64,
        /// Column holding the bad value.
        column: &'static str,
        /// The value as stored.
        value: String,
    },
    /// The job is missing or not in a state this operation applies to (for example a worker
    /// finishing a job whose lease ran out and was taken over).
    #[error("job {id} is not {expected}")]
    WrongState {
        /// Row id of the job.
        id: i64,
        /// The state(s) the operation needs.
        expected: &'static str,
    },
}

/// SQLite primary result codes we react to (the low byte of an extended code).
mod code {
    pub const BUSY: i64 = 5;
    pub const LOCKED: i64 = 6;
    pub const IOERR: i64 = 10;
    pub const CORRUPT: i64 = 11;
    pub const FULL: i64 = 13;
    pub const NOTADB: i64 = 26;
}

impl StoreError {
    /// An error of `operation` on the database at `path`.
    pub fn new(operation: &'static str, path: &Path, cause: impl Into<Cause>) -> Self {
        Self {
            operation,
            path: path.to_path_buf(),
            cause: cause.into(),
        }
    }

    /// The store operation that failed, e.g. `"claim"`.
    pub fn operation(&self) -> &'static str {
        self.operation
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The cause.
    pub fn cause(&self) -> &Cause {
        &self.cause
    }

    /// SQLite's extended result code, when SQLite reported the error.
    pub fn code(&self) -> Option<i64> {
        match &self.cause {
            Cause::Sql(sqlx::Error::Database(db)) => db.code().and_then(|c| c.parse().ok()),
            _ => None,
        }
    }

    /// True when retrying later can succeed without anyone changing anything (lock
    /// contention, a full pool, a momentary I/O error, a full disk being cleaned up).
    pub fn is_transient(&self) -> bool {
        match &self.cause {
            Cause::Sql(sqlx::Error::Database(_)) => matches!(
                self.code().map(|c| c & 0xff),
                Some(code::BUSY | code::LOCKED | code::IOERR | code::FULL)
            ),
            Cause::Sql(sqlx::Error::PoolTimedOut | sqlx::Error::Io(_)) => true,
            _ => false,
        }
    }

    /// What the sysadmin should do about it, in one short sentence.
    pub fn hint(&self) -> &'static str {
        const WRITABLE: &str =
            "check that [database] path and its directory are writable by the service user";
        match &self.cause {
            Cause::CreateDir(_) => WRITABLE,
            Cause::Migrate(_) => {
                "the database was written by another version of chat2desk-b24; run that version \
                 or restore a backup"
            }
            Cause::Corrupt { .. } => {
                "a job row was edited by hand or damaged; fix or delete that row with sqlite3"
            }
            Cause::WrongState { .. } => {
                "the job changed under the worker (lease ran out?); raise [sync] lease_secs if \
                 requests take longer than the lease"
            }
            Cause::Sql(sqlx::Error::PoolTimedOut) => {
                "the database stayed busy; look for a second daemon or a long sqlite3 session on \
                 the same file"
            }
            Cause::Sql(_) => match self.code().map(|c| c & 0xff) {
                Some(code::BUSY | code::LOCKED) => {
                    "another process holds the database lock; look for a second daemon or a long \
                     sqlite3 session on the same file"
                }
                Some(code::FULL) => "free disk space on the filesystem of [database] path",
                Some(code::CORRUPT | code::NOTADB) => {
                    "the file is damaged or not a SQLite database; restore a backup or move it \
                     away and run `backfill` to rediscover requests"
                }
                // PERM, READONLY, CANTOPEN and anything else: most often file permissions.
                _ => WRITABLE,
            },
        }
    }
}

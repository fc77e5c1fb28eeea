//! The store's error: which operation failed on which database, why, and what to do.

use sqlx::mysql::MySqlDatabaseError;

/// Which kind of database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file.
    Sqlite,
    /// MySQL 8 or MariaDB ≥ 10.6.
    MySql,
}

impl Backend {
    /// `sqlite` or `mysql`.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::MySql => "mysql",
        }
    }
}

/// A failed store operation. Carries the operation (`"claim"`, `"open"`, ...), the database
/// (a path, or a URL without its password) and the cause; [`StoreError::is_transient`] says
/// whether retrying can help and [`StoreError::hint`] tells the sysadmin what to do.
#[derive(Debug, thiserror::Error)]
#[error("State database {database}: {operation} failed: {cause}")]
pub struct StoreError {
    operation: &'static str,
    backend: Backend,
    database: String,
    cause: Cause,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Cause {
    /// The database's parent directory could not be created.
    #[error("cannot create the directory: {0}")]
    CreateDir(std::io::Error),
    /// A read-only command found no database file.
    #[error("no such database file")]
    Missing,
    /// SQLite (through sqlx) reported an error.
    #[error("{0}")]
    Sql(#[from] sqlx::Error),
    /// `store migrate` found rows in the target database.
    #[error(
        "the target database already holds data (table {table}); copy only into an empty database"
    )]
    NotEmpty {
        /// The first table found with rows.
        table: String,
    },
    /// `store migrate` found a table in the source that the target does not have.
    #[error("table {table} has no twin in the target database")]
    NoTwin {
        /// The table.
        table: String,
    },
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

/// MySQL/MariaDB server error numbers we react to.
mod mysql {
    pub const ACCESS_DENIED: u16 = 1045;
    pub const BAD_DB: u16 = 1049;
    pub const TABLE_ACCESS_DENIED: u16 = 1142;
    pub const TOO_MANY_CONNECTIONS: u16 = 1040;
    pub const LOCK_WAIT_TIMEOUT: u16 = 1205;
    pub const DEADLOCK: u16 = 1213;
    pub const READ_ONLY: u16 = 1290;
    pub const DISK_FULL: u16 = 1021;
    pub const RECORD_FILE_FULL: u16 = 1114;
}

/// True for a MySQL deadlock or lock wait timeout: the transaction was rolled back and can
/// simply run again.
pub(crate) fn is_lock_conflict(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => db
            .try_downcast_ref::<MySqlDatabaseError>()
            .is_some_and(|m| matches!(m.number(), mysql::DEADLOCK | mysql::LOCK_WAIT_TIMEOUT)),
        _ => false,
    }
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
    /// An error of `operation` on the `backend` database named `database` (a path, or a URL
    /// without the password).
    pub fn new(
        operation: &'static str,
        backend: Backend,
        database: &str,
        cause: impl Into<Cause>,
    ) -> Self {
        Self {
            operation,
            backend,
            database: database.to_string(),
            cause: cause.into(),
        }
    }

    /// The store operation that failed, e.g. `"claim"`.
    pub fn operation(&self) -> &'static str {
        self.operation
    }

    /// The database: its file path, or its URL without the password.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// The cause.
    pub fn cause(&self) -> &Cause {
        &self.cause
    }

    /// SQLite's extended result code, when SQLite reported the error.
    pub fn code(&self) -> Option<i64> {
        match (&self.cause, self.backend) {
            (Cause::Sql(sqlx::Error::Database(db)), Backend::Sqlite) => {
                db.code().and_then(|c| c.parse().ok())
            }
            _ => None,
        }
    }

    /// The MySQL/MariaDB server error number, when the server reported the error.
    pub fn mysql_number(&self) -> Option<u16> {
        match &self.cause {
            Cause::Sql(sqlx::Error::Database(db)) => db
                .try_downcast_ref::<MySqlDatabaseError>()
                .map(MySqlDatabaseError::number),
            _ => None,
        }
    }

    /// True when retrying later can succeed without anyone changing anything (lock
    /// contention, a full pool, a momentary I/O error, a full disk being cleaned up).
    pub fn is_transient(&self) -> bool {
        match &self.cause {
            Cause::Sql(sqlx::Error::Database(_)) if self.backend == Backend::MySql => matches!(
                self.mysql_number(),
                Some(
                    mysql::LOCK_WAIT_TIMEOUT
                        | mysql::DEADLOCK
                        | mysql::TOO_MANY_CONNECTIONS
                        | mysql::DISK_FULL
                        | mysql::RECORD_FILE_FULL
                        | mysql::READ_ONLY
                )
            ),
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
        if self.backend == Backend::MySql {
            return self.mysql_hint();
        }
        const WRITABLE: &str =
            "check that [database] path and its directory are writable by the service user";
        match &self.cause {
            Cause::CreateDir(_) => WRITABLE,
            Cause::Missing => {
                "the daemon creates it on its first start (systemctl start chat2desk-b24); \
                 otherwise [database] path names another file than the daemon's"
            }
            Cause::Migrate(_) => {
                "the database was written by another version of chat2desk-b24; run that version \
                 or restore a backup"
            }
            Cause::NotEmpty { .. } | Cause::NoTwin { .. } => self.mysql_hint(),
            Cause::Corrupt { .. } => {
                "a job row was edited by hand or damaged; fix or delete that row with sqlite3"
            }
            Cause::WrongState { .. } => {
                "the job changed under the worker: its lease ran out while the process was \
                 stalled (leases are renewed every third of [sync] lease_secs); it runs again"
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

    fn mysql_hint(&self) -> &'static str {
        match &self.cause {
            Cause::NotEmpty { .. } => {
                "`store migrate` copies into an empty database only: create a new one (README, \
                 \"Two nodes\") or drop the tables of the old copy"
            }
            Cause::NoTwin { .. } => {
                "the target was made by an older chat2desk-b24: start this version once on it, \
                 then copy again"
            }
            Cause::Migrate(_) => {
                "the database was written by another version of chat2desk-b24; run the same \
                 version on every node"
            }
            Cause::Corrupt { .. } => "a job row was edited by hand or damaged; fix or delete it",
            Cause::WrongState { .. } => {
                "the job changed under the worker: its lease ran out and another node took it \
                 over; check that the nodes' clocks agree (NTP) and the database answers quickly"
            }
            Cause::CreateDir(_) | Cause::Missing => "check [database] url",
            Cause::Sql(sqlx::Error::Configuration(_)) => {
                "[database] url is not a usable MySQL URL; expected \
                 mysql://user:password@host:3306/database (options such as ?ssl-mode=required)"
            }
            Cause::Sql(sqlx::Error::Tls(_)) => {
                "the TLS handshake with the database server failed; check ssl-mode and ssl-ca \
                 in [database] url"
            }
            Cause::Sql(sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut) => {
                "cannot reach the database server; check the host and port in [database] url \
                 and that the server runs"
            }
            Cause::Sql(_) => match self.mysql_number() {
                Some(mysql::ACCESS_DENIED) => {
                    "the server refused the user or password of [database] url; check them \
                     (README, \"Two nodes\", shows the CREATE USER)"
                }
                Some(mysql::BAD_DB) => {
                    "the database named in [database] url does not exist; CREATE DATABASE it \
                     (README, \"Two nodes\")"
                }
                Some(mysql::TABLE_ACCESS_DENIED) => {
                    "the user of [database] url lacks privileges; GRANT ALL ON <database>.* to \
                     it (README, \"Two nodes\")"
                }
                Some(mysql::LOCK_WAIT_TIMEOUT | mysql::DEADLOCK) => {
                    "another session held the rows; it is retried (look for long transactions \
                     on the server if it persists)"
                }
                Some(mysql::READ_ONLY) => {
                    "the server is read-only (a replica?); point [database] url at the primary"
                }
                _ => "see the server's message; check [database] url and the server's error log",
            },
        }
    }
}

//! The durable queue and state store, the only place that writes SQL. Two backends behind one
//! interface: a SQLite file (the default, one node) and MySQL 8 / MariaDB ≥ 10.6 (the
//! portal's own database server, shared by two or more nodes). May import config only.
//!
//! # Durability
//! SQLite runs in WAL mode with `synchronous=FULL`: every commit fsyncs the WAL before it
//! returns. With `NORMAL`, a commit can be lost on power failure (not on a process crash), and
//! the webhook intake answers 200 only after its enqueue committed, so Chat2Desk would not
//! resend what we lost. The cost is one fsync per commit (about a millisecond on SSD, more on
//! spinning disks), negligible at the rate requests close. On MySQL/MariaDB durability is the
//! server's (InnoDB with `innodb_flush_log_at_trx_commit=1`, its default).
//!
//! # Concurrency
//! SQLite has one writer at a time. Every state change is one statement or one
//! `BEGIN IMMEDIATE` transaction (which takes the write lock up front, so it never fails half
//! way on a stale read snapshot); waiting writers retry for up to 5 s (`busy_timeout`).
//! [`Store::claim`] is a single `UPDATE … WHERE id IN (SELECT … LIMIT n) RETURNING`, so two
//! claimers, in one process or in two, never get the same job.
//!
//! MySQL has no `UPDATE … RETURNING`: a claim is a transaction that selects due rows with
//! `FOR UPDATE SKIP LOCKED` (rows another node is claiming at that moment are skipped, not
//! waited for), marks them running under this node's name, and reads them back. Sessions run
//! at `READ COMMITTED`, so a scan locks only the rows it returns and takes no gap locks.
//!
//! # Nodes
//! Every store handle carries the name of its node (`[node] name`). A running job records the
//! node holding its lease; only that node may checkpoint or finish it, a node restarted
//! under the same name takes its own jobs back at once ([`Store::recover_running`]), and
//! another node takes them over when their lease ends. Clocks of the nodes must agree to
//! well within a lease (NTP).
//!
//! # Why not PostgreSQL (yet)
//! A third backend would be cheap in this shape: one more pool variant, its own migrations
//! and a column of [`dialect`] strings (`ON CONFLICT` and `RETURNING` as SQLite,
//! `FOR UPDATE SKIP LOCKED` as MySQL; only the `$1` placeholders differ). It is not built
//! because nobody asked for it: boxed Bitrix24 runs on MySQL, and every backend costs a
//! server in CI and a column of SQL to keep in step.
//!
//! Times are stored as integer unix milliseconds (UTC).

mod backup;
mod claims;
mod connect;
mod copy;
mod dialect;
mod error;
mod grant;
mod job;
mod lines;
mod nodes;
mod queue;
mod scan;
mod sends;
mod skipped;
mod turns;
mod usage;
mod waits;

use std::sync::Arc;

use sqlx::{MySqlPool, SqlitePool};

pub use crate::config::{default_node_name, Location};
pub use claims::{ClaimAttempt, ClientKey, ClientRecord, StoredRecord};
pub use copy::CopyReport;
pub use error::{Backend, Cause, StoreError};
pub use grant::{Grant, RefreshFailure, Rotated, Rotation};
pub use job::{Intake, Job, JobKind, JobState, QueueCounts};
pub use lines::{Bridged, HostedFile, LineItem, LineOrder, LineTraffic};
pub use nodes::{NodeInfo, LEADER};
pub use scan::{LAST_POLL_ERROR_KEY, LAST_POLL_KEY};
pub use sends::Enqueued;
pub use waits::{ClientMessage, Wait};

/// The connection pool of one backend.
#[derive(Clone)]
pub(crate) enum Pool {
    /// A SQLite file.
    Sqlite(SqlitePool),
    /// A MySQL or MariaDB database.
    MySql(MySqlPool),
}

/// Runs `$body` once per backend with `$pool` bound to that backend's pool and `$sql` to its
/// [`dialect::Sql`]; the body is compiled for each backend, so sqlx's types stay concrete.
macro_rules! with_pool {
    ($store:expr, $pool:ident, $sql:ident => $body:expr) => {
        match &$store.pool {
            $crate::store::Pool::Sqlite($pool) => {
                #[allow(unused_variables)]
                let $sql = &$crate::store::dialect::SQLITE;
                $body
            }
            $crate::store::Pool::MySql($pool) => {
                #[allow(unused_variables)]
                let $sql = &$crate::store::dialect::MYSQL;
                $body
            }
        }
    };
}
pub(crate) use with_pool;

/// Binds each [`Arg`] in order to a query of any backend (a macro, so the query's type stays
/// concrete).
macro_rules! bind_args {
    ($query:expr, $args:expr) => {{
        let mut query = $query;
        for arg in $args {
            query = match arg {
                $crate::store::Arg::Int(v) => query.bind(v),
                $crate::store::Arg::NullInt => query.bind(None::<i64>),
                $crate::store::Arg::Text(v) => query.bind(v),
            };
        }
        query
    }};
}
pub(crate) use bind_args;

/// A bind value of a statement shared by both backends.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    /// An integer (ids, counts, millisecond times).
    Int(i64),
    /// SQL NULL in an integer column.
    NullInt,
    /// Text.
    Text(String),
}

impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}

impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Arg::Text(v.to_string())
    }
}

impl From<String> for Arg {
    fn from(v: String) -> Self {
        Arg::Text(v)
    }
}

/// Begins a write transaction the backend's way: SQLite takes the write lock up front
/// (`BEGIN IMMEDIATE`), MySQL locks rows as statements touch them.
pub(crate) trait WritePool {
    /// The backend.
    type Db: sqlx::Database;
    /// Starts the transaction.
    fn begin_write(
        &self,
    ) -> impl std::future::Future<Output = Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>>
           + Send;
}

impl WritePool for SqlitePool {
    type Db = sqlx::Sqlite;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<Output = Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>>
           + Send {
        self.begin_with("BEGIN IMMEDIATE")
    }
}

impl WritePool for MySqlPool {
    type Db = sqlx::MySql;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<Output = Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>>
           + Send {
        self.begin()
    }
}

/// Handle on the state database; cheap to clone (a connection pool).
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    /// What the database is called in errors and `status` (a path, or a URL without the
    /// password).
    name: Arc<str>,
    /// The node this handle works for.
    node: Arc<str>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("database", &self.name)
            .field("node", &self.node)
            .finish()
    }
}

impl Store {
    /// The database: its file path, or its URL without the password.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The node this handle claims jobs and leases for.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::MySql(_) => Backend::MySql,
        }
    }

    /// Checks that the database answers (`SELECT 1`), for health checks and the watchdog.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let fail = self.err_of("ping");
        with_pool!(self, pool, _sql => {
            sqlx::query("SELECT 1").execute(pool).await.map_err(&fail)?;
        });
        Ok(())
    }

    /// Closes every connection (checkpointing a SQLite WAL); later calls on any clone fail.
    pub async fn close(&self) {
        with_pool!(self, pool, _sql => pool.close().await)
    }

    /// Maps an error of `operation` to a [`StoreError`] naming this database.
    fn err_of<E: Into<Cause>>(&self, operation: &'static str) -> impl Fn(E) -> StoreError + '_ {
        move |e| StoreError::new(operation, self.backend(), &self.name, e)
    }
}

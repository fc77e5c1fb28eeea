//! Opening the store: where the database is, connection settings per backend, and the
//! embedded migrations (run safely when several nodes start at once).

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::Executor;

use super::{Backend, Cause, Pool, Store, StoreError};
use crate::config::{default_node_name, Location, Secret};

/// How often a failed migration is tried again (a concurrent first start).
const MIGRATE_RETRIES: u32 = 3;
/// Pause before trying a failed migration again.
const MIGRATE_RETRY_DELAY: Duration = Duration::from_millis(200);
/// SQLite connections: enough for the worker, the intake and status readers; writes are
/// serialised by SQLite anyway.
const SQLITE_POOL_SIZE: u32 = 4;
/// MySQL connections per node: the worker's jobs, the intake, the leader loop.
const MYSQL_POOL_SIZE: u32 = 10;
/// How long a SQLite statement waits for another writer's lock before failing with
/// `SQLITE_BUSY`; also the base of the pool's acquire timeout.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Per-session settings of a MySQL connection: row locks only on the rows a statement
/// returns, no gap locks (`READ COMMITTED`), and a lock wait that fails fast enough to be
/// retried rather than stall a worker.
const MYSQL_SESSION: &str = "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED; \
     SET SESSION innodb_lock_wait_timeout = 10";

impl Store {
    /// Opens (creating the directory and file if missing) the SQLite database at `path` for
    /// the node named after this host.
    pub async fn open(path: &Path) -> Result<Store, StoreError> {
        Store::connect(&Location::Sqlite(path.to_path_buf()), &default_node_name()).await
    }

    /// Opens the database at `location` for node `node` and applies the embedded
    /// migrations. SQLite: creates the directory and file if missing, sets WAL,
    /// `synchronous=FULL`, a 5 s busy timeout and foreign keys. MySQL/MariaDB: connects
    /// (TLS as the URL's `ssl-mode`/`ssl-ca` say) with `READ COMMITTED` sessions; the database
    /// itself must exist.
    pub async fn connect(location: &Location, node: &str) -> Result<Store, StoreError> {
        let name: Arc<str> = location.display().into();
        let pool = match location {
            Location::Sqlite(path) => Pool::Sqlite(sqlite_pool(path, &name, true).await?),
            Location::MySql(url) => Pool::MySql(mysql_pool(url, &name).await?),
        };
        let store = Store {
            pool,
            name,
            node: node.into(),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Opens the existing database at `location` without creating or migrating anything: for
    /// the commands that only look (`status`, `openlines`, `app status`; the last two may
    /// still store a refreshed token of the local application). SQLite: the file must exist;
    /// MySQL/MariaDB: connects without migrating.
    pub async fn open_existing(location: &Location, node: &str) -> Result<Store, StoreError> {
        let name: Arc<str> = location.display().into();
        let pool = match location {
            Location::Sqlite(path) => Pool::Sqlite(sqlite_pool(path, &name, false).await?),
            Location::MySql(url) => Pool::MySql(mysql_pool(url, &name).await?),
        };
        Ok(Store {
            pool,
            name,
            node: node.into(),
        })
    }

    /// Applies the embedded migrations of this backend. Two nodes (or the daemon and
    /// `status`) starting on a fresh database at once may race: SQLite's loser rolls back and
    /// finds the migration applied on a second look; on MySQL one node at a time migrates
    /// under an advisory lock (see [`migrate_mysql`]).
    async fn migrate(&self) -> Result<(), StoreError> {
        let mut attempt = 0;
        loop {
            let result = match &self.pool {
                Pool::Sqlite(pool) => sqlx::migrate!("./migrations/sqlite").run(pool).await,
                Pool::MySql(pool) => migrate_mysql(pool).await,
            };
            match result {
                Ok(()) => return Ok(()),
                Err(_) if attempt < MIGRATE_RETRIES => {
                    attempt += 1;
                    tokio::time::sleep(MIGRATE_RETRY_DELAY).await;
                }
                Err(e) => return Err(StoreError::new("migrate", self.backend(), &self.name, e)),
            }
        }
    }
}

/// The advisory lock held while a node migrates a MySQL database (per server, so two
/// databases on one server migrate one after the other; that costs nothing).
const MIGRATE_LOCK: &str = "chat2desk_b24.migrate";
/// How long a starting node waits for another one's migration.
const MIGRATE_LOCK_SECS: i64 = 120;

/// Runs the MySQL migrations on one connection while it holds [`MIGRATE_LOCK`]. MySQL's DDL
/// is not transactional, so two nodes must never apply one migration at once. sqlx's own
/// lock (`GET_LOCK(…, -1)`) does not check that it got the lock (and MariaDB documents no
/// negative timeout); two nodes starting together on MariaDB did see "migration 5 is
/// partially applied". So the lock is taken here, with a timeout, and its result checked.
async fn migrate_mysql(pool: &sqlx::MySqlPool) -> Result<(), sqlx::migrate::MigrateError> {
    let mut conn = pool.acquire().await?;
    let locked: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, ?)")
        .bind(MIGRATE_LOCK)
        .bind(MIGRATE_LOCK_SECS)
        .fetch_one(&mut *conn)
        .await?;
    if locked != Some(1) {
        return Err(sqlx::migrate::MigrateError::Execute(sqlx::Error::Protocol(
            format!("another node held the migration lock for {MIGRATE_LOCK_SECS} s"),
        )));
    }
    let result = sqlx::migrate!("./migrations/mysql")
        .run_direct(&mut *conn)
        .await;
    let _ = sqlx::query("SELECT RELEASE_LOCK(?)")
        .bind(MIGRATE_LOCK)
        .execute(&mut *conn)
        .await;
    result
}

/// The pool on the SQLite file at `path`; with `create`, its directory and the file are made
/// when missing, else a missing file is [`Cause::Missing`].
async fn sqlite_pool(
    path: &Path,
    name: &str,
    create: bool,
) -> Result<sqlx::SqlitePool, StoreError> {
    let fail = |cause: Cause| StoreError::new("open", Backend::Sqlite, name, cause);
    if !create && !path.exists() {
        return Err(fail(Cause::Missing));
    }
    if let Some(dir) = path
        .parent()
        .filter(|d| create && !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir).map_err(|e| fail(Cause::CreateDir(e)))?;
    }
    // Created 0600 before SQLite opens it (SQLite gives its -wal and -shm files the same
    // mode): the file holds the portal's tokens, outside systemd's UMask too.
    if !path.exists() {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(|e| fail(Cause::CreateDir(e)))?;
    }
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(create)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(BUSY_TIMEOUT)
        .foreign_keys(true);
    SqlitePoolOptions::new()
        .max_connections(SQLITE_POOL_SIZE)
        // Waiting for a connection longer than a writer may hold the lock means trouble.
        .acquire_timeout(BUSY_TIMEOUT * 2)
        .connect_with(options)
        .await
        .map_err(|e| fail(e.into()))
}

async fn mysql_pool(url: &Secret, name: &str) -> Result<sqlx::MySqlPool, StoreError> {
    let fail = |cause: Cause| StoreError::new("open", Backend::MySql, name, cause);
    let options = MySqlConnectOptions::from_str(url.expose())
        .map_err(|e| fail(e.into()))?
        .charset("utf8mb4");
    MySqlPoolOptions::new()
        .max_connections(MYSQL_POOL_SIZE)
        .acquire_timeout(BUSY_TIMEOUT * 2)
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                conn.execute(MYSQL_SESSION).await?;
                Ok(())
            })
        })
        .connect_with(options)
        .await
        .map_err(|e| fail(e.into()))
}

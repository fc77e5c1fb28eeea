//! The store test suites run on both backends: a fresh SQLite file, or a fresh database on
//! a real MariaDB server started for the suite (`benches/support/mariadb.rs`).
#![allow(dead_code)]

#[path = "../../benches/support/mariadb.rs"]
pub mod mariadb;

use chat2desk_b24::config::Secret;
use chat2desk_b24::store::{default_node_name, Backend, Location, Store};
use sqlx::{ConnectOptions, Connection};
use std::str::FromStr;
use tempfile::TempDir;

/// A fresh, empty store of one backend, and how to reach its database again.
pub struct Fixture {
    /// The store, for the node named after this host.
    pub store: Store,
    location: Location,
    _dir: TempDir,
}

impl Fixture {
    /// A SQLite file in a directory that does not exist yet (open creates it).
    pub async fn sqlite() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lib").join("state.db");
        let location = Location::Sqlite(path);
        Fixture::at(location, dir).await
    }

    /// A new database on `server`.
    pub async fn mariadb(server: &mariadb::MariaDb) -> Fixture {
        let location = Location::MySql(Secret::new(server.create_database()));
        Fixture::at(location, tempfile::tempdir().unwrap()).await
    }

    async fn at(location: Location, dir: TempDir) -> Fixture {
        let store = Store::connect(&location, &default_node_name())
            .await
            .unwrap();
        Fixture {
            store,
            location,
            _dir: dir,
        }
    }

    /// A fresh, empty store of the same backend (on MariaDB: another database on the same
    /// server).
    pub async fn sibling(&self) -> Fixture {
        match &self.location {
            Location::Sqlite(_) => Fixture::sqlite().await,
            Location::MySql(url) => {
                let mut parsed = url::Url::parse(url.expose()).unwrap();
                let name = format!(
                    "{}_{}",
                    parsed.path().trim_matches('/'),
                    rand::random::<u32>()
                );
                let mut conn = sqlx::mysql::MySqlConnectOptions::from_str(url.expose())
                    .unwrap()
                    .connect()
                    .await
                    .unwrap();
                sqlx::raw_sql(&format!("CREATE DATABASE `{name}`"))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                conn.close().await.unwrap();
                parsed.set_path(&format!("/{name}"));
                let location = Location::MySql(Secret::new(parsed.to_string()));
                Fixture::at(location, tempfile::tempdir().unwrap()).await
            }
        }
    }

    /// The backend under test.
    pub fn backend(&self) -> Backend {
        self.store.backend()
    }

    /// Where the database is.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// Another handle on the same database for this host's node (a restarted process).
    pub async fn reopen(&self) -> Store {
        self.reopen_as(&default_node_name()).await
    }

    /// A handle on the same database for another node.
    pub async fn reopen_as(&self, node: &str) -> Store {
        Store::connect(&self.location, node).await.unwrap()
    }

    /// Installs, through a connection of its own, a trigger named `name` that makes the
    /// database reject an insert into `table` when `condition` (on `NEW`) holds, to prove
    /// that a multi-row operation is all or nothing.
    pub async fn reject_insert(&self, name: &str, table: &str, condition: &str) {
        match &self.location {
            Location::Sqlite(path) => {
                let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(path)
                    .busy_timeout(std::time::Duration::from_secs(5))
                    .connect()
                    .await
                    .unwrap();
                sqlx::query(&format!(
                    "CREATE TRIGGER {name} BEFORE INSERT ON {table} WHEN {condition} \
                     BEGIN SELECT RAISE(ABORT, 'rejected'); END"
                ))
                .execute(&mut conn)
                .await
                .unwrap();
                conn.close().await.unwrap();
            }
            Location::MySql(url) => {
                let mut conn = sqlx::mysql::MySqlConnectOptions::from_str(url.expose())
                    .unwrap()
                    .connect()
                    .await
                    .unwrap();
                sqlx::raw_sql(&format!(
                    "CREATE TRIGGER {name} BEFORE INSERT ON {table} FOR EACH ROW BEGIN \
                     IF {condition} THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'rejected'; \
                     END IF; END"
                ))
                .execute(&mut conn)
                .await
                .unwrap();
                conn.close().await.unwrap();
            }
        }
    }
}

/// Declares each `case` (an `async fn(Fixture)` in scope) as a test on SQLite under its own
/// name, and all of them in one test on a single MariaDB server (`$mariadb_test`), each
/// case on a fresh database of its own.
#[macro_export]
macro_rules! on_both_backends {
    ($mariadb_test:ident: $($case:ident),+ $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::backend::Fixture::sqlite().await).await
                }
            )+
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $mariadb_test() {
            let Some(server) = backend::mariadb::MariaDb::start() else {
                return;
            };
            $(
                eprintln!("MariaDB: {}", stringify!($case));
                $case(backend::Fixture::mariadb(&server).await).await;
            )+
        }
    };
}

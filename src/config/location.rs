//! Where the state database is (`[database]`) and the default `[node] name`.

use super::{mask_password, DatabaseConfig, Secret};
use std::path::PathBuf;

/// Where the state lives.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite file (`[database] path`).
    Sqlite(PathBuf),
    /// A MySQL or MariaDB database (`[database] url`, `mysql://user:pass@host:3306/db`).
    MySql(Secret),
}

impl Location {
    /// How errors and `status` name it: the path, or the URL with its password as `***`.
    pub fn display(&self) -> String {
        match self {
            Location::Sqlite(path) => path.display().to_string(),
            Location::MySql(url) => mask_password(url.expose()),
        }
    }
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display())
    }
}

/// The node name used when `[node] name` is not set: the host name (`/proc`, else
/// `$HOSTNAME`, else `localhost`).
pub fn default_node_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

impl DatabaseConfig {
    /// Where the store is: the MySQL URL when set, else the SQLite path.
    pub fn location(&self) -> Location {
        match &self.url {
            Some(url) => Location::MySql(url.clone()),
            None => Location::Sqlite(self.path.clone()),
        }
    }
}

//! This node's sections: `[database]` (where the state lives), `[node]` (its name among
//! several) and `[log]`.

use super::location::default_node_name;
use super::secret::Secret;
use super::urls::mask_password;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// `[database]`: where the state lives, exactly one of `path` (SQLite, one node) and `url`
/// (MySQL/MariaDB, shared by several nodes).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// Path of the SQLite state database (used when `url` is not set).
    pub path: PathBuf,
    /// `mysql://user:password@host:3306/database`, TLS options as sqlx reads them
    /// (`?ssl-mode=verify_identity&ssl-ca=/etc/ssl/db-ca.pem`). Secret (the password).
    pub url: Option<Secret>,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from("/var/lib/chat2desk-b24/state.db"),
            url: None,
        }
    }
}

/// Shows the key in use only: `url` (password as `***`) or `path`.
impl Serialize for DatabaseConfig {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut out = s.serialize_struct("DatabaseConfig", 1)?;
        match &self.url {
            Some(url) => out.serialize_field("url", &mask_password(url.expose()))?,
            None => out.serialize_field("path", &self.path)?,
        }
        out.end()
    }
}

/// `[node]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// This node's name in logs, `status`, metrics and on the jobs it holds; default the
    /// host name. Each node sharing a database needs its own, kept across restarts.
    pub name: String,
    /// Seconds the leader lease (the poller's) lasts without renewal; renewed every third
    /// of it. Another node takes the singleton duties over this long after the leader
    /// stops.
    pub lease_secs: u64,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            name: default_node_name(),
            lease_secs: 15,
        }
    }
}

/// `[log]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// Level or `tracing` filter directive (`info`, `debug`, `chat2desk_b24=debug`); `RUST_LOG`
    /// overrides it.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
        }
    }
}

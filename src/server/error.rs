//! Why the HTTP server could not start.

use std::net::SocketAddr;

/// A failure to start the webhook/metrics server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A listener could not bind its address.
    #[error("cannot listen on {address} ([server] {key}): {source}")]
    Bind {
        /// The config key naming the address.
        key: &'static str,
        /// The address.
        address: SocketAddr,
        /// The socket error.
        source: std::io::Error,
    },
    /// A value of `[server]` is unusable.
    #[error("[server] {key}: {detail}")]
    Config {
        /// The config key.
        key: String,
        /// What is wrong.
        detail: String,
    },
}

impl ServerError {
    /// True when trying again later may help (the address is in use by a process that is
    /// going away); configuration problems are permanent.
    pub fn is_transient(&self) -> bool {
        matches!(self, ServerError::Bind { source, .. } if source.kind() == std::io::ErrorKind::AddrInUse)
    }

    /// What the sysadmin should do.
    pub fn hint(&self) -> &'static str {
        match self {
            ServerError::Bind { source, .. } if source.kind() == std::io::ErrorKind::AddrInUse => {
                "another process uses this port (`ss -ltnp` shows which); stop it or change \
                 [server] listen / metrics_listen"
            }
            ServerError::Bind { .. } => {
                "use an address of this host (usually 127.0.0.1:<port> behind nginx) and a \
                 port above 1023, or set [server] listen = \"\" to turn the server off"
            }
            ServerError::Config { .. } => {
                "fix the key in the config file, then `chat2desk-b24 check`"
            }
        }
    }
}

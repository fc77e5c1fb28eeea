//! The server's settings, from `[server]` plus limits that tests may shorten.

use super::ServerError;
use crate::config::{Cidr, ServerConfig};
use std::net::SocketAddr;
use std::time::Duration;

/// Everything the server needs besides its routes.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Webhook listener (`None` = off).
    pub listen: Option<SocketAddr>,
    /// Separate listener for `/healthz` and `/metrics` (`None` = served on `listen`).
    pub metrics_listen: Option<SocketAddr>,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<Cidr>,
    /// Networks allowed to post webhooks; empty = any.
    pub allow_from: Vec<Cidr>,
    /// Largest body accepted (413 above).
    pub max_body: usize,
    /// Time a client gets to send the request headers.
    pub header_timeout: Duration,
    /// Time a client gets to send the body once the headers arrived (408 after).
    pub body_timeout: Duration,
    /// How long the group commit waits for more deliveries before committing.
    pub batch_window: Duration,
    /// Most deliveries in one transaction.
    pub batch_max: usize,
    /// How long shutdown waits for requests in flight.
    pub drain_timeout: Duration,
}

impl ServerSettings {
    /// Settings from `[server]` with the default limits (1 MiB bodies, 10 s header and body
    /// timeouts, 2 ms / 64 deliveries per commit).
    pub fn from_config(c: &ServerConfig) -> Result<Self, ServerError> {
        let addr = |key: &str, text: &str| -> Result<Option<SocketAddr>, ServerError> {
            let text = text.trim();
            if text.is_empty() {
                return Ok(None);
            }
            text.parse().map(Some).map_err(|_| ServerError::Config {
                key: key.into(),
                detail: format!("`{text}` is not an ip:port address"),
            })
        };
        let nets = |key: &str, list: &[String]| {
            Cidr::parse_all(list).map_err(|e| ServerError::Config {
                key: key.into(),
                detail: e.to_string(),
            })
        };
        Ok(Self {
            listen: addr("listen", &c.listen)?,
            metrics_listen: addr("metrics_listen", c.metrics_listen.as_deref().unwrap_or(""))?,
            trusted_proxies: nets("trusted_proxies", &c.trusted_proxies)?,
            allow_from: nets("allow_from", &c.allow_from)?,
            max_body: 1 << 20,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            batch_window: Duration::from_millis(2),
            batch_max: 64,
            drain_timeout: Duration::from_secs(15),
        })
    }
}

//! `[server]` (the one HTTP server: listeners, limits, `/files/`) and `[bizproc]` (the
//! business-process action).

use super::secret::Secret;
use serde::{Deserialize, Serialize};

/// `[server]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// `host:port` of the webhook listener (plain HTTP behind the reverse proxy); `""` = off.
    pub listen: String,
    /// `host:port` serving `/healthz` and `/metrics` only (keep it on loopback); unset = on
    /// `listen`.
    pub metrics_listen: Option<String>,
    /// The secret in the webhook URL `/webhook/<secret>`. Secret; empty = webhooks refused.
    pub webhook_secret: Secret,
    /// Peers (IPs or CIDRs) whose `X-Forwarded-For` is believed for the client address.
    pub trusted_proxies: Vec<String>,
    /// Networks allowed to call the webhook (IPs or CIDRs); empty = anyone with the secret.
    pub allow_from: Vec<String>,
    /// `/healthz` fails when the last successful poll is older than this many seconds;
    /// 0 = three schedule periods plus a minute.
    pub health_max_poll_age_secs: u64,
    /// The reverse proxy's internet address of this listener, e.g.
    /// `https://c2d.example.com`; operators' files are re-hosted under
    /// `<public_url>/files/<token>` for Chat2Desk to fetch. Unset = the portal's links are sent.
    pub public_url: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8089".into(),
            metrics_listen: None,
            webhook_secret: Secret::default(),
            trusted_proxies: vec!["127.0.0.1/32".into(), "::1/128".into()],
            allow_from: Vec::new(),
            health_max_poll_age_secs: 0,
            public_url: None,
        }
    }
}

/// How the file links of a business-process send reach the client.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum FileMode {
    /// The first image goes as the message's `attachment` and the first PDF as its `pdf`
    /// (the two media `POST /messages` takes); other links go into the text.
    #[default]
    Attach,
    /// Every link goes into the text (for channels that refuse media by URL).
    Links,
}

/// `[bizproc]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BizprocConfig {
    /// Shared secret of the portal's activity (`auth[application_token]`), at least 16
    /// characters. Secret; empty = `POST /bizproc/send` is off.
    pub secret: Secret,
    /// New clients (who never wrote) messaged per day at most; 0 = no limit. The seed's
    /// advice against WhatsApp spam bans is 20.
    pub write_first_daily_limit: u32,
    /// How file links are sent.
    pub files: FileMode,
    /// The daemon's address as the portal's web server reaches it, e.g.
    /// `http://10.0.0.5:8089`; `""` = `http://` + `[server] listen`. Written into the
    /// activity's settings by `bizproc install`.
    pub daemon_url: String,
    /// How long the activity waits for the result before it fails, in seconds.
    pub wait_timeout_secs: u64,
}

impl Default for BizprocConfig {
    fn default() -> Self {
        Self {
            secret: Secret::default(),
            write_first_daily_limit: 20,
            files: FileMode::Attach,
            daemon_url: String::new(),
            wait_timeout_secs: 3600,
        }
    }
}

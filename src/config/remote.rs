//! The two remote services' sections: `[chat2desk]` (the API), `[bitrix24]` (the portal's
//! inbound webhook) and `[bitrix24.app]` (the local application of the Open Lines bridge).

use super::secret::Secret;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// `[chat2desk]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Chat2DeskConfig {
    /// API base URL without `/v1`, e.g. `https://api.chat2desk.com`.
    pub api_url: String,
    /// API token (Settings → API in the Chat2Desk admin UI). Secret.
    pub token: Secret,
    /// Base URL of the Chat2Desk web app for links to a chat; `None` = `companies/api_info`
    /// → `domain_urls[0]`, falling back to `https://web.chat2desk.com`.
    pub web_url: Option<String>,
    /// Client-side request budget (requests per second; 0 = unlimited).
    pub requests_per_second: f64,
    /// Per-call timeout in seconds.
    pub timeout_secs: u64,
    /// Time zone assumed for API timestamps that carry none (the docs are unsure: UTC or the
    /// account's zone). IANA name.
    pub naive_timezone: String,
}

impl Default for Chat2DeskConfig {
    fn default() -> Self {
        Self {
            api_url: "https://api.chat2desk.com".into(),
            token: Secret::default(),
            web_url: None,
            requests_per_second: 5.0,
            timeout_secs: 30,
            naive_timezone: "UTC".into(),
        }
    }
}

/// `[bitrix24]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Bitrix24Config {
    /// Inbound webhook URL `https://portal/rest/<user>/<secret>/`. Secret: its path is the key.
    pub webhook_url: Secret,
    /// Optional PEM file with the CA (or certificate) of a self-signed portal.
    pub ca_file: Option<PathBuf>,
    /// Request budget towards the portal (0 = unlimited).
    pub requests_per_second: f64,
    /// Burst size of the portal request budget.
    pub burst: u32,
    /// Per-call timeout in seconds.
    pub timeout_secs: u64,
    /// `[bitrix24.app]`: the portal's local application (needed by `[openlines]`).
    pub app: Option<AppConfig>,
}

impl Default for Bitrix24Config {
    fn default() -> Self {
        Self {
            webhook_url: Secret::default(),
            ca_file: None,
            requests_per_second: 2.0,
            burst: 50,
            timeout_secs: 60,
            app: None,
        }
    }
}

/// `[bitrix24.app]`: the local application a portal administrator creates once («uses API
/// only») and authorises once at `<daemon_url>/bitrix24/connect`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AppConfig {
    /// `client_id` from the local application's form (`local.…`).
    pub client_id: String,
    /// `client_secret` from the same form. Secret.
    pub client_secret: Secret,
    /// The OAuth server; the token endpoint is `<oauth_url>/oauth/token/`.
    pub oauth_url: String,
    /// How administrators' browsers reach this daemon on the LAN; the application's handler
    /// URL is `<daemon_url>/bitrix24/app`.
    pub daemon_url: String,
}

impl Default for AppConfig {
    fn default() -> Self {
        Self {
            client_id: String::new(),
            client_secret: Secret::default(),
            oauth_url: "https://oauth.bitrix.info".into(),
            daemon_url: String::new(),
        }
    }
}

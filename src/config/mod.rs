//! Configuration: typed sections, layered loading (defaults < TOML < env) and validation.
//!
//! Keys and their names are a contract with sysadmins and with independent test suites:
//! rename nothing without a migration note in the README.
//!
//! The lowest floor: imports nothing of ours.

mod cidr;
mod derived;
mod env;
mod expect;
mod hours;
mod keys;
mod load;
mod location;
mod openlines;
mod problem;
mod rules;
mod schedule;
mod secret;
mod syntax;
mod typecheck;
mod urls;
mod validate;

pub use cidr::{Cidr, CidrError};
pub use env::{ENV_PREFIX, NON_CONFIG_ENV_VARS};
pub use hours::WorkingHours;
pub(crate) use keys::{KeyTable, SECRET_KEYS};
pub use load::{load, load_from_str, Loaded};
pub use location::{default_node_name, Location};
pub use problem::{ConfigError, Problem};
pub use rules::{
    source_known, CrmFilter, EscalationConfig, FieldRule, Notify, ResponsiblePick, TagRef, TagRule,
    CLIENT_FIELDS,
};
pub use secret::{constant_time_eq, Secret};
pub use urls::{database_url_problems, mask_password};
pub use validate::{validate, warnings, MIN_MAX_BYTES};

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Default location of the configuration file.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/chat2desk-b24/config.toml";

/// The whole configuration file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[chat2desk]`: the Chat2Desk API.
    pub chat2desk: Chat2DeskConfig,
    /// `[bitrix24]`: the portal's inbound webhook.
    pub bitrix24: Bitrix24Config,
    /// `[crm]`: how requests map to CRM entities.
    pub crm: CrmConfig,
    /// `[sync]`: polling and the worker.
    pub sync: SyncConfig,
    /// `[database]`: the state database.
    pub database: DatabaseConfig,
    /// `[node]`: this daemon among several sharing one database.
    pub node: NodeConfig,
    /// `[log]`: logging.
    pub log: LogConfig,
    /// `[server]`: the webhook, health and metrics HTTP server.
    pub server: ServerConfig,
    /// `[bizproc]`: the business-process action «Написать сообщение на номер».
    pub bizproc: BizprocConfig,
    /// `[openlines]`: Chat2Desk channels bridged into Bitrix24 Open Lines.
    pub openlines: OpenlinesConfig,
    /// `[escalation]`: a notice when a client waits for an answer; off when absent.
    pub escalation: Option<EscalationConfig>,
}

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

/// Whether an operator's name (Bitrix's signature `[b]Name:[/b]`) is kept in the text the
/// client gets.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum OperatorName {
    /// `Name: text`.
    #[default]
    Keep,
    /// The text alone.
    Drop,
}

/// `[openlines]`: the Open Lines bridge; off while `lines` is empty.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OpenlinesConfig {
    /// The `imconnector` ID (letters, digits and `_` only).
    pub connector: String,
    /// How often operators' replies are fetched (`event.offline.get`), in milliseconds.
    pub events_poll_ms: u64,
    /// The operator's name in the text the client gets.
    pub operator_name: OperatorName,
    /// `[[openlines.lines]]`: which Chat2Desk channels go to which line.
    pub lines: Vec<LineConfig>,
}

impl Default for OpenlinesConfig {
    fn default() -> Self {
        Self {
            connector: "chat2desk".into(),
            events_poll_ms: 1000,
            operator_name: OperatorName::Keep,
            lines: Vec::new(),
        }
    }
}

impl OpenlinesConfig {
    /// True when at least one line is configured.
    pub fn enabled(&self) -> bool {
        !self.lines.is_empty()
    }

    /// The line a Chat2Desk channel belongs to.
    pub fn line_of(&self, channel: i64) -> Option<i64> {
        self.lines
            .iter()
            .find(|l| l.channels.contains(&channel))
            .map(|l| l.line)
    }
}

/// One `[[openlines.lines]]` entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LineConfig {
    /// The Open Line id (Contact Center).
    pub line: i64,
    /// Chat2Desk channel ids; a channel belongs to one line at most.
    pub channels: Vec<i64>,
}

/// Which CRM entities a request lands in (the seed app's "integration type").
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Integration {
    /// Leads: a new client gets a lead.
    #[default]
    Lead,
    /// Contact + Deal: a new client gets a contact and a deal.
    ContactDeal,
    /// Open Lines lead generation: known clients keep their contact/deal/lead, new ones get a lead.
    OpenlinesLead,
}

/// A Chat2Desk operator, named by id or by e-mail in `[[crm.operators]]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum OperatorRef {
    /// Chat2Desk operator id.
    Id(i64),
    /// Chat2Desk operator e-mail.
    Email(String),
}

/// One `[[crm.operators]]` entry: a Chat2Desk operator and the portal user standing for them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OperatorMapping {
    /// The Chat2Desk operator (id or e-mail).
    pub chat2desk: OperatorRef,
    /// The Bitrix24 user id.
    pub bitrix24: i64,
}

/// `[crm]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CrmConfig {
    /// Integration type.
    pub integration: Integration,
    /// `SOURCE_ID` of new entities (a `SOURCE` status id).
    pub source: String,
    /// Portal user ids; a new entity of an unmapped operator gets a random one of them.
    pub default_responsibles: Vec<i64>,
    /// Deal pipeline (`CATEGORY_ID`) for contact + deal.
    pub deal_category: i64,
    /// IANA time zone used to print times in transcripts.
    pub timezone: String,
    /// Explicit operator → portal user mapping.
    pub operators: Vec<OperatorMapping>,
    /// Contact + deal: when all the contact's deals are closed, create a new one (else comment
    /// on the contact).
    pub new_deal_when_closed: bool,
    /// Largest comment in bytes before a transcript is split into parts.
    pub max_comment_bytes: usize,
    /// How a new entity's responsible is picked among `default_responsibles`.
    pub responsible_pick: ResponsiblePick,
    /// `[crm.filter]`: which closed requests are synced.
    pub filter: CrmFilter,
    /// `[[crm.fields]]`: Chat2Desk values copied into CRM fields.
    pub fields: Vec<FieldRule>,
    /// `[[crm.tag_rules]]`: tags that set entity fields.
    pub tag_rules: Vec<TagRule>,
}

impl Default for CrmConfig {
    fn default() -> Self {
        Self {
            integration: Integration::Lead,
            source: "OTHER".into(),
            default_responsibles: Vec::new(),
            deal_category: 0,
            timezone: "Europe/Moscow".into(),
            operators: Vec::new(),
            new_deal_when_closed: true,
            max_comment_bytes: 10_000,
            responsible_pick: ResponsiblePick::Random,
            filter: CrmFilter::default(),
            fields: Vec::new(),
            tag_rules: Vec::new(),
        }
    }
}

/// How the poller discovers closed requests.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum PollStrategy {
    /// Scan new messages by id cursor, then ask which of their requests are closed.
    #[default]
    Messages,
    /// Scan closed dialogs and take each one's last request.
    Dialogs,
    /// No polling (webhooks only).
    Off,
}

/// `[sync]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SyncConfig {
    /// Cron expression with seconds (`sec min hour day month weekday`).
    pub schedule: String,
    /// Poll strategy.
    pub poll_strategy: PollStrategy,
    /// Overlap window in seconds re-read on every poll.
    pub overlap_secs: u64,
    /// Requests processed at once.
    pub workers: usize,
    /// Attempts before a job with transient errors goes to dead.
    pub max_attempts: u32,
    /// First retry delay in seconds (doubles per attempt, with jitter).
    pub backoff_base_secs: u64,
    /// Retry delay cap in seconds.
    pub backoff_max_secs: u64,
    /// Lease of a running job in seconds, renewed every third of it while the job works: a
    /// crashed worker's (or dead node's) job runs again after it.
    pub lease_secs: u64,
    /// While webhooks bring the closed requests and the last poll found nothing they had
    /// not, poll only once per this many seconds (a safety poll); 0 = always on `schedule`.
    pub webhook_poll_secs: u64,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            schedule: "0 * * * * *".into(),
            poll_strategy: PollStrategy::Messages,
            overlap_secs: 300,
            workers: 32,
            max_attempts: 30,
            backoff_base_secs: 5,
            backoff_max_secs: 900,
            lease_secs: 30,
            webhook_poll_secs: 900,
        }
    }
}

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

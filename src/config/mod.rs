//! Configuration: typed sections, layered loading (defaults < TOML < env) and validation.
//!
//! Keys and their names are a contract with sysadmins and with independent test suites:
//! rename nothing without a migration note in the README.
//!
//! The lowest floor: imports nothing of ours.

mod card;
mod cidr;
mod crm;
mod derived;
mod env;
mod expect;
mod hours;
mod keys;
mod lines;
mod load;
mod location;
mod node;
mod openlines;
mod problem;
mod remote;
mod rules;
mod schedule;
mod secret;
mod server;
mod sync;
mod syntax;
mod typecheck;
mod urls;
mod validate;

pub use card::{CardConfig, CARD_ENTITIES};
pub use cidr::{Cidr, CidrError};
pub use crm::{CrmConfig, Integration, OperatorMapping, OperatorRef};
pub use env::{ENV_PREFIX, NON_CONFIG_ENV_VARS};
pub use hours::WorkingHours;
pub(crate) use keys::{KeyTable, SECRET_KEYS};
pub use lines::{line_of, LineConfig, OpenlinesConfig, OperatorName};
pub use load::{load, load_from_str, Loaded};
pub use location::{default_node_name, Location};
pub use node::{DatabaseConfig, LogConfig, NodeConfig};
pub use problem::{ConfigError, Problem};
pub use remote::{AppConfig, Bitrix24Config, Chat2DeskConfig};
pub use rules::{
    source_known, CrmFilter, EscalationConfig, FieldRule, Notify, ResponsiblePick, TagRef, TagRule,
    CLIENT_FIELDS,
};
pub use secret::{constant_time_eq, random_token, Secret};
pub use server::{BizprocConfig, FileMode, ServerConfig};
pub use sync::{PollStrategy, SyncConfig};
pub use urls::{database_url_problems, mask_password};
pub use validate::{validate, warnings, MIN_MAX_BYTES};

use serde::{Deserialize, Serialize};

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
    /// `[card]`: the Chat2Desk tab in CRM cards; off when absent.
    pub card: Option<CardConfig>,
    /// `[escalation]`: a notice when a client waits for an answer; off when absent.
    pub escalation: Option<EscalationConfig>,
}

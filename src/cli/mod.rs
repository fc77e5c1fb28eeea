//! The command line: clap definitions and one thin function per subcommand. The top floor:
//! may import everything.

mod backfill;
pub mod bizproc;
mod check;
mod demo;
mod demo_card;
mod demo_lines;
mod demo_rules;
mod directory;
mod docs;
mod openlines;
mod retry;
mod send;
mod send_daemon;
mod setup;
mod sim;
mod status;
mod store;
mod webhook;

pub use backfill::backfill;
pub use check::check;
pub use demo::demo;
pub use directory::{channels, operators};
pub use docs::{config_keys, gen_completions, gen_man};
pub use openlines::{app_connect, app_status, openlines};
pub use retry::retry;
pub use send::{dry_run as send_dry_run, send, SendArgs};
pub use send_daemon::{send_via_daemon, ViaDaemon};
pub use setup::setup;
pub use sim::{sim, sim_action, SimAction};
pub use status::{status, status_unreadable};
pub use store::{store_backup, store_migrate};
pub use webhook::{webhook_delete, webhook_set, webhook_show, WEBHOOK_EVENTS, WEBHOOK_NAME};

use crate::config::DEFAULT_CONFIG_PATH;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

/// chat2desk-b24: closed Chat2Desk requests become timeline transcripts in an on-premise
/// Bitrix24 portal.
#[derive(Debug, Parser)]
#[command(name = "chat2desk-b24", version, about, long_about = None)]
pub struct Cli {
    /// Configuration file.
    #[arg(short, long, global = true, default_value = DEFAULT_CONFIG_PATH)]
    pub config: PathBuf,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: poll Chat2Desk, sync closed requests to the portal (systemd: Type=notify).
    Run,
    /// Check the config, the Chat2Desk token, the portal webhook and its scopes, the CRM source,
    /// the mapped and default users and the database; one line per problem, exit 1 on any.
    Check {
        /// Only the config file and the database (no network); used by ExecStartPre/ExecReload.
        #[arg(long)]
        offline: bool,
    },
    /// Guided first configuration on a terminal: the token, the webhook, the state database
    /// (each checked as it is given, with a way back), then integration type, source, default
    /// responsibles and operator mapping chosen from what the two services list; edits the
    /// config file in place (comments kept), then runs `check`.
    Setup {
        /// Take the answers from this TOML file instead of asking (automation): api_url, token,
        /// webhook_url, database_path, integration, source, default_responsibles, operators,
        /// secrets_in_files.
        #[arg(long, value_name = "FILE")]
        answers: Option<PathBuf>,
    },
    /// Queue counts, last poll, oldest pending job, the last errors, and the nodes sharing
    /// the database (who leads, last heartbeats). Read-only; exit 0 healthy, 1 degraded (dead
    /// jobs or a stale poll), 2 the configuration or the state database cannot be read.
    Status {
        /// Print one JSON object (a versioned shape, docs/status-json.md) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Work on the state database itself.
    Store {
        /// What to do.
        #[command(subcommand)]
        action: StoreAction,
    },
    /// Queue a request again (done or dead), or every dead one.
    Retry {
        /// Chat2Desk request id.
        #[arg(required_unless_present = "dead", conflicts_with = "dead")]
        request_id: Option<i64>,
        /// Every dead request.
        #[arg(long)]
        dead: bool,
    },
    /// Queue every request closed since a date (the running service then syncs them).
    Backfill {
        /// First day, `YYYY-MM-DD` (in `[crm] timezone`).
        #[arg(long)]
        since: chrono::NaiveDate,
    },
    /// Chat2Desk operators with their mapped or e-mail-matched portal user.
    Operators,
    /// Chat2Desk channels.
    Channels,
    /// Register or show the Chat2Desk webhook pointing at this daemon.
    Webhook {
        /// What to do.
        #[command(subcommand)]
        action: WebhookAction,
    },
    /// Send one message through the business-process path (queue, Chat2Desk), printing the
    /// result: a sysadmin's first test of `[bizproc]` (with --via-daemon, through the running
    /// daemon's listener as the portal's activity sends it).
    Send {
        /// Chat2Desk channel id (`chat2desk-b24 channels` lists them).
        #[arg(long)]
        channel: i64,
        /// The client's phone, e.g. +79161234567.
        #[arg(long)]
        phone: String,
        /// Message text.
        #[arg(long, default_value = "")]
        text: String,
        /// A direct link to a file (repeat for several).
        #[arg(long = "file")]
        files: Vec<String>,
        /// Transport (whatsapp, viber, telegram…); default: the client's, else the channel's first.
        #[arg(long)]
        transport: Option<String>,
        /// Only say what would happen (the channel, an existing client or a new one); asks
        /// Chat2Desk read-only questions and queues, creates and sends nothing.
        #[arg(long, conflicts_with = "via_daemon")]
        dry_run: bool,
        /// Post the call to the running daemon's listener exactly as the portal's activity
        /// does ([bizproc] daemon_url, else [server] listen; the [bizproc] secret), then follow
        /// the job it queued: tests the address, the secret and the whole send path.
        #[arg(long)]
        via_daemon: bool,
    },
    /// Install or remove the business-process action «Написать сообщение на номер» in the
    /// portal's document root.
    Bizproc {
        /// What to do.
        #[command(subcommand)]
        action: BizprocAction,
    },
    /// The portal's local application (`[bitrix24.app]`) of the Open Lines bridge.
    App {
        /// What to do.
        #[command(subcommand)]
        action: AppAction,
    },
    /// The Open Lines bridge: each line, its channels and status, lines switched off or
    /// disconnected on the portal, messages each way today and the last error.
    Openlines {
        /// Connect again a line an administrator disconnected on the portal (the daemon sets
        /// it up on its next start or reload).
        #[arg(long, value_name = "LINE")]
        reconnect: Option<i64>,
    },
    /// Print the effective config (secrets as ***).
    Config {
        /// Print instead every key the configuration accepts, `section.key` one a line (each
        /// has an entry in chat2desk-b24.toml(5)); reads no file.
        #[arg(long)]
        keys: bool,
    },
    /// Run the whole pipeline against built-in simulators and print what the portal got.
    Demo,
    /// Run both simulators, Chat2Desk and a portal, seeded with a demo company, to try
    /// everything on one machine (docs/first-transcript.md); its subcommands drive the
    /// running simulators. Prints their addresses as JSON lines, a guide on stderr.
    Sim {
        /// Chat2Desk simulator address (API under /v1/).
        #[arg(
            long,
            global = true,
            env = "CHAT2DESK_SIM_ADDR",
            default_value = "127.0.0.1:18080"
        )]
        chat2desk: SocketAddr,
        /// Portal simulator address (inbound webhook under /rest/1/<secret>/).
        #[arg(
            long,
            global = true,
            env = "PORTAL_SIM_ADDR",
            default_value = "127.0.0.1:18081"
        )]
        portal: SocketAddr,
        /// The Chat2Desk API token the simulator accepts.
        #[arg(long, default_value = sim::SIM_TOKEN)]
        token: String,
        /// The secret in the portal's inbound webhook URL.
        #[arg(long, default_value = sim::SIM_SECRET)]
        secret: String,
        /// Drive the running simulators instead of starting them.
        #[command(subcommand)]
        action: Option<SimAction>,
    },
    /// Write the man pages into a directory (packaging).
    #[command(hide = true)]
    GenMan {
        /// Output directory.
        dir: PathBuf,
    },
    /// Write bash, zsh and fish completions into a directory (packaging).
    #[command(hide = true)]
    GenCompletions {
        /// Output directory.
        dir: PathBuf,
    },
}

/// `app` subcommands.
#[derive(Debug, Subcommand)]
pub enum AppAction {
    /// Print the address a portal administrator opens to connect the application.
    Connect,
    /// Who authorised the application, when, its scopes and the token's expiry; exit 1 when
    /// it is not connected or the grant was revoked.
    Status,
}

/// `store` subcommands.
#[derive(Debug, Subcommand)]
pub enum StoreAction {
    /// Copy this host's SQLite state ([database] path: queue, watermarks, candidates, client
    /// claims and records) into an empty MySQL/MariaDB database, for two or more nodes. Stop
    /// the daemon first.
    Migrate {
        /// The target, `mysql://user:password@host:3306/database` (an empty database).
        #[arg(long)]
        to: String,
    },
    /// Copy the SQLite state ([database] path) into FILE while the daemon runs (a consistent
    /// copy a daemon starts from); for MySQL/MariaDB use `mariadb-dump --single-transaction`.
    Backup {
        /// The new file to write (it must not exist).
        file: PathBuf,
    },
}

/// `bizproc` subcommands.
#[derive(Debug, Subcommand)]
pub enum BizprocAction {
    /// Copy the activity into DIR/local/activities/custom/chat2desksend/ with its settings
    /// (daemon URL, [bizproc] secret) readable only by the web server; re-run to upgrade.
    Install {
        /// The portal's document root (the folder holding bitrix/), e.g. /home/bitrix/www.
        #[arg(long)]
        docroot: PathBuf,
        /// The daemon's URL as the portal's web server reaches it (default: [bizproc]
        /// daemon_url, else http://[server] listen).
        #[arg(long)]
        url: Option<String>,
        /// Owner of the settings file, `user[:group]` (default: the owner of DIR/bitrix).
        #[arg(long)]
        owner: Option<String>,
    },
    /// Remove the activity (and the folders its install created).
    Uninstall {
        /// The portal's document root.
        #[arg(long)]
        docroot: PathBuf,
    },
}

/// `webhook` subcommands.
#[derive(Debug, Subcommand)]
pub enum WebhookAction {
    /// Register `<public url>/webhook/<secret>` for close_request, close_dialog and
    /// client_updated, plus inbox with Open Lines (updates the existing chat2desk-b24 hook
    /// instead of adding a second one).
    Set {
        /// The public HTTPS base URL of the reverse proxy, e.g. https://c2d.example.com.
        public_url: String,
    },
    /// List the company's webhooks, secrets masked, marking ours and the events it lacks.
    Show {
        /// One JSON array instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Remove this daemon's webhook (the one `set` registered), e.g. before uninstalling.
    Delete,
}

//! The daemon: everything `run`, `demo`, tests and commands start from a config.
//!
//! - `daemon`: the wiring (store, clients, worker, poller, server routes), readiness,
//!   watchdog and status, reload on SIGHUP;
//! - `jobs`: the rules the jobs read (one live value, swapped whole on reload) and the job kinds
//!   the worker runs;
//! - `logging`, `notify`, `signals`: journald or terminal logs, sd-notify, SIGTERM/SIGHUP.
//!
//! May import every floor below: config, http, store, metrics, chat2desk, portal, engine, server,
//! flows.

mod daemon;
mod jobs;
mod logging;
mod notify;
mod reload;
mod signals;

pub use daemon::{build, build_beside, open_existing_store, open_store, run, Daemon};
pub use jobs::{registry, rules, Rules};
pub use logging::{init_logging, LogHandle};
pub use notify::Notifier;
pub use signals::{spawn_signal_handler, Signals};

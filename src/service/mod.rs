//! Running as a service: logging (journald or terminal), sd-notify readiness, watchdog and
//! status, signals (SIGTERM drains, SIGHUP reloads), and the daemon's wiring.

mod daemon;
mod leadership;
mod logging;
mod notify;
mod signals;

pub use daemon::{build, build_beside, open_existing_store, open_store, run, Daemon};
pub use leadership::Leadership;
pub use logging::{init_logging, LogHandle};
pub use notify::Notifier;
pub use signals::{spawn_signal_handler, Signals};

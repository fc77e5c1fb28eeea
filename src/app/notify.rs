//! sd-notify: READY, STATUS, WATCHDOG and STOPPING messages to systemd (no-ops elsewhere).

use sd_notify::NotifyState;
use std::time::Duration;

/// Talks to systemd's notify socket when there is one.
#[derive(Debug, Clone, Copy, Default)]
pub struct Notifier;

impl Notifier {
    /// Tells systemd the service is ready (config valid, database migrated, listeners bound).
    pub fn ready(&self, status: &str) {
        let _ = sd_notify::notify(false, &[NotifyState::Ready, NotifyState::Status(status)]);
    }

    /// Updates the one-line status `systemctl status` shows.
    pub fn status(&self, status: &str) {
        let _ = sd_notify::notify(false, &[NotifyState::Status(status)]);
    }

    /// Feeds the watchdog.
    pub fn watchdog(&self) {
        let _ = sd_notify::notify(false, &[NotifyState::Watchdog]);
    }

    /// Tells systemd a reload is under way / done.
    pub fn reloading(&self, done: bool) {
        let state = if done {
            NotifyState::Ready
        } else {
            NotifyState::Reloading
        };
        let _ = sd_notify::notify(false, &[state]);
    }

    /// Tells systemd the service is stopping.
    pub fn stopping(&self) {
        let _ = sd_notify::notify(false, &[NotifyState::Stopping]);
    }

    /// The watchdog interval systemd expects (`WatchdogSec=`), if enabled for this process.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        let mut usec = 0u64;
        if sd_notify::watchdog_enabled(false, &mut usec) && usec > 0 {
            Some(Duration::from_micros(usec))
        } else {
            None
        }
    }
}

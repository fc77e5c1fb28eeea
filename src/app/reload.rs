//! SIGHUP: the config file read again; what can change live is swapped in whole, what needs a
//! restart is named.

use super::{rules, Daemon, LogHandle};
use crate::config::Config;
use crate::flows::openlines::LineRules;
use std::path::Path;
use std::sync::Arc;

/// Re-reads the config file at `path` and applies what can change live; logs what needs a
/// restart. Returns the config that runs now.
pub(super) async fn reload(
    daemon: &Daemon,
    current: Config,
    path: &Path,
    log: &LogHandle,
) -> Config {
    let loaded = match crate::config::load(path) {
        Ok(loaded) => loaded,
        Err(e) => {
            tracing::error!(path = %path.display(), "Reload rejected, keeping the running config:\n{e}");
            return current;
        }
    };
    let new = loaded.config;
    daemon.rules.send_replace(Arc::new(rules(&new)));
    daemon.lines.send_replace(LineRules::new(&new));
    daemon.schedule.send_replace(new.schedule());
    if let Err(e) = log.set_level(&new.log.level) {
        tracing::error!(error = %e, "Cannot apply [log] level");
    }
    let needs_restart: Vec<&str> = [
        ("[chat2desk]", current.chat2desk != new.chat2desk),
        ("[bitrix24]", current.bitrix24 != new.bitrix24),
        ("[database]", current.database != new.database),
        ("[node]", current.node != new.node),
        ("[server]", current.server != new.server),
        (
            "[bizproc] secret",
            current.bizproc.secret != new.bizproc.secret,
        ),
        (
            "[sync] workers/max_attempts/backoff/lease/poll_strategy",
            current.sync.workers != new.sync.workers
                || current.sync.max_attempts != new.sync.max_attempts
                || current.sync.backoff_base_secs != new.sync.backoff_base_secs
                || current.sync.backoff_max_secs != new.sync.backoff_max_secs
                || current.sync.lease_secs != new.sync.lease_secs
                || current.sync.poll_strategy != new.sync.poll_strategy
                || current.sync.overlap_secs != new.sync.overlap_secs,
        ),
    ]
    .into_iter()
    .filter(|(_, changed)| *changed)
    .map(|(name, _)| name)
    .collect();
    if needs_restart.is_empty() {
        tracing::info!(
            "Reloaded the config: schedule, CRM rules, mapping, responsibles and log level applied"
        );
    } else {
        tracing::warn!(sections = %needs_restart.join(", "), "Reloaded the config; these changes need a restart (systemctl restart chat2desk-b24)");
    }
    // What runs now: the live parts of the new file, the rest of the running config (so the
    // next reload warns again about changes still waiting for a restart).
    Config {
        crm: new.crm,
        log: new.log,
        bizproc: crate::config::BizprocConfig {
            secret: current.bizproc.secret.clone(),
            ..new.bizproc
        },
        sync: crate::config::SyncConfig {
            schedule: new.sync.schedule,
            ..current.sync
        },
        ..current
    }
}

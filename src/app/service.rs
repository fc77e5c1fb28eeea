//! `run`: the daemon under systemd — [`Daemon::spawn`], then readiness, watchdog and
//! `STATUS=`, SIGHUP → [`Running::reload`], SIGTERM/SIGINT → [`Running::stop`].

use super::reload::read;
use super::{Daemon, LogHandle, Notifier, Running, Signals, SpawnOptions};
use crate::config::Config;
use crate::engine::Services;
use std::path::Path;
use std::time::Duration;
use tracing::Instrument;

/// How often `STATUS=` is refreshed.
const STATUS_EVERY: Duration = Duration::from_secs(10);

/// Runs the daemon of `config` until SIGTERM/SIGINT: every loop through [`Daemon::spawn`],
/// sd-notify readiness, watchdog and status, the file at `config_path` read again on SIGHUP.
/// Every log line names the node.
pub async fn run(
    config: Config,
    config_path: &Path,
    mut signals: Signals,
    log: LogHandle,
) -> anyhow::Result<()> {
    let notifier = Notifier;
    let shutdown = signals.shutdown.clone();
    let options = SpawnOptions {
        log: Some(log),
        ..SpawnOptions::default()
    };
    // The server is bound before READY=1, so systemd (and nginx behind it) only see a
    // listening daemon.
    let mut running = Daemon::spawn(config, options, shutdown.clone()).await?;
    let span = tracing::info_span!("node", node = %running.services().store.node());
    async {
        let services = running.services().clone();
        let status = status_line(&services).await;
        notifier.ready(&status);
        tracing::info!(status = %status, "Started");
        let watchdog = notifier.watchdog_interval();
        let every = watchdog.map(|w| w / 3).unwrap_or(STATUS_EVERY);
        let mut heartbeat = tokio::time::interval(every.min(STATUS_EVERY));
        let mut last_status = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                Some(()) = signals.reload.recv() => {
                    notifier.reloading(false);
                    if let Some(new) = read(config_path) {
                        running.reload(new);
                    }
                    notifier.reloading(true);
                }
                _ = heartbeat.tick() => {
                    if let Some(interval) = watchdog {
                        if healthy(&services, interval).await {
                            notifier.watchdog();
                        } else {
                            tracing::error!("Worker loop or state database stuck: not feeding the watchdog");
                        }
                    }
                    if last_status.elapsed() >= STATUS_EVERY {
                        notifier.status(&status_line(&services).await);
                        last_status = tokio::time::Instant::now();
                    }
                }
            }
        }
        notifier.stopping();
        tracing::info!("Stopping: waiting for jobs in flight");
        stop(running, &services).await;
    }
    .instrument(span)
    .await;
    Ok(())
}

/// Stops `running` and logs how many requests were synced since the start.
async fn stop(running: Running, services: &Services) {
    running.stop().await;
    tracing::info!(synced = services.stats.synced(), "Stopped");
}

/// True while the worker loop goes round and SQLite answers.
async fn healthy(services: &Services, interval: Duration) -> bool {
    // An idle worker goes round at least every second; allow three rounds of slack.
    let limit = interval.max(3 * crate::engine::IDLE_POLL);
    let loop_ok = services
        .stats
        .since_tick_ms()
        .is_some_and(|ms| (ms as u128) < limit.as_millis());
    loop_ok && services.store.ping().await.is_ok()
}

/// `STATUS=` text: queue depth and last sync.
async fn status_line(services: &Services) -> String {
    let counts = services.store.counts().await;
    let last = services
        .stats
        .last_sync_ms()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| "never".into());
    match counts {
        Ok(c) => format!(
            "queue: {} pending, {} running, {} dead; synced {} since start, last {last}",
            c.pending,
            c.running,
            c.dead,
            services.stats.synced()
        ),
        Err(e) => format!("state database error: {e}"),
    }
}

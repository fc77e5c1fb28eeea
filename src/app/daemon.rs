//! The daemon's wiring: store, clients, worker and poller, readiness, watchdog, reload.

use super::reload::reload;
use super::{registry, rules, Rules};
use super::{LogHandle, Notifier, Signals};
use crate::chat2desk::Directory;
use crate::chat2desk::{Chat2Desk, Chat2DeskOptions};
use crate::config::Config;
use crate::engine::HealthProbe;
use crate::engine::Inbox;
use crate::engine::Leadership;
use crate::engine::{Live, Services, Worker, WorkerSettings};
use crate::flows::bizproc::BizprocRoute;
use crate::flows::openlines::{AppPages, FileHost, LineInbox};
use crate::flows::openlines::{LineRules, LiveLines};
use crate::flows::transcript::intake::Poller;
use crate::flows::transcript::intake::{ChatWebhook, ChatWebhookParts};
use crate::http::Backoff;
use crate::metrics::Stats;
use crate::portal::{Bitrix24, Bitrix24Options};
use crate::server::{Observability, Router, ServerSettings, WebhookServer};
use crate::store::Store;
use anyhow::Context;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tracing::Instrument;

/// Meta key caching the Chat2Desk web app URL found through `api_info`.
const WEB_URL_KEY: &str = "chat2desk.web_url";
/// How often `STATUS=` is refreshed.
const STATUS_EVERY: Duration = Duration::from_secs(10);

/// Everything `run` needs, built from a config (also used by `demo` and tests).
#[derive(Debug)]
pub struct Daemon {
    /// Worker (holds the services).
    pub worker: Worker,
    /// Poller.
    pub poller: Poller,
    /// Sender for live rule changes.
    pub rules: watch::Sender<Arc<Rules>>,
    /// Sender for live schedule changes.
    pub schedule: watch::Sender<cron::Schedule>,
    /// Sender for live Open Lines changes (the server's and the poller's routing).
    pub lines: watch::Sender<LineRules>,
    /// The effective config.
    pub config: Config,
    /// Poked when jobs were queued (the worker wakes up at once).
    pub wake: Arc<Notify>,
    /// The heartbeat and leader-lease loop of this node.
    pub leadership: Leadership,
}

impl Daemon {
    /// The shared services.
    pub fn services(&self) -> &Arc<Services> {
        self.worker.services()
    }

    /// The health snapshot behind `/healthz` (database, worker loop, last poll).
    pub fn health(&self) -> HealthProbe {
        HealthProbe::new(self.services().clone(), &self.config)
    }

    /// The reader of operators' replies (run only while this node leads), when `[openlines]`
    /// has lines and `[bitrix24.app]` is configured.
    pub fn events_reader(&self) -> Option<crate::flows::openlines::EventsReader> {
        let openlines = &self.config.openlines;
        let app = self.services().app.clone()?;
        if openlines.lines.is_empty() {
            return None;
        }
        Some(crate::flows::openlines::EventsReader::new(
            app,
            self.services().store.clone(),
            openlines.connector.trim(),
            Duration::from_millis(openlines.events_poll_ms.max(100)),
            self.wake.clone(),
        ))
    }

    /// The routes of every flow on the one server: the Chat2Desk webhook, the
    /// business-process action, the local application's pages (with `[bitrix24.app]`), the
    /// re-hosted files, health and metrics.
    pub fn router(&self, settings: &ServerSettings) -> Router {
        let services = self.services().clone();
        let lines = LiveLines::from(&self.lines);
        let inbox: Arc<dyn Inbox> = Arc::new(LineInbox::new(services.store.clone(), lines.clone()));
        let webhook = ChatWebhookParts {
            secret: self.config.server.webhook_secret.clone(),
            services: services.clone(),
            inbox: Some(inbox),
            watch: Some(self.watch()),
            wake: self.wake.clone(),
            batch: (settings.batch_window, settings.batch_max),
        };
        let mut router = ChatWebhook::mount(webhook, Router::new());
        let secret = self.config.bizproc.secret.clone();
        router = BizprocRoute::mount(secret, services.clone(), self.wake.clone(), router);
        if let Some(app) = &self.config.bitrix24.app {
            router = AppPages::mount(app.clone(), services.clone(), lines, router);
        }
        router = FileHost::mount(services, router);
        Observability::mount(self.health(), router)
    }

    /// The escalation watch over the rules in force (a reload swaps them).
    fn watch(&self) -> Arc<dyn crate::engine::Watch> {
        let rules = self.rules.subscribe();
        super::jobs::watch(
            self.services().store.clone(),
            &Live::new(move || rules.borrow().clone()),
        )
    }

    /// Binds the webhook/metrics server of `[server]`; `None` when `listen` and
    /// `metrics_listen` are both empty.
    pub async fn bind_server(&self) -> anyhow::Result<Option<WebhookServer>> {
        let settings = ServerSettings::from_config(&self.config.server)?;
        if settings.listen.is_none() && settings.metrics_listen.is_none() {
            return Ok(None);
        }
        if settings.listen.is_some() && self.config.server.webhook_secret.is_empty() {
            tracing::warn!("[server] webhook_secret is empty: webhook deliveries are refused (404); set it and run `chat2desk-b24 webhook set <public url>`");
        }
        self.bind_server_with(settings).await.map(Some)
    }

    /// Binds the server with `settings` (tests shorten its limits) and every flow's routes.
    pub async fn bind_server_with(
        &self,
        settings: ServerSettings,
    ) -> anyhow::Result<WebhookServer> {
        let router = self.router(&settings);
        WebhookServer::bind(settings, router)
            .await
            .map_err(|e| anyhow::anyhow!("{e} ({})", e.hint()))
    }
}

/// Opens the database, makes jobs left running by a dead process due again, builds the
/// clients, the worker and the poller.
pub async fn build(config: Config) -> anyhow::Result<Daemon> {
    build_with(config, true).await
}

/// [`build`] for a command running next to the daemon (`send`): jobs the daemon is running
/// are left alone, and the command does not count as a node.
pub async fn build_beside(config: Config) -> anyhow::Result<Daemon> {
    build_with(config, false).await
}

async fn build_with(config: Config, node: bool) -> anyhow::Result<Daemon> {
    let store = open_store(&config).await?;
    let recovered = if node {
        store
            .register_node(env!("CARGO_PKG_VERSION"))
            .await
            .map_err(|e| anyhow::anyhow!("{e} ({})", e.hint()))?;
        store.recover_running().await?
    } else {
        0
    };
    if recovered > 0 {
        tracing::warn!(
            node = store.node(),
            jobs = recovered,
            "Jobs this node left running before a restart run again"
        );
    }
    let chat2desk = Chat2Desk::new(Chat2DeskOptions::from_config(&config.chat2desk))
        .context("[chat2desk] client")?;
    let portal = Bitrix24::new(Bitrix24Options::from_config(&config.bitrix24))
        .context("[bitrix24] client")?;
    let web_url = web_url(&chat2desk, &store, config.chat2desk.web_url.as_deref()).await;
    let app = match &config.bitrix24.app {
        Some(app) => Some(crate::portal::local_app::app_client(
            app,
            &store,
            &portal,
            Duration::from_secs(config.bitrix24.timeout_secs),
        )?),
        None => None,
    };
    let services = Arc::new(Services {
        app,
        store: store.clone(),
        chat2desk: chat2desk.clone(),
        portal,
        directory: Directory::new(web_url),
        stats: Stats::default(),
    });
    let (rules_tx, rules_rx) = watch::channel(Arc::new(rules(&config)));
    let (schedule_tx, _) = watch::channel(config.schedule());
    let (lines_tx, lines) = LiveLines::channel(LineRules::new(&config));
    let wake = Arc::new(Notify::new());
    let sync = &config.sync;
    let settings = WorkerSettings {
        workers: sync.workers,
        max_attempts: sync.max_attempts,
        backoff: Backoff::new(
            Duration::from_secs(sync.backoff_base_secs),
            Duration::from_secs(sync.backoff_max_secs),
        ),
        lease: Duration::from_secs(sync.lease_secs),
        drain_timeout: Duration::from_secs(20),
    };
    let live_rules = Live::new(move || rules_rx.borrow().clone());
    let watch = super::jobs::watch(store.clone(), &live_rules);
    let worker = Worker::new(
        services,
        Arc::new(registry(&live_rules)),
        settings,
        wake.clone(),
    );
    let leadership = Leadership::new(store.clone(), Duration::from_secs(config.node.lease_secs));
    let inbox = Arc::new(LineInbox::new(store.clone(), lines));
    let poller = Poller::new(
        chat2desk,
        store,
        sync.poll_strategy,
        Duration::from_secs(sync.overlap_secs),
        wake.clone(),
    )
    .with_webhook_poll(Some(Duration::from_secs(sync.webhook_poll_secs)))
    .with_inbox(inbox)
    .with_watch(watch);
    Ok(Daemon {
        worker,
        poller,
        rules: rules_tx,
        schedule: schedule_tx,
        lines: lines_tx,
        config,
        wake,
        leadership,
    })
}

/// Opens the store of `[database]` for `[node] name`; the error names the key in use.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let location = config.database.location();
    let opened = Store::connect(&location, &config.node.name).await;
    opened.map_err(|e| database_error(config, &e))
}

/// Opens the existing state database for a read-only command (`status`, `openlines`,
/// `app status`): nothing is created or migrated; a missing file is an error naming the key.
pub async fn open_existing_store(config: &Config) -> anyhow::Result<Store> {
    let location = config.database.location();
    let opened = Store::open_existing(&location, &config.node.name).await;
    opened.map_err(|e| database_error(config, &e))
}

/// The error of opening the database: the key, where it points, what failed and the fix.
fn database_error(config: &Config, e: &crate::store::StoreError) -> anyhow::Error {
    let key = if config.database.url.is_some() {
        "[database] url"
    } else {
        "[database] path"
    };
    let location = config.database.location();
    anyhow::anyhow!("{key} = {location:?}: {e} ({})", e.hint())
}

/// The chat link base: config, else `api_info` (cached in the database), else the default.
async fn web_url(chat2desk: &Chat2Desk, store: &Store, configured: Option<&str>) -> String {
    match Directory::discover_web_url(chat2desk, configured).await {
        Ok(url) => {
            let _ = store.set_meta(WEB_URL_KEY, &url).await;
            url
        }
        Err(e) => {
            let cached = store.meta(WEB_URL_KEY).await.ok().flatten();
            let url = cached.unwrap_or_else(|| crate::chat2desk::DEFAULT_WEB_URL.to_string());
            tracing::warn!(error = %e, web_url = %url, "Cannot read companies/api_info for the chat link base; set [chat2desk] web_url to silence this");
            url
        }
    }
}

/// Runs the daemon until SIGTERM/SIGINT: poller (while this node leads), worker, webhook
/// server, heartbeat, watchdog and status, reload on SIGHUP. Every log line names the node.
pub async fn run(
    daemon: Daemon,
    config_path: &Path,
    signals: Signals,
    log: LogHandle,
) -> anyhow::Result<()> {
    // journald: NODE=…; terminal: `node{node=…}:` in front of each line.
    let span = tracing::info_span!("node", node = %daemon.services().store.node());
    serve(daemon, config_path, signals, log)
        .instrument(span)
        .await
}

async fn serve(
    daemon: Daemon,
    config_path: &Path,
    mut signals: Signals,
    log: LogHandle,
) -> anyhow::Result<()> {
    let notifier = Notifier;
    let shutdown = signals.shutdown.clone();
    let services = daemon.services().clone();
    // Bound before READY=1, so systemd (and nginx behind it) only see a listening daemon.
    let server = daemon.bind_server().await?;
    let server_task = server.map(|s| tokio::spawn(s.run(shutdown.clone()).in_current_span()));
    let worker_task = tokio::spawn(
        daemon
            .worker
            .clone()
            .run(shutdown.clone())
            .in_current_span(),
    );
    let (leader_tx, leader_rx) = watch::channel(false);
    let leader_task = tokio::spawn(
        daemon
            .leadership
            .clone()
            .run(leader_tx, shutdown.clone())
            .in_current_span(),
    );
    let quota_task = tokio::spawn(
        crate::chat2desk::watch_chat2desk_quota(
            services.chat2desk.clone(),
            services.store.clone(),
            shutdown.clone(),
        )
        .in_current_span(),
    );
    let poller_task = tokio::spawn(
        daemon
            .poller
            .clone()
            .run(
                daemon.schedule.subscribe(),
                leader_rx.clone(),
                shutdown.clone(),
            )
            .in_current_span(),
    );
    let events_task = daemon.events_reader().map(|reader| {
        tokio::spawn(
            reader
                .run(leader_rx.clone(), shutdown.clone())
                .in_current_span(),
        )
    });
    set_up_lines(&daemon, &shutdown);
    let status = status_line(&services).await;
    notifier.ready(&status);
    tracing::info!(status = %status, "Started");
    let watchdog = notifier.watchdog_interval();
    let mut heartbeat = tokio::time::interval(
        watchdog
            .map(|w| w / 3)
            .unwrap_or(STATUS_EVERY)
            .min(STATUS_EVERY),
    );
    let mut last_status = tokio::time::Instant::now();
    let mut config = daemon.config.clone();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            Some(()) = signals.reload.recv() => {
                notifier.reloading(false);
                config = reload(&daemon, config, config_path, &log).await;
                // Lines taken out are switched off, new ones set up.
                set_up_lines(&daemon, &shutdown);
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
    if let Some(task) = server_task {
        let _ = task.await;
    }
    let _ = poller_task.await;
    if let Some(task) = events_task {
        let _ = task.await;
    }
    let _ = leader_task.await;
    let _ = worker_task.await;
    // Last: the calls of the drain and the last poll count too.
    if let Ok(counted) = quota_task.await {
        crate::chat2desk::add_remaining_calls(&services.chat2desk, &services.store, counted).await;
    }
    tracing::info!(synced = services.stats.synced(), "Stopped");
    Ok(())
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

/// Re-reads the config file and applies what can change live; logs what needs a restart.
/// Sets the Open Lines connector up for the live `[[openlines.lines]]` (and switches it off
/// on lines taken out), in the background, when `[bitrix24.app]` is configured.
fn set_up_lines(daemon: &Daemon, shutdown: &tokio_util::sync::CancellationToken) {
    if let Some(app) = &daemon.config.bitrix24.app {
        tokio::spawn(
            crate::flows::openlines::set_up_at_start(
                daemon.services().clone(),
                (*daemon.rules.borrow().lines).clone(),
                app.daemon_url.clone(),
                shutdown.clone(),
            )
            .in_current_span(),
        );
    }
}

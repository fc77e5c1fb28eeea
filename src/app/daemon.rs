//! The daemon's wiring: store, clients, worker and poller, the server's routes.

use super::jobs::part;
use super::{registry, rules, Rules};
use crate::chat2desk::Directory;
use crate::chat2desk::{Chat2Desk, Chat2DeskOptions};
use crate::config::Config;
use crate::engine::HealthProbe;
use crate::engine::Inbox;
use crate::engine::Leadership;
use crate::engine::{Live, Services, Worker, WorkerSettings};
use crate::flows::bizproc::BizprocRoute;
use crate::flows::card::{CardRoute, CardTab};
use crate::flows::openlines::LiveLines;
use crate::flows::openlines::{AppPages, FileHost, LineInbox};
use crate::flows::transcript::intake::Poller;
use crate::flows::transcript::intake::{ChatWebhook, ChatWebhookParts};
use crate::http::Backoff;
use crate::metrics::Stats;
use crate::portal::{Bitrix24, Bitrix24Options};
use crate::server::{Observability, Router, ServerSettings, WebhookServer};
use crate::store::Store;
use anyhow::Context;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tracing::Instrument;

/// Meta key caching the Chat2Desk web app URL found through `api_info`.
const WEB_URL_KEY: &str = "chat2desk.web_url";

/// The daemon's parts, built from a config: what [`Daemon::spawn`] runs, and what tests that
/// step the pipeline (`poll_once`, `run_until_idle`) and `send` use without running it.
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
    pub(super) fn events_reader(&self) -> Option<crate::flows::openlines::EventsReader> {
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
    fn router(&self, settings: &ServerSettings) -> Router {
        let services = self.services().clone();
        let lines = lines_of(&self.rules);
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
        if let Some(tab) = CardTab::from_config(&self.config, self.wake.clone()) {
            router = CardRoute::mount(tab, services.clone(), router);
        }
        if let Some(app) = &self.config.bitrix24.app {
            router = AppPages::mount(app.clone(), services.clone(), lines, router);
        }
        router = FileHost::mount(services, router);
        Observability::mount(self.health(), router)
    }

    /// The escalation watch over the rules in force (a reload swaps them).
    fn watch(&self) -> Arc<dyn crate::engine::Watch> {
        super::jobs::watch(self.services().store.clone(), &live(self.rules.subscribe()))
    }

    /// Binds the webhook/metrics server with every flow's routes: `settings`, else those of
    /// `[server]`; `None` when `listen` and `metrics_listen` are both empty.
    pub(super) async fn bind_server(
        &self,
        settings: Option<ServerSettings>,
    ) -> anyhow::Result<Option<WebhookServer>> {
        let settings = match settings {
            Some(settings) => settings,
            None => ServerSettings::from_config(&self.config.server)?,
        };
        if settings.listen.is_none() && settings.metrics_listen.is_none() {
            return Ok(None);
        }
        if settings.listen.is_some() && self.config.server.webhook_secret.is_empty() {
            tracing::warn!("[server] webhook_secret is empty: webhook deliveries are refused (404); set it and run `chat2desk-b24 webhook set <public url>`");
        }
        let router = self.router(&settings);
        let server = WebhookServer::bind(settings, router).await;
        let server = server.map_err(|e| anyhow::anyhow!("{e} ({})", e.hint()))?;
        Ok(Some(server))
    }

    /// Sets the Open Lines connector up for the live `[[openlines.lines]]` (and switches it
    /// off on lines taken out), in the background, when `[bitrix24.app]` is configured.
    pub(super) fn set_up_lines(&self, shutdown: &tokio_util::sync::CancellationToken) {
        if let Some(app) = &self.config.bitrix24.app {
            tokio::spawn(
                crate::flows::openlines::set_up_at_start(
                    self.services().clone(),
                    (*self.rules.borrow().lines).clone(),
                    app.daemon_url.clone(),
                    shutdown.clone(),
                )
                .in_current_span(),
            );
        }
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
    let live_rules = live(rules_rx);
    let watch = super::jobs::watch(store.clone(), &live_rules);
    let worker = Worker::new(
        services,
        Arc::new(registry(&live_rules)),
        settings,
        wake.clone(),
    );
    let leadership = Leadership::new(store.clone(), Duration::from_secs(config.node.lease_secs));
    let inbox = Arc::new(LineInbox::new(store.clone(), lines_of(&rules_tx)));
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
        config,
        wake,
        leadership,
    })
}

/// The rules as `rules` holds them at each reading.
fn live(rules: watch::Receiver<Arc<Rules>>) -> Live<Rules> {
    Live::new(move || rules.borrow().clone())
}

/// The Open Lines part of the live rules: what the server's inbox, the poller and the app
/// pages route by, swapped with the rest on SIGHUP.
fn lines_of(rules: &watch::Sender<Arc<Rules>>) -> LiveLines {
    LiveLines::from(part(&live(rules.subscribe()), |r| &r.lines))
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

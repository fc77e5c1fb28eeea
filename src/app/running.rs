//! The one seam that starts the daemon: [`Daemon::spawn`] builds it from a config, binds the
//! server and runs every loop; [`Running`] is what the binary, tests, benches and `demo` hold
//! (the bound addresses, the services, reload, stop).

use super::reload::apply;
use super::{build, Daemon, LogHandle};
use crate::config::Config;
use crate::engine::Services;
use crate::server::{ServerSettings, WebhookServer};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, Span};

/// How [`Daemon::spawn`] runs the daemon; the defaults are what `run` does.
#[derive(Debug, Default)]
pub struct SpawnOptions {
    /// The server's settings in place of those of `[server]` (tests shorten its limits).
    pub server: Option<ServerSettings>,
    /// The log filter a reload's `[log] level` changes (the binary's; none in tests).
    pub log: Option<LogHandle>,
    /// Leaves the worker off, so what arrives stays queued (the webhook bench measures the
    /// intake alone).
    pub without_worker: bool,
}

/// The daemon's loops, joined on [`Running::stop`] in this order.
#[derive(Debug)]
struct Tasks {
    server: Option<JoinHandle<()>>,
    poller: JoinHandle<()>,
    events: Option<JoinHandle<()>>,
    leadership: JoinHandle<()>,
    worker: Option<JoinHandle<()>>,
    quota: JoinHandle<u64>,
}

/// A running daemon: its server bound, its worker, leadership, quota watcher, poller, Open
/// Lines events reader and line set-up started.
#[derive(Debug)]
pub struct Running {
    daemon: Daemon,
    /// What runs now: the live parts of the last reload, the rest as started.
    config: Config,
    webhook_addr: Option<SocketAddr>,
    metrics_addr: Option<SocketAddr>,
    shutdown: CancellationToken,
    log: Option<LogHandle>,
    tasks: Tasks,
}

impl Daemon {
    /// Builds the daemon of `config` ([`build`]), binds its server (before this returns, so
    /// the addresses are known and a caller announcing readiness announces a listening
    /// daemon) and starts every loop until `shutdown` is cancelled or [`Running::stop`].
    pub async fn spawn(
        config: Config,
        options: SpawnOptions,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Running> {
        let daemon = build(config).await?;
        // journald: NODE=…; terminal: `node{node=…}:` in front of each line.
        let span = tracing::info_span!("node", node = %daemon.services().store.node());
        let server = daemon.bind_server(options.server);
        let server = server.instrument(span.clone()).await?;
        let webhook_addr = server.as_ref().and_then(WebhookServer::webhook_addr);
        let metrics_addr = server.as_ref().and_then(WebhookServer::metrics_addr);
        let server = server.map(|s| spawn_in(&span, s.run(shutdown.clone())));
        let worker = (!options.without_worker)
            .then(|| spawn_in(&span, daemon.worker.clone().run(shutdown.clone())));
        let (leader_tx, leader) = watch::channel(false);
        let leadership = daemon.leadership.clone().run(leader_tx, shutdown.clone());
        let leadership = spawn_in(&span, leadership);
        let services = daemon.services().clone();
        let quota = crate::chat2desk::watch_chat2desk_quota(
            services.chat2desk.clone(),
            services.store.clone(),
            shutdown.clone(),
        );
        let quota = spawn_in(&span, quota);
        let schedule = daemon.schedule.subscribe();
        let poller = daemon
            .poller
            .clone()
            .run(schedule, leader.clone(), shutdown.clone());
        let poller = spawn_in(&span, poller);
        let events = daemon
            .events_reader()
            .map(|reader| spawn_in(&span, reader.run(leader, shutdown.clone())));
        span.in_scope(|| daemon.set_up_lines(&shutdown));
        Ok(Running {
            config: daemon.config.clone(),
            daemon,
            webhook_addr,
            metrics_addr,
            shutdown,
            log: options.log,
            tasks: Tasks {
                server,
                poller,
                events,
                leadership,
                worker,
                quota,
            },
        })
    }
}

impl Running {
    /// The daemon's parts (worker, poller, live values).
    pub fn daemon(&self) -> &Daemon {
        &self.daemon
    }

    /// The shared services (store, clients, stats).
    pub fn services(&self) -> &Arc<Services> {
        self.daemon.services()
    }

    /// The config that runs now.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The bound webhook listener (`[server] listen`), when on.
    pub fn webhook_addr(&self) -> Option<SocketAddr> {
        self.webhook_addr
    }

    /// The bound `/healthz` and `/metrics` listener (`[server] metrics_listen`, else
    /// `listen`), when on.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Applies `new` as SIGHUP does: the rules, the lines (the server's and the poller's
    /// routing), the schedule and the log level change live, the connector is set up on new
    /// lines and switched off on lines taken out; what needs a restart is logged.
    pub fn reload(&mut self, new: Config) {
        let current = self.config.clone();
        self.config = apply(&self.daemon, current, new, self.log.as_ref());
        self.daemon.set_up_lines(&self.shutdown);
    }

    /// Stops every loop as a crash would (tests of what a restart finds): no drain, no
    /// lease given up, jobs in flight keep their state.
    pub async fn abort(self) {
        let tasks = self.tasks;
        let loops = [tasks.poller, tasks.leadership].into_iter();
        let loops = loops
            .chain(tasks.server)
            .chain(tasks.events)
            .chain(tasks.worker);
        for task in loops {
            task.abort();
            let _ = task.await;
        }
        tasks.quota.abort();
        let _ = tasks.quota.await;
    }

    /// Cancels every loop and waits for them in order (the server, the poller, the events
    /// reader, leadership, the worker's drain); last, the Chat2Desk calls of the drain are
    /// added to the month's count.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let tasks = self.tasks;
        if let Some(task) = tasks.server {
            let _ = task.await;
        }
        let _ = tasks.poller.await;
        if let Some(task) = tasks.events {
            let _ = task.await;
        }
        let _ = tasks.leadership.await;
        if let Some(task) = tasks.worker {
            let _ = task.await;
        }
        // Last: the calls of the drain and the last poll count too.
        let services = self.daemon.services();
        if let Ok(counted) = tasks.quota.await {
            crate::chat2desk::add_remaining_calls(&services.chat2desk, &services.store, counted)
                .await;
        }
    }
}

/// Spawns `task` with every log line of it inside the node's `span`.
fn spawn_in<T: Send + 'static>(
    span: &Span,
    task: impl std::future::Future<Output = T> + Send + 'static,
) -> JoinHandle<T> {
    tokio::spawn(task.instrument(span.clone()))
}

//! The router: each flow mounts its routes (the paths they answer and the listener they are
//! on); a request goes to the route whose path matches, anything else is answered 404.

use super::answer::Reply;
use super::ServerSettings;
use futures_util::future::BoxFuture;
use hyper::body::Incoming;
use hyper::Request;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// The listener a route answers on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// `[server] listen`: what the reverse proxy forwards (webhooks, the portal's calls,
    /// files).
    Public,
    /// `/healthz` and `/metrics`: `[server] metrics_listen` when set, else `listen`.
    Observability,
}

/// The paths a route answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// Exactly this path.
    Exact(&'static str),
    /// Every path starting with this text (end it with `/`).
    Prefix(&'static str),
}

impl Path {
    fn matches(self, path: &str) -> bool {
        match self {
            Path::Exact(p) => path == p,
            Path::Prefix(p) => path.starts_with(p),
        }
    }
}

/// What a route knows of the request besides itself: the peer and the server's limits.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// The TCP peer (a trusted proxy's `X-Forwarded-For` is read with
    /// [`super::client_ip`]).
    pub peer: SocketAddr,
    /// The server's settings: trusted proxies, allowed networks, body limits and timeouts.
    pub settings: &'a ServerSettings,
}

/// One flow's handler of the paths it mounts.
pub trait Route: Send + Sync + std::fmt::Debug + 'static {
    /// Answers `req`. Never logs the path or the query: they may carry a secret.
    fn answer<'a>(&'a self, req: Request<Incoming>, caller: Caller<'a>) -> BoxFuture<'a, Reply>;

    /// Work the route does in the background while the server runs (until `shutdown`).
    fn housekeeping(
        self: Arc<Self>,
        shutdown: CancellationToken,
    ) -> Option<BoxFuture<'static, ()>> {
        let _ = shutdown;
        None
    }
}

#[derive(Debug, Clone)]
struct Mounted {
    paths: Vec<Path>,
    listener: Listener,
    route: Arc<dyn Route>,
}

/// The routes of the one HTTP server, in the order they were mounted.
#[derive(Debug, Clone, Default)]
pub struct Router {
    routes: Vec<Mounted>,
}

impl Router {
    /// No routes: every request is answered 404.
    pub fn new() -> Self {
        Self::default()
    }

    /// Mounts `route` on `paths` of `listener`.
    pub fn mount(mut self, paths: &[Path], listener: Listener, route: Arc<dyn Route>) -> Self {
        self.routes.push(Mounted {
            paths: paths.to_vec(),
            listener,
            route,
        });
        self
    }

    /// The route of `path` among those of the listeners `on` accepts.
    pub(super) fn find(&self, path: &str, on: impl Fn(Listener) -> bool) -> Option<&dyn Route> {
        self.routes
            .iter()
            .find(|m| on(m.listener) && m.paths.iter().any(|p| p.matches(path)))
            .map(|m| m.route.as_ref())
    }

    /// The routes' background work, each until `shutdown`.
    pub(super) fn housekeeping(&self, shutdown: &CancellationToken) -> Vec<BoxFuture<'static, ()>> {
        self.routes
            .iter()
            .filter_map(|m| m.route.clone().housekeeping(shutdown.clone()))
            .collect()
    }
}

//! Listeners, connections and graceful shutdown.

use super::answer::{not_found, Reply};
use super::router::{Caller, Listener, Router};
use super::{ServerError, ServerSettings};
use http_body_util::Either;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use hyper::server::conn::http1;
use hyper::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// What a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// The public routes only (health and metrics have their own listener).
    Webhook,
    /// Health and metrics only.
    Metrics,
    /// Everything.
    Both,
}

impl Role {
    fn serves(self, listener: Listener) -> bool {
        match self {
            Role::Webhook => listener == Listener::Public,
            Role::Metrics => listener == Listener::Observability,
            Role::Both => true,
        }
    }
}

/// Shared by every connection.
#[derive(Debug)]
struct Shared {
    settings: ServerSettings,
    router: Router,
}

/// The bound server, ready to serve.
#[derive(Debug)]
pub struct WebhookServer {
    listeners: Vec<(TcpListener, Role)>,
    ctx: Arc<Shared>,
    webhook_addr: Option<SocketAddr>,
    metrics_addr: Option<SocketAddr>,
}

impl WebhookServer {
    /// Binds the listeners of `settings` (so the daemon reports ready only once they are
    /// bound) to serve the routes of `router`.
    pub async fn bind(settings: ServerSettings, router: Router) -> Result<Self, ServerError> {
        let mut listeners = Vec::new();
        let mut webhook_addr = None;
        let mut metrics_addr = None;
        if let Some(addr) = settings.listen {
            let listener = bind("listen", addr).await?;
            webhook_addr = Some(local(&listener, addr));
            let role = if settings.metrics_listen.is_some() {
                Role::Webhook
            } else {
                metrics_addr = webhook_addr;
                Role::Both
            };
            listeners.push((listener, role));
        }
        if let Some(addr) = settings.metrics_listen {
            let listener = bind("metrics_listen", addr).await?;
            metrics_addr = Some(local(&listener, addr));
            listeners.push((listener, Role::Metrics));
        }
        let ctx = Arc::new(Shared { settings, router });
        Ok(Self {
            listeners,
            ctx,
            webhook_addr,
            metrics_addr,
        })
    }

    /// Where webhooks are accepted (`None` when `[server] listen` is empty).
    pub fn webhook_addr(&self) -> Option<SocketAddr> {
        self.webhook_addr
    }

    /// Where `/healthz` and `/metrics` are served.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Serves until `shutdown`, then stops accepting, lets requests in flight finish (up to
    /// the drain timeout) and returns.
    pub async fn run(self, shutdown: CancellationToken) {
        if let Some(addr) = self.webhook_addr {
            tracing::info!(address = %addr, "Webhook server listening");
        }
        if let (Some(addr), true) = (self.metrics_addr, self.metrics_addr != self.webhook_addr) {
            tracing::info!(address = %addr, "Health and metrics server listening");
        }
        let (guard, mut drained) = mpsc::channel::<()>(1);
        let mut accept_loops = Vec::new();
        for (listener, role) in self.listeners {
            accept_loops.push(tokio::spawn(accept_loop(
                listener,
                role,
                self.ctx.clone(),
                shutdown.clone(),
                guard.clone(),
            )));
        }
        drop(guard);
        // Spawned now (collected, not a lazy iterator): the routes' housekeeping (the purge
        // of expired file offers) runs while the server does, not after its accept loops end.
        let housekeeping: Vec<_> = self
            .ctx
            .router
            .housekeeping(&shutdown)
            .into_iter()
            .map(tokio::spawn)
            .collect();
        for task in accept_loops.into_iter().chain(housekeeping) {
            let _ = task.await;
        }
        let drain = self.ctx.settings.drain_timeout;
        if tokio::time::timeout(drain, drained.recv()).await.is_err() {
            tracing::warn!(
                timeout_secs = drain.as_secs(),
                "Webhook requests still in flight at the drain timeout; Chat2Desk retries unanswered ones"
            );
        }
        tracing::info!("Webhook server stopped");
    }
}

async fn bind(key: &'static str, address: SocketAddr) -> Result<TcpListener, ServerError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| ServerError::Bind {
            key,
            address,
            source,
        })
}

fn local(listener: &TcpListener, fallback: SocketAddr) -> SocketAddr {
    listener.local_addr().unwrap_or(fallback)
}

/// Connections served at once per listener; the next waits in the kernel's backlog until one
/// ends (systemd's `LimitNOFILE=1024` leaves room for the clients and the database).
pub const MAX_CONNECTIONS: usize = 512;

async fn accept_loop(
    listener: TcpListener,
    role: Role,
    ctx: Arc<Shared>,
    shutdown: CancellationToken,
    guard: mpsc::Sender<()>,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let slot = tokio::select! {
            _ = shutdown.cancelled() => return,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => return,
            },
        };
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // EMFILE and friends: back off a little instead of spinning.
                    tracing::warn!(error = %e, "Cannot accept a connection");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let ctx = ctx.clone();
        let shutdown = shutdown.clone();
        let guard = guard.clone();
        tokio::spawn(async move {
            let (_guard, _slot) = (guard, slot);
            let header_timeout = ctx.settings.header_timeout;
            let svc = hyper::service::service_fn(move |req| {
                let ctx = ctx.clone();
                async move { Ok::<_, std::convert::Infallible>(reply(&ctx, req, peer, role).await) }
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(TokioIo::new(stream), svc);
            tokio::pin!(conn);
            let result = tokio::select! {
                result = conn.as_mut() => result,
                _ = shutdown.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            match result {
                Err(e) if e.is_timeout() => tracing::warn!(
                    client = %peer.ip(),
                    reason = "request headers not received in time",
                    "Closed a slow connection"
                ),
                Err(e) => {
                    tracing::debug!(client = %peer.ip(), error = %e, "Connection ended with an error")
                }
                Ok(()) => {}
            }
        });
    }
}

/// Answers one request through the route of its path, if this listener serves it.
///
/// A refused request that came with a body (413 before it was read, a wrong secret, a bad
/// form) is answered with `Connection: close`: its unread rest would otherwise be taken for
/// the next request, so the connection ends here, and the header tells a client that
/// pools connections not to send another request on it.
async fn reply(ctx: &Shared, req: Request<Incoming>, peer: SocketAddr, role: Role) -> Reply {
    let with_body = has_body(&req);
    let route = ctx.router.find(req.uri().path(), |l| role.serves(l));
    let mut answer = match route {
        Some(route) => {
            let caller = Caller {
                peer,
                settings: &ctx.settings,
            };
            route.answer(req, caller).await
        }
        None => not_found().map(Either::Left),
    };
    if with_body && (answer.status().is_client_error() || answer.status().is_server_error()) {
        answer
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    answer
}

/// True when `req` declares a body (a non-zero `Content-Length` or any `Transfer-Encoding`).
fn has_body(req: &Request<Incoming>) -> bool {
    let headers = req.headers();
    headers.contains_key(TRANSFER_ENCODING)
        || headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0")
}

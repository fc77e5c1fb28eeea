//! Routing and answers: `/webhook/<secret>`, `/healthz`, `/metrics`,
//! and the other routes' dispatch (`/files/<token>/<name>` is streamed, see `files.rs`).
//!
//! Nothing here logs the request path or query: they carry the secret.

use super::{parse_delivery, Cidr, Delivery, GroupCommit, ServerSettings};
use crate::bizproc::constant_time_eq;
use crate::metrics::{global, render, HealthProbe};
use crate::store::Intake;
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Either, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// What a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// Webhooks only (health and metrics have their own listener).
    Webhook,
    /// Health and metrics only.
    Metrics,
    /// Everything.
    Both,
}

/// Shared by every connection.
#[derive(Debug)]
pub(super) struct Ctx {
    pub(super) settings: ServerSettings,
    pub(super) probe: HealthProbe,
    commit: GroupCommit,
    /// Poked when a send was queued.
    pub(super) wake: Arc<Notify>,
    /// `/files/`' download slots and per-link pace.
    pub(super) files: super::files::FileHost,
    /// The connector's settings page, rendered at most once per its lifetime.
    pub(super) connector_page: super::bitrix24::PageCache,
}

/// A buffered answer (every route but `/files/`).
pub(super) type Answer = Response<Full<Bytes>>;

/// What a connection is answered: buffered, or a file streamed from the portal.
pub(super) type Reply = Response<Either<Full<Bytes>, BoxBody<Bytes, String>>>;

/// Attempts at resolving a closed dialog to its request.
const LOOKUP_ATTEMPTS: u32 = 3;

impl Ctx {
    pub(super) fn new(
        settings: ServerSettings,
        probe: HealthProbe,
        commit: GroupCommit,
        wake: Arc<Notify>,
    ) -> Self {
        Self {
            settings,
            probe,
            commit,
            wake,
            files: super::files::FileHost::new(),
            connector_page: super::bitrix24::PageCache::default(),
        }
    }

    /// Answers one request: `/files/` streamed, everything else buffered.
    pub(super) async fn reply(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
        role: Role,
    ) -> Reply {
        let path = req.uri().path();
        if role != Role::Metrics && path.starts_with("/files/") {
            let services = self.probe.services();
            let (http, portal) = (services.portal.http(), services.portal.portal_url());
            return self
                .files
                .serve(&services.store, &http, &portal, req.method(), path)
                .await;
        }
        self.handle(req, peer, role).await.map(Either::Left)
    }

    /// Answers one request but `/files/`.
    async fn handle(&self, req: Request<Incoming>, peer: SocketAddr, role: Role) -> Answer {
        let path = req.uri().path();
        let observability = role != Role::Webhook;
        match path {
            "/healthz" if observability => return self.health(req.method()).await,
            "/metrics" if observability => return self.metrics(req.method()).await,
            _ => {}
        }
        if role != Role::Metrics && (path == "/webhook" || path.starts_with("/webhook/")) {
            return self.webhook(req, peer).await;
        }
        if role != Role::Metrics && path.starts_with("/bizproc/") {
            return self.bizproc(req, peer).await;
        }
        if role != Role::Metrics && path.starts_with("/bitrix24/") {
            return self.bitrix24(req).await;
        }
        not_found()
    }

    async fn health(&self, method: &Method) -> Answer {
        if method != Method::GET && method != Method::HEAD {
            return not_allowed("GET, HEAD");
        }
        let health = self.probe.check().await;
        if health.is_healthy() {
            text(StatusCode::OK, "ok\n")
        } else {
            let body = format!("unhealthy: {}\n", health.problems.join("; "));
            text(StatusCode::SERVICE_UNAVAILABLE, &body)
        }
    }

    async fn metrics(&self, method: &Method) -> Answer {
        if method != Method::GET && method != Method::HEAD {
            return not_allowed("GET, HEAD");
        }
        let mut answer = Response::new(Full::new(Bytes::from(render(&self.probe).await)));
        answer.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
        );
        answer
    }

    async fn webhook(&self, req: Request<Incoming>, peer: SocketAddr) -> Answer {
        let started = Instant::now();
        let client = client_ip(peer.ip(), &req, &self.settings.trusted_proxies);
        let s = &self.settings;
        if !s.allow_from.is_empty() && !Cidr::any_contains(&s.allow_from, client) {
            return refuse(
                client,
                StatusCode::FORBIDDEN,
                "client address not in [server] allow_from",
            );
        }
        if !self.secret_matches(&req) {
            // The same answer as an unknown path: no hint that /webhook exists.
            return refuse(
                client,
                StatusCode::NOT_FOUND,
                "wrong or missing webhook secret",
            );
        }
        if req.method() != Method::POST {
            refuse(client, StatusCode::METHOD_NOT_ALLOWED, "method is not POST");
            return not_allowed("POST");
        }
        let body = match read_body(req, s, s.max_body).await {
            Ok(body) => body,
            Err((status, reason)) => return refuse(client, status, reason),
        };
        let delivery = match parse_delivery(&body) {
            Ok(d) => d,
            Err(e) => {
                global().record_webhook("", "rejected");
                return refuse(client, StatusCode::BAD_REQUEST, &e.to_string());
            }
        };
        let answer = self.dispatch(delivery, client).await;
        if answer.status() == StatusCode::OK {
            global().record_ack(started.elapsed());
        }
        answer
    }

    async fn dispatch(&self, delivery: Delivery, client: IpAddr) -> Answer {
        let registry = global();
        match delivery {
            Delivery::Closed {
                hook_type,
                request_id,
            } => match self.commit.enqueue(request_id).await {
                Ok(()) => {
                    registry.record_webhook(&hook_type, "enqueued");
                    tracing::debug!(request_id, event = %hook_type, client = %client, "Queued a closed request from a webhook");
                    ok()
                }
                Err(e) => {
                    registry.record_webhook(&hook_type, "unavailable");
                    tracing::warn!(request_id, event = %hook_type, client = %client, error = %e, hint = e.hint(), "Webhook not queued; answered 503 so Chat2Desk retries");
                    text(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "state database unavailable, retry later\n",
                    )
                }
            },
            Delivery::DialogClosed {
                hook_type,
                dialog_id,
            } => {
                // Answered before the lookup to keep the acknowledgement fast. Not durable:
                // should the daemon stop before the lookup ends, the poller (or Chat2Desk's
                // close_request for the same closing) still brings the request in.
                registry.record_webhook(&hook_type, "lookup");
                let chat2desk = self.probe.services().chat2desk.clone();
                let commit = self.commit.clone();
                tokio::spawn(resolve_dialog(chat2desk, commit, dialog_id));
                ok()
            }
            Delivery::ClientUpdated {
                hook_type,
                client_id,
            } => {
                self.probe.services().directory.forget_client(client_id);
                registry.record_webhook(&hook_type, "client_refreshed");
                ok()
            }
            Delivery::Inbox {
                hook_type,
                message,
                client: sender,
            } => {
                self.inbox(&hook_type, &message, sender.as_deref(), client)
                    .await
            }
            Delivery::Other { hook_type } => {
                registry.record_webhook(&hook_type, "ignored");
                ok()
            }
        }
    }

    /// A client's message: queued for its Open Line when its channel is bridged (durably,
    /// before the answer), else acknowledged and ignored.
    async fn inbox(
        &self,
        hook_type: &str,
        message: &crate::chat2desk::Message,
        sender: Option<&crate::chat2desk::Client>,
        client: IpAddr,
    ) -> Answer {
        let registry = global();
        let line = message
            .channel_id
            .and_then(|c| self.settings.lines.line_of(c));
        let Some(line) = line else {
            registry.record_webhook(hook_type, "ignored");
            return ok();
        };
        let store = &self.probe.services().store;
        match crate::sync::enqueue_client_message(store, line, message, sender, Intake::Webhook)
            .await
        {
            Ok(new) => {
                registry.record_webhook(hook_type, "enqueued");
                if new {
                    self.wake.notify_one();
                }
                tracing::debug!(message_id = message.id, line, new, client = %client, "Queued a client's message for its Open Line");
                ok()
            }
            Err(e) => {
                registry.record_webhook(hook_type, "unavailable");
                tracing::warn!(message_id = message.id, line, client = %client, error = %e, hint = e.hint(), "Client message not queued; answered 503 so Chat2Desk retries");
                text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "state database unavailable, retry later\n",
                )
            }
        }
    }

    fn secret_matches(&self, req: &Request<Incoming>) -> bool {
        let expected = self.settings.secret.expose().as_bytes();
        if expected.is_empty() {
            return false;
        }
        // Only the path form (what `webhook set` registers): no `?secret=` query form, which
        // proxies log with the query.
        let presented = req
            .uri()
            .path()
            .strip_prefix("/webhook/")
            .filter(|rest| !rest.is_empty() && !rest.contains('/'));
        presented.is_some_and(|p| constant_time_eq(p.as_bytes(), expected))
    }
}

/// Reads a whole body within `limit` bytes (413 above, checked against `Content-Length`
/// first) and the body timeout (408); the error is the status and reason.
pub(super) async fn read_body(
    req: Request<Incoming>,
    s: &ServerSettings,
    limit: usize,
) -> Result<Bytes, (StatusCode, &'static str)> {
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err((StatusCode::PAYLOAD_TOO_LARGE, "body over the size limit"));
    }
    let body = Limited::new(req.into_body(), limit).collect();
    match tokio::time::timeout(s.body_timeout, body).await {
        Err(_) => Err((StatusCode::REQUEST_TIMEOUT, "body not received in time")),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            Err((StatusCode::PAYLOAD_TOO_LARGE, "body over the size limit"))
        }
        Ok(Err(_)) => Err((StatusCode::BAD_REQUEST, "body cut off")),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
    }
}

/// Looks up the request of a closed dialog and enqueues it.
async fn resolve_dialog(
    chat2desk: crate::chat2desk::Chat2Desk,
    commit: GroupCommit,
    dialog_id: i64,
) {
    for attempt in 1..=LOOKUP_ATTEMPTS {
        match chat2desk.dialog(dialog_id).await {
            Ok(dialog) => {
                let Some(request_id) = dialog.last_message.and_then(|m| m.request_id) else {
                    tracing::warn!(dialog_id, endpoint = "GET /v1/dialogs/{id}", "Closed dialog has no last message with a request; the poller will pick it up if there is one");
                    return;
                };
                match commit.enqueue(request_id).await {
                    Ok(()) => tracing::debug!(
                        request_id,
                        dialog_id,
                        "Queued the request of a closed dialog"
                    ),
                    Err(e) => {
                        tracing::warn!(request_id, dialog_id, error = %e, "Cannot queue the request of a closed dialog; the poller will pick it up")
                    }
                }
                return;
            }
            Err(e) if e.is_transient() && attempt < LOOKUP_ATTEMPTS => {
                tokio::time::sleep(Duration::from_secs(u64::from(attempt))).await;
            }
            Err(e) => {
                tracing::warn!(dialog_id, endpoint = "GET /v1/dialogs/{id}", attempt, error = %e, hint = e.hint(), "Cannot resolve a closed dialog to its request; the poller will pick it up");
                return;
            }
        }
    }
}

/// The client's address: the peer, or, when the peer is a trusted proxy, the last
/// `X-Forwarded-For` hop that is not itself a trusted proxy. A hop that is not an address
/// fails closed: the client is `0.0.0.0`, which no `allow_from` network but `0.0.0.0/0` holds.
pub(super) fn client_ip(peer: IpAddr, req: &Request<Incoming>, trusted: &[Cidr]) -> IpAddr {
    if !Cidr::any_contains(trusted, peer) {
        return peer;
    }
    let hops: Option<Vec<IpAddr>> = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("?").split(','))
        .map(|hop| hop.trim().parse().ok())
        .collect();
    let Some(hops) = hops else {
        return IpAddr::from([0, 0, 0, 0]);
    };
    hops.iter()
        .rev()
        .find(|ip| !Cidr::any_contains(trusted, **ip))
        .or(hops.first())
        .copied()
        .unwrap_or(peer)
}

/// Logs a refused delivery (address and reason; never the path) and answers `status`.
fn refuse(client: IpAddr, status: StatusCode, reason: &str) -> Answer {
    tracing::warn!(client = %client, status = status.as_u16(), reason, "Refused a webhook request");
    match status {
        StatusCode::NOT_FOUND => not_found(),
        _ => text(
            status,
            &format!("{}\n", status.canonical_reason().unwrap_or("error")),
        ),
    }
}

fn ok() -> Answer {
    let mut answer = Response::new(Full::new(Bytes::from_static(b"{\"status\":\"success\"}")));
    answer
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    answer
}

pub(super) fn not_found() -> Answer {
    text(StatusCode::NOT_FOUND, "Not Found\n")
}

pub(super) fn not_allowed(allow: &'static str) -> Answer {
    let mut answer = text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed\n");
    answer
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    answer
}

fn text(status: StatusCode, body: &str) -> Answer {
    let mut answer = Response::new(Full::new(Bytes::from(body.to_string())));
    *answer.status_mut() = status;
    answer.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    answer
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn secret_comparison() {
        assert!(constant_time_eq(b"abcdef", b"abcdef"));
        assert!(!constant_time_eq(b"abcdef", b"abcdeg"));
        assert!(!constant_time_eq(b"abc", b"abcdef"));
        assert!(!constant_time_eq(b"", b"a"));
    }
}

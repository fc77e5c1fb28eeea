//! `/webhook/<secret>`: Chat2Desk's webhook deliveries. A closed request is acknowledged only
//! after its enqueue committed (503 otherwise, so Chat2Desk retries); concurrent deliveries
//! share one transaction ([`GroupCommit`]). A closed dialog is resolved to its request after
//! the answer; a changed client is dropped from the directory; a client's message on a
//! bridged channel goes to the mounted [`Inbox`].
//!
//! Chat2Desk cannot sign deliveries reliably (`chat2desk-api.md` §3: the 2025 HMAC scheme is
//! undocumented), so the secret travels in the URL and is compared in constant time; it is
//! never logged, nor is the path.

use super::requalify::requalify;
use super::{parse_delivery, Delivery, GroupCommit};
use crate::chat2desk::{Chat2Desk, Client, Message};
use crate::config::{constant_time_eq, Cidr, Secret};
use crate::engine::{Inbox, Services, Watch};
use crate::metrics::global;
use crate::server::{
    client_ip, not_allowed, not_found, ok, read_body, text, Answer, Caller, Listener, Path, Reply,
    Route, Router,
};
use crate::store::Intake;
use futures_util::future::BoxFuture;
use http_body_util::Either;
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Attempts at resolving a closed dialog to its request.
const LOOKUP_ATTEMPTS: u32 = 3;

/// The webhook route and what its deliveries reach.
#[derive(Debug)]
pub struct ChatWebhook {
    /// `[server] webhook_secret`; empty = every delivery is refused.
    secret: Secret,
    commit: GroupCommit,
    services: Arc<Services>,
    /// Client messages of bridged channels (none: they are acknowledged and ignored).
    inbox: Option<Arc<dyn Inbox>>,
    /// Escalation: every client's and operator's message.
    watch: Option<Arc<dyn Watch>>,
    /// Poked when a client's message was queued.
    wake: Arc<Notify>,
}

/// What the webhook route is built from.
#[derive(Debug)]
pub struct ChatWebhookParts {
    /// `[server] webhook_secret`.
    pub secret: Secret,
    /// The queue, Chat2Desk (closed dialogs are resolved) and the directory (a
    /// `client_updated` delivery drops the client).
    pub services: Arc<Services>,
    /// Where bridged channels' client messages go.
    pub inbox: Option<Arc<dyn Inbox>>,
    /// Where every client's and operator's message goes (escalation).
    pub watch: Option<Arc<dyn Watch>>,
    /// Poked when a job was queued.
    pub wake: Arc<Notify>,
    /// How long the group commit waits for more deliveries, and most deliveries per commit.
    pub batch: (Duration, usize),
}

impl ChatWebhook {
    /// Mounts the route of `parts` on `/webhook` and `/webhook/…` of the public listener and
    /// starts its group commit.
    pub fn mount(parts: ChatWebhookParts, router: Router) -> Router {
        let (window, max) = parts.batch;
        let store = parts.services.store.clone();
        let route = Self {
            secret: parts.secret,
            commit: GroupCommit::spawn(store, parts.wake.clone(), window, max),
            services: parts.services,
            inbox: parts.inbox,
            watch: parts.watch,
            wake: parts.wake,
        };
        let paths = [Path::Exact("/webhook"), Path::Prefix("/webhook/")];
        router.mount(&paths, Listener::Public, Arc::new(route))
    }

    async fn webhook(&self, req: Request<Incoming>, caller: Caller<'_>) -> Answer {
        let started = Instant::now();
        let s = caller.settings;
        let client = client_ip(caller.peer.ip(), &req, &s.trusted_proxies);
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
                let chat2desk = self.services.chat2desk.clone();
                let commit = self.commit.clone();
                tokio::spawn(resolve_dialog(chat2desk, commit, dialog_id));
                ok()
            }
            Delivery::ClientUpdated {
                hook_type,
                client_id,
            } => {
                self.services.directory.forget_client(client_id);
                registry.record_webhook(&hook_type, "client_refreshed");
                ok()
            }
            Delivery::RequestTagged {
                hook_type,
                request_id,
            } => {
                let outcome = requalify(&self.services, request_id).await;
                if outcome == "requeued" {
                    self.wake.notify_one();
                }
                registry.record_webhook(&hook_type, outcome);
                ok()
            }
            Delivery::Inbox {
                hook_type,
                message,
                client: sender,
            } => {
                if let Err(answer) = self.watched(&hook_type, &message, sender.as_deref()).await {
                    return answer;
                }
                self.inbox(&hook_type, &message, sender.as_deref(), client)
                    .await
            }
            Delivery::Outbox { hook_type, message } => {
                if let Err(answer) = self.watched(&hook_type, &message, None).await {
                    return answer;
                }
                // Counted as before escalation existed: nothing is queued for it.
                registry.record_webhook(&hook_type, "ignored");
                ok()
            }
            Delivery::Other { hook_type } => {
                registry.record_webhook(&hook_type, "ignored");
                ok()
            }
        }
    }

    /// Hands `message` to the watch (durably, before the answer); a 503 when the state
    /// database cannot take it, so Chat2Desk retries.
    async fn watched(
        &self,
        hook_type: &str,
        message: &Message,
        sender: Option<&Client>,
    ) -> Result<(), Answer> {
        let Some(watch) = &self.watch else {
            return Ok(());
        };
        let messages = std::slice::from_ref(message);
        watch
            .seen(messages, sender, Intake::Webhook)
            .await
            .map_err(|e| {
                global().record_webhook(hook_type, "unavailable");
                tracing::warn!(message_id = message.id, error = %e, hint = e.hint(), "Message not recorded for escalation; answered 503 so Chat2Desk retries");
                text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "state database unavailable, retry later\n",
                )
            })
    }

    /// A client's message: queued for its Open Line when its channel is bridged (durably,
    /// before the answer), else acknowledged and ignored.
    async fn inbox(
        &self,
        hook_type: &str,
        message: &Message,
        sender: Option<&Client>,
        client: IpAddr,
    ) -> Answer {
        let registry = global();
        let line = (self.inbox.as_ref())
            .and_then(|inbox| Some((inbox, inbox.line_of(message.channel_id?)?)));
        let Some((inbox, line)) = line else {
            registry.record_webhook(hook_type, "ignored");
            return ok();
        };
        match inbox.enqueue(line, message, sender, Intake::Webhook).await {
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
        let expected = self.secret.expose().as_bytes();
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

impl Route for ChatWebhook {
    fn answer<'a>(&'a self, req: Request<Incoming>, caller: Caller<'a>) -> BoxFuture<'a, Reply> {
        Box::pin(async move { self.webhook(req, caller).await.map(Either::Left) })
    }
}

/// Looks up the request of a closed dialog and enqueues it.
async fn resolve_dialog(chat2desk: Chat2Desk, commit: GroupCommit, dialog_id: i64) {
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

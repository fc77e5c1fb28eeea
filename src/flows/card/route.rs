//! `POST /bitrix24/card` (the portal's form, §9.2) and `GET /bitrix24/card/messages` (the
//! page's poll for new messages, with the session's headers). 404 without `[card]`. Nothing
//! here logs a form, a query or a token.

use super::history::History;
use super::page::{self, PageParts};
use super::session::{SessionRefusal, Sessions};
use super::tab::open_tab;
use crate::config::{random_token, CardConfig};
use crate::engine::Services;
use crate::server::{
    form_pairs, not_allowed, not_found, read_body, Answer, Caller, Listener, Path, Reply, Route,
    Router, FORM_LIMIT,
};
use bytes::Bytes;
use futures_util::future::BoxFuture;
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use std::sync::Arc;
use std::time::Duration;

/// The header carrying the session id on the page's later requests.
pub const SESSION_HEADER: &str = "x-card-session";
/// The header carrying the session's CSRF token.
pub const CSRF_HEADER: &str = "x-card-csrf";

/// The card tab's routes: `[card]`, the services, the portal's origin, the open sessions.
#[derive(Debug)]
pub struct CardRoute {
    card: CardConfig,
    daemon_url: String,
    services: Arc<Services>,
    timezone: chrono_tz::Tz,
    /// The only origin allowed to frame the tab (`frame-ancestors`).
    portal_origin: String,
    sessions: Sessions,
}

impl CardRoute {
    /// Mounts `/bitrix24/card` and `/bitrix24/card/messages` on the public listener (before
    /// the application's other `/bitrix24/` pages).
    /// `tab` is `[card]`, `[bitrix24.app] daemon_url` and the portal's time zone. Its
    /// housekeeping keeps the tabs bound ([`super::keep_bound`]).
    pub fn mount(
        tab: (CardConfig, String, chrono_tz::Tz),
        services: Arc<Services>,
        router: Router,
    ) -> Router {
        let (card, daemon_url, timezone) = tab;
        let portal_origin = url::Url::parse(&services.portal.portal_url())
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default();
        let route = Arc::new(Self {
            card,
            daemon_url,
            services,
            timezone,
            portal_origin,
            sessions: Sessions::default(),
        });
        let paths = [
            Path::Exact("/bitrix24/card"),
            Path::Exact("/bitrix24/card/messages"),
        ];
        router.mount(&paths, Listener::Public, route)
    }

    async fn open(&self, req: Request<Incoming>, caller: Caller<'_>) -> Answer {
        let mut form = form_pairs(req.uri().query().unwrap_or(""));
        let body = match read_body(req, caller.settings, FORM_LIMIT).await {
            Ok(body) => body,
            Err((status, reason)) => {
                return self.html(status, page::refused(&self.card.title, reason))
            }
        };
        form.extend(form_pairs(&String::from_utf8_lossy(&body)));
        let (user, entity) = match open_tab(&self.services, &self.card, &form).await {
            Ok(opened) => opened,
            Err(r) => {
                tracing::warn!(status = r.status, reason = %r.reason, "Refused to open a CRM card tab");
                let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::FORBIDDEN);
                return self.html(status, page::refused(&self.card.title, &r.message));
            }
        };
        let since = chrono::Utc::now() - chrono::Duration::days(i64::from(self.card.history_days));
        let history = match History::load(&self.services, &entity.phones, since, None).await {
            Ok(history) => history,
            Err(e) => {
                tracing::warn!(entity = %entity.kind, entity_id = entity.id, error = %e, "Cannot read the tab's history from Chat2Desk");
                let message = "Chat2Desk сейчас не отвечает, обновите вкладку позже.";
                return self.html(
                    StatusCode::SERVICE_UNAVAILABLE,
                    page::refused(&self.card.title, message),
                );
            }
        };
        let ttl = form
            .get("AUTH_EXPIRES")
            .and_then(|s| s.trim().parse::<u64>().ok())
            .map_or(super::session::MAX_TTL, Duration::from_secs);
        tracing::info!(
            entity = %entity.kind,
            entity_id = entity.id,
            user_id = user.id,
            clients = history.clients.len(),
            messages = history.messages.len(),
            "Opened a CRM card tab"
        );
        let (id, csrf) = self.sessions.open(user.clone(), entity.clone(), ttl);
        let nonce = random_token();
        let directory = &self.services.directory;
        let chat_url = |dialog: i64| directory.chat_url(dialog);
        let parts = PageParts {
            title: &self.card.title,
            user: &user,
            entity: &entity,
            session: (&id, &csrf),
            nonce: &nonce,
            timezone: self.timezone,
            chat_url: &chat_url,
        };
        let mut answer = self.html(StatusCode::OK, page::tab(&parts, &history));
        let csp = format!(
            "frame-ancestors {}; default-src 'none'; script-src 'nonce-{nonce}'; style-src \
             'unsafe-inline'; connect-src 'self'; base-uri 'none'; form-action 'self'",
            self.portal_origin
        );
        if let Ok(value) = HeaderValue::from_str(&csp) {
            answer
                .headers_mut()
                .insert("content-security-policy", value);
        }
        answer
    }

    async fn poll(&self, req: Request<Incoming>) -> Answer {
        let header = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        if header("sec-fetch-site") == "cross-site" {
            return json(
                StatusCode::FORBIDDEN,
                &serde_json::json!({"error": "cross-site"}),
            );
        }
        let session = match self
            .sessions
            .check(&header(SESSION_HEADER), &header(CSRF_HEADER))
        {
            Ok(session) => session,
            Err(SessionRefusal::Expired) => {
                return json(
                    StatusCode::UNAUTHORIZED,
                    &serde_json::json!({"error": "expired"}),
                )
            }
            Err(SessionRefusal::Forged) => {
                tracing::warn!("Refused a CRM card tab request without its CSRF token");
                return json(StatusCode::FORBIDDEN, &serde_json::json!({"error": "csrf"}));
            }
        };
        let after = form_pairs(req.uri().query().unwrap_or(""))
            .get("after")
            .and_then(|a| a.parse::<i64>().ok());
        let since = chrono::Utc::now() - chrono::Duration::days(i64::from(self.card.history_days));
        let entity = &session.entity;
        let history = match History::load(&self.services, &entity.phones, since, after).await {
            Ok(history) => history,
            Err(e) => {
                tracing::warn!(entity = %entity.kind, entity_id = entity.id, error = %e, "Cannot read new messages from Chat2Desk");
                return json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &serde_json::json!({"error": "chat2desk"}),
                );
            }
        };
        let directory = &self.services.directory;
        let chat_url = |dialog: i64| directory.chat_url(dialog);
        let parts = PageParts {
            title: &self.card.title,
            user: &session.user,
            entity,
            session: ("", ""),
            nonce: "",
            timezone: self.timezone,
            chat_url: &chat_url,
        };
        let last = history
            .messages
            .iter()
            .map(|m| m.id)
            .max()
            .or(after)
            .unwrap_or(0);
        let html = page::messages(&parts, &history.messages);
        json(
            StatusCode::OK,
            &serde_json::json!({"html": html, "last": last}),
        )
    }

    /// An HTML answer the portal (and only the portal) may frame.
    fn html(&self, status: StatusCode, body: String) -> Answer {
        let mut answer = Response::new(Full::new(Bytes::from(body)));
        *answer.status_mut() = status;
        let headers = answer.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
        headers.insert(
            "x-content-type-options",
            HeaderValue::from_static("nosniff"),
        );
        let csp = format!(
            "frame-ancestors {}; default-src 'none'; style-src 'unsafe-inline'",
            self.portal_origin
        );
        if let Ok(value) = HeaderValue::from_str(&csp) {
            headers.insert("content-security-policy", value);
        }
        answer
    }
}

fn json(status: StatusCode, value: &serde_json::Value) -> Answer {
    let mut answer = Response::new(Full::new(Bytes::from(value.to_string())));
    *answer.status_mut() = status;
    let headers = answer.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    answer
}

impl Route for CardRoute {
    fn housekeeping(
        self: Arc<Self>,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> Option<BoxFuture<'static, ()>> {
        let bind = super::keep_bound(
            self.services.clone(),
            self.card.clone(),
            self.daemon_url.clone(),
            shutdown,
        );
        Some(Box::pin(bind))
    }

    fn answer<'a>(&'a self, req: Request<Incoming>, caller: Caller<'a>) -> BoxFuture<'a, Reply> {
        Box::pin(async move {
            let answer = match (req.uri().path(), req.method()) {
                ("/bitrix24/card", &Method::POST) => self.open(req, caller).await,
                ("/bitrix24/card", _) => not_allowed("POST"),
                ("/bitrix24/card/messages", &Method::GET) => self.poll(req).await,
                ("/bitrix24/card/messages", _) => not_allowed("GET"),
                _ => not_found(),
            };
            answer.map(Either::Left)
        })
    }
}

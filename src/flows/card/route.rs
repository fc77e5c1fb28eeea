//! `POST /bitrix24/card` (the portal's form, §9.2), `GET /bitrix24/card/messages` (the
//! page's poll for new messages) and `POST /bitrix24/card/send` (a message written in the
//! tab), the last two with the session's headers. 404 without `[card]`. Nothing here logs a
//! form, a query or a token.

use super::cursor::Cursor;
use super::history::History;
use super::page::{self, PageParts};
use super::session::{SessionRefusal, Sessions, TabSession};
use super::tab::open_tab;
use super::writer::writer;
use crate::config::{random_token, CardConfig, Config, OperatorMapping};
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
use tokio::sync::Notify;

/// The header carrying the session id on the page's later requests.
pub const SESSION_HEADER: &str = "x-card-session";
/// The header carrying the session's CSRF token.
pub const CSRF_HEADER: &str = "x-card-csrf";

/// What the tab's routes take from the config and the daemon.
#[derive(Debug, Clone)]
pub struct CardTab {
    /// `[card]`.
    pub card: CardConfig,
    /// `[bitrix24.app] daemon_url`.
    pub daemon_url: String,
    /// The portal's time zone (`[crm] timezone`).
    pub timezone: chrono_tz::Tz,
    /// `[[crm.operators]]`, read backwards: who a portal user writes as.
    pub operators: Vec<OperatorMapping>,
    /// Wakes the worker for a queued send.
    pub wake: Arc<Notify>,
}

impl CardTab {
    /// The tab's settings when `config` has `[card]` and `[bitrix24.app]`.
    pub fn from_config(config: &Config, wake: Arc<Notify>) -> Option<Self> {
        let (card, app) = (config.card.as_ref()?, config.bitrix24.app.as_ref()?);
        Some(Self {
            card: card.clone(),
            daemon_url: app.daemon_url.clone(),
            timezone: config.timezone(),
            operators: config.crm.operators.clone(),
            wake,
        })
    }
}

/// The card tab's routes: the settings, the services, the portal's origin, the open sessions.
#[derive(Debug)]
pub struct CardRoute {
    pub(super) tab: CardTab,
    pub(super) services: Arc<Services>,
    /// The only origin allowed to frame the tab (`frame-ancestors`).
    portal_origin: String,
    pub(super) sessions: Sessions,
}

impl CardRoute {
    /// Mounts `/bitrix24/card`, `/bitrix24/card/messages` and `/bitrix24/card/send` on the
    /// public listener (before the application's other `/bitrix24/` pages). Its
    /// housekeeping keeps the tabs bound ([`super::keep_bound`]).
    pub fn mount(tab: CardTab, services: Arc<Services>, router: Router) -> Router {
        let portal_origin = url::Url::parse(&services.portal.portal_url())
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default();
        let route = Arc::new(Self {
            tab,
            services,
            portal_origin,
            sessions: Sessions::default(),
        });
        let paths = [
            Path::Exact("/bitrix24/card"),
            Path::Exact("/bitrix24/card/messages"),
            Path::Exact("/bitrix24/card/send"),
        ];
        router.mount(&paths, Listener::Public, route)
    }

    async fn open(&self, req: Request<Incoming>, caller: Caller<'_>) -> Answer {
        let mut form = form_pairs(req.uri().query().unwrap_or(""));
        let body = match read_body(req, caller.settings, FORM_LIMIT).await {
            Ok(body) => body,
            Err((status, reason)) => {
                return self.html(status, page::refused(&self.tab.card.title, reason))
            }
        };
        form.extend(form_pairs(&String::from_utf8_lossy(&body)));
        let (user, entity) = match open_tab(&self.services, &self.tab.card, &form).await {
            Ok(opened) => opened,
            Err(r) => {
                tracing::warn!(status = r.status, reason = %r.reason, "Refused to open a CRM card tab");
                let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::FORBIDDEN);
                return self.html(status, page::refused(&self.tab.card.title, &r.message));
            }
        };
        let since = self.window_start();
        let loaded = match History::load(&self.services, &entity.phones, since).await {
            Ok(history) => {
                let tab = (&user, &entity);
                writer(&self.services, &self.tab.operators, tab, &history)
                    .await
                    .map(|w| (history, w))
            }
            Err(e) => Err(e),
        };
        let (history, (writer, templates)) = match loaded {
            Ok(loaded) => loaded,
            Err(e) => {
                tracing::warn!(entity = %entity.kind, entity_id = entity.id, error = %e, "Cannot read the tab's history from Chat2Desk");
                let message = "Chat2Desk сейчас не отвечает, обновите вкладку позже.";
                return self.html(
                    StatusCode::SERVICE_UNAVAILABLE,
                    page::refused(&self.tab.card.title, message),
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
        let opened = (user.clone(), entity.clone(), writer.clone());
        let (id, csrf) = self.sessions.open(opened, ttl);
        let nonce = random_token();
        let directory = &self.services.directory;
        let chat_url = |dialog: i64| directory.chat_url(dialog);
        let parts = PageParts {
            title: &self.tab.card.title,
            user: &user,
            entity: &entity,
            session: (&id, &csrf),
            nonce: &nonce,
            timezone: self.tab.timezone,
            chat_url: &chat_url,
        };
        let cursor = Cursor::after(since.timestamp_millis(), &history.messages);
        let form = page::SendForm {
            writer: &writer,
            templates: &templates,
            key: &random_token(),
        };
        let body = page::tab(&parts, &history, &cursor, &form);
        let mut answer = self.html(StatusCode::OK, body);
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

    /// When the tab's history starts (`[card] history_days` ago).
    fn window_start(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now() - chrono::Duration::days(i64::from(self.tab.card.history_days))
    }

    /// The session of a later request (its headers), refused when cross-site, forged or
    /// expired.
    pub(super) fn session_of(&self, req: &Request<Incoming>) -> Result<TabSession, Box<Answer>> {
        let header = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        if header("sec-fetch-site") == "cross-site" || !self.same_origin(&header("origin")) {
            tracing::warn!("Refused a cross-site CRM card tab request");
            return Err(Box::new(json(
                StatusCode::FORBIDDEN,
                &serde_json::json!({"error": "cross-site"}),
            )));
        }
        match self
            .sessions
            .check(&header(SESSION_HEADER), &header(CSRF_HEADER))
        {
            Ok(session) => Ok(session),
            Err(SessionRefusal::Expired) => Err(Box::new(json(
                StatusCode::UNAUTHORIZED,
                &serde_json::json!({"error": "expired"}),
            ))),
            Err(SessionRefusal::Forged) => {
                tracing::warn!("Refused a CRM card tab request without its CSRF token");
                Err(Box::new(json(
                    StatusCode::FORBIDDEN,
                    &serde_json::json!({"error": "csrf"}),
                )))
            }
        }
    }

    /// True for no `Origin` (not a browser's cross-origin request) or `daemon_url`'s.
    fn same_origin(&self, origin: &str) -> bool {
        let ours = url::Url::parse(&self.tab.daemon_url).map(|u| u.origin().ascii_serialization());
        origin.is_empty() || ours.is_ok_and(|o| o == origin.trim_end_matches('/'))
    }

    async fn poll(&self, req: Request<Incoming>) -> Answer {
        let session = match self.session_of(&req) {
            Ok(session) => session,
            Err(answer) => return *answer,
        };
        let query = form_pairs(req.uri().query().unwrap_or(""));
        let window = self.window_start().timestamp_millis();
        let previous = Cursor::parse(query.get("since"), query.get("seen"))
            .unwrap_or_else(|| Cursor::after(window, &[]));
        let since = previous.since_ms.max(window);
        let entity = &session.entity;
        let from = chrono::DateTime::from_timestamp_millis(since).unwrap_or_default();
        let history = match History::load(&self.services, &entity.phones, from).await {
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
            title: &self.tab.card.title,
            user: &session.user,
            entity,
            session: ("", ""),
            nonce: "",
            timezone: self.tab.timezone,
            chat_url: &chat_url,
        };
        let next = Cursor::after(since, &history.messages);
        let new: Vec<serde_json::Value> = history
            .messages
            .iter()
            .filter(|m| !previous.seen.contains(&m.id))
            .map(|m| {
                serde_json::json!({
                    "id": m.id,
                    "created": m.created.map(|t| t.timestamp_millis()),
                    "html": page::message(&parts, m),
                })
            })
            .collect();
        json(
            StatusCode::OK,
            &serde_json::json!({"messages": new, "since": next.since_ms, "seen": next.seen_text()}),
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

/// A JSON answer of the page's later requests.
pub(super) fn json(status: StatusCode, value: &serde_json::Value) -> Answer {
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
            self.tab.card.clone(),
            self.tab.daemon_url.clone(),
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
                ("/bitrix24/card/send", &Method::POST) => self.send(req, caller).await,
                ("/bitrix24/card/send", _) => not_allowed("POST"),
                _ => not_found(),
            };
            answer.map(Either::Left)
        })
    }
}

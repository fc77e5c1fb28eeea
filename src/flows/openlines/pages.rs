//! `/bitrix24/connect`, `/bitrix24/app` and `/bitrix24/connector`: connecting the portal's
//! local application from an administrator's browser on the LAN, and the connector's
//! settings frame. 404 while `[bitrix24.app]` is not configured. Nothing here logs a query,
//! a form or a token. The connect page sets the state cookie ([`super::STATE_COOKIE`]);
//! `/bitrix24/app` hands it to the connection steps.

use super::LiveLines;
use super::{page, ConnectCtx, Refusal};
use crate::config::AppConfig;
use crate::engine::Services;
use crate::server::{
    not_allowed, not_found, read_body, Answer, Caller, Listener, Path, Reply, Route, Router,
    ServerSettings, FORM_LIMIT,
};
use bytes::Bytes;
use futures_util::future::BoxFuture;
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use hyper::{Method, Request, Response, StatusCode};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// The local application's pages: `[bitrix24.app]`, the services they reach, the live lines
/// and the connector page's cache.
#[derive(Debug)]
pub struct AppPages {
    app: AppConfig,
    services: Arc<Services>,
    lines: LiveLines,
    connector_page: PageCache,
}

impl AppPages {
    /// Mounts `/bitrix24/…` on the public listener (without `[bitrix24.app]` nothing is
    /// mounted: the pages answer 404).
    pub fn mount(
        app: AppConfig,
        services: Arc<Services>,
        lines: LiveLines,
        router: Router,
    ) -> Router {
        let route = Arc::new(Self {
            app,
            services,
            lines,
            connector_page: PageCache::default(),
        });
        router.mount(&[Path::Prefix("/bitrix24/")], Listener::Public, route)
    }

    /// Routes `/bitrix24/...`.
    async fn bitrix24(&self, req: Request<Incoming>, settings: &ServerSettings) -> Answer {
        let app = self.app.clone();
        let services = &self.services;
        let lines = self.lines.current();
        let ctx = ConnectCtx {
            services,
            app: &app,
            lines: &lines,
        };
        match (req.uri().path(), req.method()) {
            ("/bitrix24/connect", &Method::GET) => {
                let portal = services.portal.portal_url();
                match super::authorize_url(&services.store, &app, &portal).await {
                    Ok((url, state)) => redirect(&url, &state_cookie(&app.daemon_url, &state)),
                    Err(r) => html_refusal(&r),
                }
            }
            ("/bitrix24/connect", _) => not_allowed("GET"),
            ("/bitrix24/app", &Method::GET) => {
                let query = pairs(req.uri().query().unwrap_or(""));
                let cookie = cookie_state(&req);
                answer(super::finish_code(ctx, &query, cookie.as_deref()).await)
            }
            ("/bitrix24/app", &Method::POST) => {
                let cookie = cookie_state(&req);
                let form = match form(req, settings).await {
                    Ok(form) => form,
                    Err(answer) => return answer,
                };
                answer(super::finish_form(ctx, &form, cookie.as_deref()).await)
            }
            ("/bitrix24/app", _) => not_allowed("GET, POST"),
            ("/bitrix24/connector", &Method::GET | &Method::POST) => {
                let page = self
                    .connector_page
                    .get_or(async {
                        let status = super::line_status(services.app.as_ref(), &lines);
                        page::connector(&lines, &status.await)
                    })
                    .await;
                html(StatusCode::OK, page)
            }
            ("/bitrix24/connector", _) => not_allowed("GET, POST"),
            _ => not_found(),
        }
    }
}

impl Route for AppPages {
    fn answer<'a>(&'a self, req: Request<Incoming>, caller: Caller<'a>) -> BoxFuture<'a, Reply> {
        Box::pin(async move { self.bitrix24(req, caller.settings).await.map(Either::Left) })
    }
}

/// How long the connector's settings page is served from memory: each render asks the
/// portal `imconnector.status` per line, and the frame is opened by anyone on the LAN.
const PAGE_TTL: Duration = Duration::from_secs(30);

/// The last rendered connector page and when it was rendered.
#[derive(Debug, Default)]
struct PageCache(Mutex<Option<(Instant, String)>>);

impl PageCache {
    /// The cached page while younger than [`PAGE_TTL`], else `render`'s (one render at a
    /// time: concurrent requests wait for it).
    async fn get_or(&self, render: impl std::future::Future<Output = String>) -> String {
        let mut slot = self.0.lock().await;
        if let Some((at, page)) = slot.as_ref() {
            if at.elapsed() < PAGE_TTL {
                return page.clone();
            }
        }
        let page = render.await;
        *slot = Some((Instant::now(), page.clone()));
        page
    }
}

/// A form body (the portal posts `application/x-www-form-urlencoded`); the query string's
/// values (`DOMAIN`, `PROTOCOL`, `LANG`, `APP_SID`) are merged under the body's.
async fn form(
    req: Request<Incoming>,
    settings: &ServerSettings,
) -> Result<HashMap<String, String>, Answer> {
    let mut values = pairs(req.uri().query().unwrap_or(""));
    let body = read_body(req, settings, FORM_LIMIT)
        .await
        .map_err(|(status, reason)| {
            html(
                status,
                page::refused(&Refusal {
                    status: status.as_u16(),
                    message: reason.to_string(),
                }),
            )
        })?;
    values.extend(pairs(&String::from_utf8_lossy(&body)));
    Ok(values)
}

use crate::server::form_pairs as pairs;

fn answer(outcome: Result<super::Connected, Refusal>) -> Answer {
    match outcome {
        Ok(connected) => html(StatusCode::OK, page::connected(&connected)),
        Err(r) => html_refusal(&r),
    }
}

fn html_refusal(r: &Refusal) -> Answer {
    tracing::warn!(status = r.status, reason = %r.message, "Refused to connect the local application");
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST);
    html(status, page::refused(r))
}

/// The `Set-Cookie` value binding `state` to the browser: only for `/bitrix24/`, not for
/// scripts, sent back on the portal's top-level redirect but not on other sites' posts,
/// `Secure` when the daemon is reached over https.
fn state_cookie(daemon_url: &str, state: &str) -> String {
    let secure = if daemon_url.trim().starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{}={state}; Path=/bitrix24/; Max-Age=900; HttpOnly; SameSite=Lax{secure}",
        super::STATE_COOKIE
    )
}

/// The browser's state cookie, when it sent one.
fn cookie_state(req: &Request<Incoming>) -> Option<String> {
    req.headers()
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == super::STATE_COOKIE)
        .map(|(_, value)| value.to_string())
}

fn redirect(url: &str, cookie: &str) -> Answer {
    let mut answer = Response::new(Full::new(Bytes::new()));
    *answer.status_mut() = StatusCode::FOUND;
    if let Ok(value) = HeaderValue::from_str(url) {
        answer.headers_mut().insert(LOCATION, value);
    }
    if let Ok(value) = HeaderValue::from_str(cookie) {
        answer.headers_mut().insert(SET_COOKIE, value);
    }
    answer
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    answer
}

fn html(status: StatusCode, body: String) -> Answer {
    let mut answer = Response::new(Full::new(Bytes::from(body)));
    *answer.status_mut() = status;
    let headers = answer.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    answer
}

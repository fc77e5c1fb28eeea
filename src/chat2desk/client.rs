//! The HTTP client: one call = rate limiter → request → classify → retry on transient errors.

use super::error::{classify, Chat2DeskError};
use super::lenient::int;
use super::models::{
    ApiInfo, Channel, Client, Dialog, DialogState, Message, MessageQuery, NewWebhook, Operator,
    Page, RequestInfo, Webhook,
};
use super::options::Chat2DeskOptions;
use super::tags::Tag;
use super::templates::Template;
use crate::http::{Backoff, RateLimiter};
use crate::metrics::{self, Outcome, Remote};
use chrono_tz::Tz;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use reqwest::Method;
use serde_json::Value;
use std::collections::HashSet;
use std::error::Error as _;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Largest page the API serves.
const MAX_LIMIT: u64 = 200;

/// Safety stop for paging loops.
const MAX_PAGES: usize = 10_000;

/// A Chat2Desk API v1 client. Cheap to clone; clones share the request budget and counters.
#[derive(Clone)]
pub struct Chat2Desk {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base: String,
    limiter: RateLimiter,
    tz: Tz,
    timeout: Duration,
    max_retries: u32,
    backoff: Backoff,
    calls: AtomicU64,
}

impl fmt::Debug for Chat2Desk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chat2Desk")
            .field("base", &self.inner.base)
            .field("token", &"***")
            .finish()
    }
}

/// One failed attempt and whether the server surely did not act on it.
struct Failure {
    error: Chat2DeskError,
    not_processed: bool,
}

impl Chat2Desk {
    /// A client for `opts.api_url` + `/v1` (a trailing `/v1` in the URL is tolerated).
    pub fn new(opts: Chat2DeskOptions) -> Result<Self, Chat2DeskError> {
        let trimmed = opts.api_url.trim().trim_end_matches('/');
        let trimmed = trimmed.strip_suffix("/v1").unwrap_or(trimmed);
        let parsed = url::Url::parse(trimmed).map_err(|e| Chat2DeskError::Setup {
            detail: format!("api_url is not a URL ({e})"),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
            return Err(Chat2DeskError::Setup {
                detail: "api_url must be an http(s) URL with a host".into(),
            });
        }
        let mut token = HeaderValue::from_str(opts.token.expose().trim()).map_err(|_| {
            Chat2DeskError::Setup {
                detail: "the token contains characters not allowed in an HTTP header".into(),
            }
        })?;
        token.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, token);
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(opts.timeout)
            .connect_timeout(opts.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("chat2desk-b24/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Chat2DeskError::Setup {
                detail: describe(e),
            })?;
        let rps = opts.requests_per_second.max(0.0);
        let burst = rps.ceil().clamp(1.0, f64::from(u32::MAX)) as u32;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base: format!("{trimmed}/v1"),
                limiter: RateLimiter::new(rps, burst),
                tz: opts.naive_timezone,
                timeout: opts.timeout,
                max_retries: opts.max_retries,
                backoff: opts.backoff,
                calls: AtomicU64::new(0),
            }),
        })
    }

    /// HTTP requests sent so far, retries included.
    pub fn calls_made(&self) -> u64 {
        self.inner.calls.load(Ordering::Relaxed)
    }

    /// `GET /v1/companies/api_info`: the cheapest token check; its `requests_this_month` goes
    /// to the metrics.
    pub async fn api_info(&self) -> Result<ApiInfo, Chat2DeskError> {
        let v = self.get("/companies/api_info", &[]).await?;
        let info = ApiInfo::from_json(&data(&v));
        if let Some(calls) = info.requests_this_month {
            metrics::global().record_chat2desk_requests_this_month(calls);
        }
        Ok(info)
    }

    /// `GET /v1/requests/{id}`.
    pub async fn request(&self, id: i64) -> Result<RequestInfo, Chat2DeskError> {
        let path = format!("/requests/{id}");
        let v = self.get(&path, &[]).await?;
        let obj = object(&v);
        RequestInfo::from_json(&obj, self.inner.tz)
            .ok_or_else(|| unexpected(&path, "no request id"))
    }

    /// `GET /v1/requests/{id}/messages`, every page, sorted by `(created, id)`. Accepts the
    /// `{status, data, meta}` envelope and a bare array (both seen, `chat2desk-api.md` §2).
    pub async fn request_messages(&self, id: i64) -> Result<Vec<Message>, Chat2DeskError> {
        let tz = self.inner.tz;
        let mut messages = self
            .all(
                &format!("/requests/{id}/messages"),
                Vec::new(),
                |v| Message::from_json(v, tz),
                |m| m.id,
            )
            .await?;
        messages.sort_by_key(|m| (m.created, m.id));
        Ok(messages)
    }

    /// `GET /v1/clients/{id}`.
    pub async fn client(&self, id: i64) -> Result<Client, Chat2DeskError> {
        let path = format!("/clients/{id}");
        let v = self.get(&path, &[]).await?;
        Client::from_json(&object(&v)).ok_or_else(|| unexpected(&path, "no client id"))
    }

    /// `GET /v1/operators`, every page.
    pub async fn operators(&self) -> Result<Vec<Operator>, Chat2DeskError> {
        self.all("/operators", Vec::new(), Operator::from_json, |o| o.id)
            .await
    }

    /// `GET /v1/channels`, every page.
    pub async fn channels(&self) -> Result<Vec<Channel>, Chat2DeskError> {
        self.all("/channels", Vec::new(), Channel::from_json, |c| c.id)
            .await
    }

    /// `GET /v1/tags`: the company's tags.
    pub async fn tags(&self) -> Result<Vec<Tag>, Chat2DeskError> {
        self.all("/tags", Vec::new(), Tag::from_json, |t| t.id)
            .await
    }

    /// `GET /v1/templates`: the company's message templates.
    pub async fn templates(&self) -> Result<Vec<Template>, Chat2DeskError> {
        self.all("/templates", Vec::new(), Template::from_json, |t| t.id)
            .await
    }

    /// `GET /v1/dialogs/{id}`.
    pub async fn dialog(&self, id: i64) -> Result<Dialog, Chat2DeskError> {
        let path = format!("/dialogs/{id}");
        let v = self.get(&path, &[]).await?;
        Dialog::from_json(&object(&v), self.inner.tz)
            .ok_or_else(|| unexpected(&path, "no dialog id"))
    }

    /// `GET /v1/dialogs` — one page, optionally only open or closed dialogs.
    pub async fn dialogs(
        &self,
        state: Option<DialogState>,
        offset: u64,
        limit: u64,
    ) -> Result<Page<Dialog>, Chat2DeskError> {
        let mut query = Vec::new();
        if let Some(state) = state {
            query.push(("state", state.as_str().to_string()));
        }
        let tz = self.inner.tz;
        let (page, _) = self
            .page("/dialogs", query, offset, limit, |v| {
                Dialog::from_json(v, tz)
            })
            .await?;
        Ok(page)
    }

    /// `GET /v1/messages` — one page filtered by `q`.
    pub async fn messages(&self, q: &MessageQuery) -> Result<Page<Message>, Chat2DeskError> {
        let mut query = Vec::new();
        for (name, value) in [
            ("start_id", q.start_id),
            ("dialog_id", q.dialog_id),
            ("client_id", q.client_id),
        ] {
            if let Some(value) = value {
                query.push((name, value.to_string()));
            }
        }
        if let Some(order) = q.order {
            query.push(("order", order.as_str().to_string()));
        }
        let tz = self.inner.tz;
        let (page, _) = self
            .page("/messages", query, q.offset, q.limit, |v| {
                Message::from_json(v, tz)
            })
            .await?;
        Ok(page)
    }

    /// `GET /v1/webhooks`.
    pub async fn webhooks(&self) -> Result<Vec<Webhook>, Chat2DeskError> {
        let v = self.get("/webhooks", &[]).await?;
        Ok(match data(&v) {
            Value::Array(items) => items.iter().filter_map(Webhook::from_json).collect(),
            other => Webhook::from_json(&other).into_iter().collect(),
        })
    }

    /// `POST /v1/webhooks {url, name, events, channels}` → the new webhook's id.
    /// Not retried unless the server surely did not get it (a re-sent registration would
    /// answer "This url is already used").
    pub async fn create_webhook(&self, w: &NewWebhook) -> Result<i64, Chat2DeskError> {
        let body = serde_json::to_value(w).map_err(|e| unexpected("/webhooks", &e.to_string()))?;
        let v = self
            .call(Method::POST, "/webhooks", &[], Some(&body))
            .await?;
        let d = object(&v);
        int(d.get("id"))
            .or_else(|| int(d.get("webhook_id")))
            .or_else(|| int(v.get("id")))
            .ok_or_else(|| unexpected("/webhooks", "no webhook id in the answer"))
    }

    /// `PUT /v1/webhooks/{id}` with the same body as [`Chat2Desk::create_webhook`].
    pub async fn update_webhook(&self, id: i64, w: &NewWebhook) -> Result<(), Chat2DeskError> {
        let path = format!("/webhooks/{id}");
        let body = serde_json::to_value(w).map_err(|e| unexpected(&path, &e.to_string()))?;
        self.call(Method::PUT, &path, &[], Some(&body)).await?;
        Ok(())
    }

    /// `DELETE /v1/webhooks/{id}`.
    pub async fn delete_webhook(&self, id: i64) -> Result<(), Chat2DeskError> {
        self.call(Method::DELETE, &format!("/webhooks/{id}"), &[], None)
            .await?;
        Ok(())
    }

    async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, Chat2DeskError> {
        self.call(Method::GET, path, query, None).await
    }

    /// Every page of a list, stopping when the server says there is no more, or when a page
    /// brings no new ids (a server ignoring `offset`).
    async fn all<T>(
        &self,
        path: &str,
        extra: Vec<(&'static str, String)>,
        decode: impl Fn(&Value) -> Option<T>,
        id_of: impl Fn(&T) -> i64,
    ) -> Result<Vec<T>, Chat2DeskError> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut offset = 0;
        for _ in 0..MAX_PAGES {
            let (page, raw) = self
                .page(path, extra.clone(), offset, MAX_LIMIT, &decode)
                .await?;
            let more = raw > 0 && page.has_more_raw(raw);
            let before = seen.len();
            for item in page.items {
                if seen.insert(id_of(&item)) {
                    out.push(item);
                }
            }
            if !more || (seen.len() == before && raw > 0) {
                break;
            }
            offset += raw as u64;
        }
        Ok(out)
    }

    /// One page: the decoded items and the raw item count (undecodable items included).
    async fn page<T>(
        &self,
        path: &str,
        mut query: Vec<(&'static str, String)>,
        offset: u64,
        limit: u64,
        decode: impl Fn(&Value) -> Option<T>,
    ) -> Result<(Page<T>, usize), Chat2DeskError> {
        let limit = limit.min(MAX_LIMIT);
        if limit > 0 {
            query.push(("limit", limit.to_string()));
        }
        query.push(("offset", offset.to_string()));
        let v = self.get(path, &query).await?;
        let items = match data(&v) {
            Value::Array(items) => items,
            Value::Null => Vec::new(),
            _ => return Err(unexpected(path, "expected a list")),
        };
        let raw = items.len();
        let decoded: Vec<T> = items.iter().filter_map(&decode).collect();
        if decoded.len() < raw {
            tracing::warn!(
                endpoint = %format!("GET /v1{path}"),
                skipped = raw - decoded.len(),
                "Skipped list items without a usable id."
            );
        }
        let meta = v.get("meta");
        let read = |name: &str| {
            meta.and_then(|m| int(m.get(name)))
                .and_then(|n| u64::try_from(n).ok())
        };
        Ok((
            Page {
                items: decoded,
                total: read("total"),
                offset: read("offset").unwrap_or(offset),
                limit: read("limit").filter(|l| *l > 0).unwrap_or(if limit > 0 {
                    limit
                } else {
                    20
                }),
            },
            raw,
        ))
    }

    /// Sends one call with the budget, retries and classification.
    pub(super) async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value, Chat2DeskError> {
        let endpoint = format!("{method} /v1{path}");
        let write = method != Method::GET;
        let mut attempt = 0u32;
        loop {
            self.inner.limiter.acquire().await;
            let started = Instant::now();
            let result = self.attempt(&method, path, query, body, &endpoint).await;
            let outcome = match &result {
                Ok(_) => Outcome::Ok,
                Err(f) if f.error.is_transient() => Outcome::Transient,
                Err(_) => Outcome::Error,
            };
            metrics::global().record_call(Remote::Chat2Desk, &endpoint, outcome, started.elapsed());
            let failure = match result {
                Ok(v) => return Ok(v),
                Err(f) => f,
            };
            let retryable = failure.error.is_transient() && (!write || failure.not_processed);
            if !retryable || attempt >= self.inner.max_retries {
                return Err(failure.error);
            }
            let delay = self.inner.backoff.delay(attempt);
            attempt += 1;
            tracing::warn!(
                endpoint = %endpoint,
                attempt,
                error = %failure.error,
                delay_ms = delay.as_millis() as u64,
                "Retrying a Chat2Desk call after a transient error."
            );
            if matches!(failure.error, Chat2DeskError::RateLimited { .. }) {
                self.inner.limiter.pause_until(Instant::now() + delay);
            } else {
                tokio::time::sleep(delay).await;
            }
        }
    }

    async fn attempt(
        &self,
        method: &Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        endpoint: &str,
    ) -> Result<Value, Failure> {
        self.inner.calls.fetch_add(1, Ordering::Relaxed);
        let mut request = self
            .inner
            .http
            .request(method.clone(), format!("{}{path}", self.inner.base));
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        tracing::debug!(endpoint = %endpoint, "Calling Chat2Desk.");
        let transport = |e: reqwest::Error| {
            let not_processed = e.is_connect();
            let detail = if e.is_timeout() {
                format!("no answer within {} s", self.inner.timeout.as_secs_f64())
            } else {
                describe(e)
            };
            Failure {
                error: Chat2DeskError::Transport {
                    endpoint: endpoint.to_string(),
                    detail,
                },
                not_processed,
            }
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(transport)?;
        classify(endpoint, status, &bytes).map_err(|error| Failure {
            not_processed: matches!(error, Chat2DeskError::RateLimited { .. }),
            error,
        })
    }
}

impl<T> Page<T> {
    /// `has_more` judged by the raw item count of the answer.
    fn has_more_raw(&self, raw: usize) -> bool {
        match self.total {
            Some(total) => self.offset + (raw as u64) < total,
            None => raw as u64 >= self.limit,
        }
    }
}

/// The `data` of an envelope, or the whole body when it is bare.
pub(super) fn data(v: &Value) -> Value {
    match v {
        Value::Object(map) if map.contains_key("data") => map["data"].clone(),
        other => other.clone(),
    }
}

/// The object in `data` (the first element when the API wraps it in a list).
pub(super) fn object(v: &Value) -> Value {
    match data(v) {
        Value::Array(mut items) if !items.is_empty() => items.swap_remove(0),
        other => other,
    }
}

pub(super) fn unexpected(path: &str, detail: &str) -> Chat2DeskError {
    Chat2DeskError::Unexpected {
        endpoint: format!("/v1{path}"),
        detail: detail.to_string(),
    }
}

/// A reqwest error with its causes, without the URL.
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

//! The client handle: options, construction, and the generic `call`/`call_list` every typed
//! method goes through.

use super::batcher::{self, Pending, Reply, Shared, Unit};
use super::transport::Transport;
use super::BitrixError;
use super::ListPage;
use crate::config::{Bitrix24Config, Secret};
use crate::http::{Backoff, RateLimiter};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Semaphore};
use url::Url;

/// How to reach the portal and how politely.
#[derive(Debug, Clone)]
pub struct Bitrix24Options {
    /// Inbound webhook URL `https://portal/rest/<user>/<secret>/`.
    pub webhook_url: Secret,
    /// Extra root certificate(s), PEM, for a portal with a self-signed or private CA.
    pub ca_file: Option<PathBuf>,
    /// HTTP requests per second towards the portal (a batch is one); 0 = unlimited.
    pub requests_per_second: f64,
    /// Burst of the request budget.
    pub burst: u32,
    /// Timeout of one HTTP request.
    pub timeout: Duration,
    /// How long the dispatcher waits for more calls after the first one of a batch.
    pub batch_linger: Duration,
    /// Retries of a request that may be repeated.
    pub max_retries: u32,
    /// Delays between retries.
    pub backoff: Backoff,
}

impl Bitrix24Options {
    /// Options from the `[bitrix24]` section, with a 3 ms batch linger, 8 retries and a
    /// 500 ms … 30 s backoff.
    pub fn from_config(c: &Bitrix24Config) -> Self {
        Self {
            webhook_url: c.webhook_url.clone(),
            ca_file: c.ca_file.clone(),
            requests_per_second: c.requests_per_second,
            burst: c.burst,
            timeout: Duration::from_secs(c.timeout_secs.max(1)),
            batch_linger: Duration::from_millis(3),
            max_retries: 8,
            backoff: Backoff::new(Duration::from_millis(500), Duration::from_secs(30)),
        }
    }
}

/// A Bitrix24 client over an inbound webhook. Cheap to clone; every clone shares one
/// dispatcher, one rate limiter and one connection pool. Calls made at the same time are sent
/// together in one `batch` request.
#[derive(Clone)]
pub struct Bitrix24 {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    tx: mpsc::UnboundedSender<Unit>,
    portal: String,
}

impl fmt::Debug for Bitrix24 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The webhook path is the secret: show the portal's origin only.
        f.debug_struct("Bitrix24")
            .field("portal", &self.inner.portal)
            .field("webhook", &"***")
            .finish()
    }
}

fn config_error(key: &str, detail: impl Into<String>) -> BitrixError {
    BitrixError::Config {
        key: key.to_string(),
        detail: detail.into(),
    }
}

/// Checks the webhook URL's shape without ever echoing it.
fn parse_webhook(secret: &Secret) -> Result<Url, BitrixError> {
    const KEY: &str = "webhook_url";
    const SHAPE: &str = "expected https://<portal>/rest/<user id>/<secret>/";
    if secret.is_empty() {
        return Err(config_error(KEY, format!("not set; {SHAPE}")));
    }
    let mut url = Url::parse(secret.expose().trim())
        .map_err(|e| config_error(KEY, format!("not a valid URL ({e}); {SHAPE}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(config_error(
            KEY,
            format!("needs an http(s) URL with a host; {SHAPE}"),
        ));
    }
    let segments: Vec<&str> = url
        .path_segments()
        .map(|s| s.filter(|p| !p.is_empty()).collect())
        .unwrap_or_default();
    if segments.len() < 3 || segments[segments.len() - 3] != "rest" {
        return Err(config_error(
            KEY,
            format!("the path is not a webhook path; {SHAPE}"),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(config_error(
            KEY,
            format!("remove the query or fragment; {SHAPE}"),
        ));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

impl Bitrix24 {
    /// A client for the webhook in `opts`. Must be called inside a Tokio runtime (it starts
    /// the batching task). A bad URL or unreadable `ca_file` gives [`BitrixError::Config`].
    pub fn new(opts: Bitrix24Options) -> Result<Self, BitrixError> {
        let base = parse_webhook(&opts.webhook_url)?;
        let portal = base.origin().ascii_serialization();
        let mut builder = reqwest::Client::builder()
            .timeout(opts.timeout)
            .connect_timeout(opts.timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("chat2desk-b24/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &opts.ca_file {
            let pem = std::fs::read(path).map_err(|e| {
                config_error("ca_file", format!("cannot read {}: {e}", path.display()))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                config_error(
                    "ca_file",
                    format!("{} is not PEM: {}", path.display(), e.without_url()),
                )
            })?;
            if certs.is_empty() {
                return Err(config_error(
                    "ca_file",
                    format!("{} holds no PEM certificate", path.display()),
                ));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder.build().map_err(|e| {
            config_error("ca_file", format!("TLS setup failed: {}", e.without_url()))
        })?;
        let shared = Arc::new(Shared {
            transport: Transport {
                http,
                base,
                timeout: opts.timeout,
            },
            limiter: RateLimiter::new(opts.requests_per_second, opts.burst),
            linger: opts.batch_linger,
            max_retries: opts.max_retries,
            backoff: opts.backoff,
            http_calls: AtomicU64::new(0),
            paused: Mutex::new(HashMap::new()),
            in_flight: Arc::new(Semaphore::new(batcher::MAX_IN_FLIGHT)),
            units: AtomicU64::new(0),
            last_callers: AtomicUsize::new(0),
        });
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(batcher::dispatch(shared.clone(), rx));
        Ok(Self {
            inner: Arc::new(Inner { shared, tx, portal }),
        })
    }

    /// `scheme://host[:port]` of the portal, without the secret, for links such as
    /// `{portal}/crm/lead/details/{id}/`.
    pub fn portal_url(&self) -> String {
        self.inner.portal.clone()
    }

    /// The HTTP client (with the `ca_file` trust), for the local application's calls to the
    /// same portal.
    pub fn http(&self) -> reqwest::Client {
        self.inner.shared.transport.http.clone()
    }

    /// HTTP requests actually sent (a batch counts once, every retry counts).
    pub fn http_calls(&self) -> u64 {
        self.inner.shared.http_calls.load(Ordering::Relaxed)
    }

    /// Calls `method` with JSON `params` and decodes its `result`. Concurrent calls are sent
    /// together as one `batch`.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        params: Value,
    ) -> Result<T, BitrixError> {
        let reply = self.raw(method, params).await?;
        serde_json::from_value(reply.result).map_err(|e| BitrixError::Decode {
            method: method.to_string(),
            detail: format!("unexpected result shape: {e}"),
            garbled: false,
        })
    }

    /// Calls a list method and returns one page: rows, `total` and `next`.
    pub async fn call_list(
        &self,
        method: &str,
        params: Value,
    ) -> Result<ListPage<Value>, BitrixError> {
        let reply = self.raw(method, params).await?;
        let items = match reply.result {
            Value::Array(items) => items,
            // Newer list methods (`crm.item.list`) wrap the rows: `{"items": [...]}`.
            Value::Object(map) => match map.into_iter().find(|(_, v)| v.is_array()) {
                Some((_, Value::Array(items))) => items,
                _ => Vec::new(),
            },
            Value::Null => Vec::new(),
            other => {
                return Err(BitrixError::Decode {
                    method: method.to_string(),
                    detail: format!("expected a list, got {}", kind_of(&other)),
                    garbled: false,
                })
            }
        };
        Ok(ListPage {
            items,
            total: reply.total,
            next: reply.next,
        })
    }

    async fn raw(&self, method: &str, params: Value) -> Result<Reply, BitrixError> {
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            method: method.to_string(),
            params,
            reply,
            unit: self.inner.shared.units.fetch_add(1, Ordering::Relaxed),
            name: None,
            links: Vec::new(),
        };
        if method.eq_ignore_ascii_case("batch") {
            // A caller's own batch cannot be nested in ours: it goes alone.
            self.inner.shared.limiter.acquire().await;
            batcher::execute(self.inner.shared.clone(), vec![pending]).await;
        } else {
            self.submit(vec![pending]);
        }
        answer.await.unwrap_or_else(|_| {
            Err(BitrixError::Transport {
                method: method.to_string(),
                detail: "the request task ended without an answer".into(),
            })
        })
    }

    /// What the dispatcher and the request tasks share.
    pub(super) fn shared(&self) -> &Shared {
        &self.inner.shared
    }

    /// Hands calls that travel together to the dispatcher; when it is gone, each caller gets
    /// a transport error.
    pub(super) fn submit(&self, unit: Unit) {
        if let Err(mpsc::error::SendError(unit)) = self.inner.tx.send(unit) {
            for p in unit {
                let _ = p.reply.send(Err(BitrixError::Transport {
                    method: p.method.clone(),
                    detail: "the client is shutting down".into(),
                }));
            }
        }
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(url: &str) -> Bitrix24Options {
        Bitrix24Options::from_config(&Bitrix24Config {
            webhook_url: Secret::new(url),
            ..Bitrix24Config::default()
        })
    }

    #[tokio::test]
    async fn bad_urls_are_config_errors_without_the_url() {
        for url in [
            "",
            "not a url",
            "ftp://portal/rest/1/s3cr3tpart/",
            "https://portal.example/s3cr3tpart/",
            "https://portal.example/rest/1/s3cr3tpart/?x=1",
        ] {
            let err = Bitrix24::new(options(url)).unwrap_err();
            assert!(matches!(&err, BitrixError::Config { key, .. } if key == "webhook_url"));
            assert!(!format!("{err} {err:?}").contains("s3cr3tpart"), "{err}");
        }
    }

    #[tokio::test]
    async fn portal_url_and_debug_hide_the_secret() {
        let client =
            Bitrix24::new(options("https://portal.example:8443/rest/1/s3cr3tpart")).unwrap();
        assert_eq!(client.portal_url(), "https://portal.example:8443");
        assert!(!format!("{client:?}").contains("s3cr3tpart"));
    }

    #[tokio::test]
    async fn unreadable_ca_file_names_the_key() {
        let mut opts = options("https://portal.example/rest/1/abc/");
        opts.ca_file = Some(PathBuf::from("/nonexistent/ca.pem"));
        let err = Bitrix24::new(opts).unwrap_err();
        assert!(matches!(&err, BitrixError::Config { key, .. } if key == "ca_file"));
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), "not a certificate").unwrap();
        let mut opts = options("https://portal.example/rest/1/abc/");
        opts.ca_file = Some(file.path().to_path_buf());
        assert!(matches!(
            Bitrix24::new(opts),
            Err(BitrixError::Config { .. })
        ));
    }
}

//! Chat2Desk facts every job needs and that rarely change: operators, clients and the web
//! app's URL. Chat2Desk bills API calls, so these are read once and kept: operators for
//! ten minutes, clients for an hour or until a `client_updated` webhook says they changed.

use crate::chat2desk::{Chat2Desk, Chat2DeskError, Client, Operator};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// Web app used for chat links when neither `[chat2desk] web_url` nor `api_info` gives one.
pub const DEFAULT_WEB_URL: &str = "https://web.chat2desk.com";

/// How long the operator list is trusted before it is read again.
const OPERATORS_TTL: Duration = Duration::from_secs(600);
/// An unknown operator id triggers a re-read at most this often.
const OPERATORS_MIN_REFRESH: Duration = Duration::from_secs(60);

/// How long a client read with `GET /clients/{id}` is used without reading it again (a
/// `client_updated` webhook drops it at once).
const CLIENTS_TTL: Duration = Duration::from_secs(3600);
/// Clients kept at most; beyond that the cache starts over (a day's worth for most companies).
const CLIENTS_MAX: usize = 20_000;

/// Cached operators, clients and the chat link base.
#[derive(Debug)]
pub struct Directory {
    web_url: String,
    operators: Mutex<Cached>,
    clients: std::sync::Mutex<HashMap<i64, (Client, Instant)>>,
}

#[derive(Debug, Default)]
struct Cached {
    by_id: Arc<HashMap<i64, Operator>>,
    loaded: Option<Instant>,
}

impl Directory {
    /// A directory with a known web URL (from config, or [`Directory::discover_web_url`]).
    pub fn new(web_url: String) -> Self {
        Self {
            web_url: web_url.trim_end_matches('/').to_string(),
            operators: Mutex::new(Cached::default()),
            clients: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The web app base: `configured`, else `api_info.domain_urls[0]`, else the default.
    pub async fn discover_web_url(
        chat2desk: &Chat2Desk,
        configured: Option<&str>,
    ) -> Result<String, Chat2DeskError> {
        if let Some(url) = configured.filter(|u| !u.trim().is_empty()) {
            return Ok(url.trim().to_string());
        }
        let info = chat2desk.api_info().await?;
        Ok(info
            .domain_urls
            .into_iter()
            .map(|u| u.trim().to_string())
            .find(|u| u.starts_with("http"))
            .unwrap_or_else(|| DEFAULT_WEB_URL.to_string()))
    }

    /// The web app's base URL.
    pub fn web_url(&self) -> &str {
        &self.web_url
    }

    /// Link to a dialog in the web app (`<base>/chat/all?dialogID=<id>`).
    pub fn chat_url(&self, dialog_id: i64) -> String {
        format!("{}/chat/all?dialogID={dialog_id}", self.web_url)
    }

    /// The operator list, read again when stale or when `wanted` is not in it.
    pub async fn operators(
        &self,
        chat2desk: &Chat2Desk,
        wanted: Option<i64>,
    ) -> Result<Arc<HashMap<i64, Operator>>, Chat2DeskError> {
        let mut cached = self.operators.lock().await;
        let age = cached.loaded.map(|t| t.elapsed());
        let stale = age.is_none_or(|a| a > OPERATORS_TTL);
        let missing = wanted.is_some_and(|id| !cached.by_id.contains_key(&id))
            && age.is_none_or(|a| a > OPERATORS_MIN_REFRESH);
        if stale || missing {
            let list = chat2desk.operators().await?;
            cached.by_id = Arc::new(list.into_iter().map(|o| (o.id, o)).collect());
            cached.loaded = Some(Instant::now());
        }
        Ok(cached.by_id.clone())
    }

    /// Client `id`: from the cache when read less than an hour ago, else `GET /clients/{id}`.
    pub async fn client(&self, chat2desk: &Chat2Desk, id: i64) -> Result<Client, Chat2DeskError> {
        if let Some(client) = self.cached_client(id) {
            return Ok(client);
        }
        let client = chat2desk.client(id).await?;
        let mut clients = self.clients.lock().expect("client cache lock");
        if clients.len() >= CLIENTS_MAX {
            clients.clear();
        }
        clients.insert(id, (client.clone(), Instant::now()));
        Ok(client)
    }

    /// Drops client `id` from the cache (Chat2Desk said it changed: `client_updated`).
    pub fn forget_client(&self, id: i64) {
        self.clients.lock().expect("client cache lock").remove(&id);
    }

    fn cached_client(&self, id: i64) -> Option<Client> {
        let clients = self.clients.lock().expect("client cache lock");
        clients
            .get(&id)
            .filter(|(_, at)| at.elapsed() < CLIENTS_TTL)
            .map(|(c, _)| c.clone())
    }
}

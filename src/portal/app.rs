//! REST calls in the context of the local application (`bitrix24-apps.md` §1.4): the methods
//! an inbound webhook may not call (`imconnector.*`, `event.*`). `POST <portal>/rest/<method>`
//! with the access token in the JSON body's `auth` (some PHP setups drop the
//! `Authorization` header). An `expired_token` or `invalid_token` answer refreshes the token
//! once (through the [`TokenKeeper`]) and repeats the call; nothing else is repeated here,
//! so a write whose fate is unknown is never sent twice behind the caller's back.

use super::transport::{Failure, Transport};
use super::BitrixError;
use crate::config::Secret;
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// Where the app's access token comes from and how a refused one is replaced.
pub trait TokenKeeper: Send + Sync + std::fmt::Debug {
    /// The current access token (`None`: the app was never connected or the grant is gone).
    fn current(&self) -> BoxFuture<'_, Result<Option<Secret>, BitrixError>>;
    /// A new access token after `failed` was refused (single flight across processes).
    fn refresh<'a>(&'a self, failed: &'a Secret) -> BoxFuture<'a, Result<Secret, BitrixError>>;
}

/// A boxed future (the keeper is a trait object).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A client for app-context calls.
#[derive(Clone)]
pub struct AppClient {
    transport: Arc<Transport>,
    keeper: Arc<dyn TokenKeeper>,
}

impl std::fmt::Debug for AppClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppClient")
            .field("base", &self.transport.base.as_str())
            .finish()
    }
}

/// Why an app-context call needs the administrator: the app is not connected.
pub fn not_connected(method: &str) -> BitrixError {
    BitrixError::Api {
        method: method.to_string(),
        code: "NO_AUTH_FOUND".into(),
        description: "the local application is not connected: open <daemon_url>/bitrix24/connect as a portal administrator".into(),
        http_status: 401,
    }
}

impl AppClient {
    /// A client for the portal at `portal` (`scheme://host[:port]`), sharing the webhook
    /// client's TLS settings through `http`.
    pub fn new(
        http: reqwest::Client,
        portal: &str,
        timeout: Duration,
        keeper: Arc<dyn TokenKeeper>,
    ) -> Result<Self, BitrixError> {
        let base = url::Url::parse(portal)
            .and_then(|u| u.join("/rest/"))
            .map_err(|_| BitrixError::Config {
                key: "webhook_url".into(),
                detail: "the portal address does not form a REST URL".into(),
            })?;
        Ok(Self {
            transport: Arc::new(Transport {
                http,
                base,
                timeout,
            }),
            keeper,
        })
    }

    /// Calls `method` (`profile`, `app.info`) without parameters with a token that is not
    /// stored yet (to verify it before it is accepted): the portal answers only for its own
    /// tokens.
    pub async fn call_unstored(&self, method: &str, token: &Secret) -> Result<Value, BitrixError> {
        self.call_as(method, serde_json::json!({}), token).await
    }

    /// Calls `method` with `params` (a JSON object) with a token the daemon does not keep,
    /// such as a CRM card tab's current user's (`bitrix24-apps.md` §9.2): the portal applies
    /// that user's rights; nothing is refreshed or repeated.
    pub async fn call_as(
        &self,
        method: &str,
        params: Value,
        token: &Secret,
    ) -> Result<Value, BitrixError> {
        let mut body = params;
        if let Value::Object(map) = &mut body {
            map.insert("auth".into(), Value::String(token.expose().to_string()));
        }
        match self.transport.post(method, &body).await {
            Ok(envelope) => Ok(envelope.get("result").cloned().unwrap_or(Value::Null)),
            Err(
                Failure::Final(e) | Failure::Uncertain(e) | Failure::NotExecuted { error: e, .. },
            ) => Err(e),
        }
    }

    /// Calls `method` with `params` (a JSON object) as the application and returns `result`.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, BitrixError> {
        let Some(mut token) = self.keeper.current().await? else {
            return Err(not_connected(method));
        };
        let mut refreshed = false;
        loop {
            let mut body = params.clone();
            if let Value::Object(map) = &mut body {
                map.insert("auth".into(), Value::String(token.expose().to_string()));
            }
            let outcome = self.transport.post(method, &body).await;
            match outcome {
                Ok(envelope) => return Ok(envelope.get("result").cloned().unwrap_or(Value::Null)),
                Err(Failure::Final(e)) if !refreshed && is_token_refused(&e) => {
                    token = self.keeper.refresh(&token).await?;
                    refreshed = true;
                }
                Err(
                    Failure::Final(e)
                    | Failure::Uncertain(e)
                    | Failure::NotExecuted { error: e, .. },
                ) => return Err(e),
            }
        }
    }
}

/// `expired_token` (1 h is up) or `invalid_token` (not known to the OAuth server).
fn is_token_refused(e: &BitrixError) -> bool {
    matches!(e.code(), Some("expired_token" | "invalid_token"))
}

//! The OAuth token endpoint of a local application (`bitrix24-apps.md` §1.2–§1.3):
//! `POST <oauth_url>/oauth/token/` with the form `grant_type=authorization_code|refresh_token&…`.
//! The docs show a GET with the fields in the query; the form body keeps `client_secret` and
//! the refresh token out of URLs (and every proxy's log). Redirects are not followed: a
//! redirected request would carry the secret to another host.
//!
//! Unsure in the docs: the HTTP status of token-endpoint errors (§7.3) — the `error` code
//! decides, whatever the status; every field but the two tokens is optional (§1.2).

use crate::config::Secret;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::time::Duration;
use url::Url;

/// New tokens, as the token endpoint gives them.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenSet {
    /// Access token.
    pub access_token: Secret,
    /// Refresh token.
    pub refresh_token: Secret,
    /// When the access token ends.
    pub expires_at: DateTime<Utc>,
    /// The portal's `member_id`, when given.
    pub member_id: Option<String>,
    /// The authorising user, when given.
    pub user_id: Option<i64>,
    /// Granted scopes, when given.
    pub scopes: Vec<String>,
}

/// A failed token request.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OAuthError {
    /// The OAuth server refused: `invalid_grant` (a used or expired code or refresh token),
    /// `invalid_client` (wrong `client_id`/`client_secret`), ….
    #[error("the OAuth server refused the {grant} request: {code} ({description})")]
    Refused {
        /// `authorization_code` or `refresh_token`.
        grant: &'static str,
        /// The `error` code.
        code: String,
        /// Its description.
        description: String,
    },
    /// The request did not complete or the answer was not understood (try again later).
    #[error("the OAuth server at {host} did not answer the {grant} request: {detail}")]
    Unreachable {
        /// `authorization_code` or `refresh_token`.
        grant: &'static str,
        /// Host of `oauth_url`.
        host: String,
        /// What happened.
        detail: String,
    },
}

impl OAuthError {
    /// True when the grant itself is gone (the administrator must connect again).
    pub fn is_revoked(&self) -> bool {
        matches!(self, OAuthError::Refused { code, .. } if code == "invalid_grant")
    }
}

#[derive(Deserialize)]
struct Answer {
    access_token: Option<String>,
    refresh_token: Option<String>,
    expires_in: Option<serde_json::Value>,
    member_id: Option<String>,
    user_id: Option<serde_json::Value>,
    scope: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// The token endpoint of one local application.
#[derive(Debug, Clone)]
pub struct OAuthClient {
    http: reqwest::Client,
    endpoint: Url,
    client_id: String,
    client_secret: Secret,
}

/// Default access token lifetime when the answer has no `expires_in` (doc §1.3: 1 h).
const DEFAULT_TTL: i64 = 3600;

impl OAuthClient {
    /// A client for `<oauth_url>/oauth/token/`; `timeout` bounds every request (keep it well
    /// under the state database's busy timeout: a refresh runs inside a write transaction).
    pub fn new(
        oauth_url: &str,
        client_id: &str,
        client_secret: &Secret,
        timeout: Duration,
    ) -> Result<Self, url::ParseError> {
        let base = Url::parse(oauth_url.trim_end_matches('/'))?;
        let endpoint = base.join("/oauth/token/")?;
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("chat2desk-b24/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("HTTP client builds");
        Ok(Self {
            http,
            endpoint,
            client_id: client_id.to_string(),
            client_secret: client_secret.clone(),
        })
    }

    /// Exchanges an authorisation `code` (good for 30 s) for tokens.
    pub async fn exchange_code(&self, code: &str) -> Result<TokenSet, OAuthError> {
        self.request("authorization_code", "code", code).await
    }

    /// Refreshes: both tokens rotate (store the pair atomically).
    pub async fn refresh(&self, refresh_token: &Secret) -> Result<TokenSet, OAuthError> {
        self.request("refresh_token", "refresh_token", refresh_token.expose())
            .await
    }

    async fn request(
        &self,
        grant: &'static str,
        field: &str,
        value: &str,
    ) -> Result<TokenSet, OAuthError> {
        let unreachable = |detail: String| OAuthError::Unreachable {
            grant,
            host: self.endpoint.host_str().unwrap_or("").to_string(),
            detail,
        };
        let form = [
            ("grant_type", grant),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose()),
            (field, value),
        ];
        let response = self
            .http
            .post(self.endpoint.clone())
            .form(&form)
            .send()
            .await
            .map_err(|e| unreachable(e.without_url().to_string()))?;
        if response.status().is_redirection() {
            return Err(unreachable(format!(
                "HTTP {} redirect, not followed: set [bitrix24.app] oauth_url to the token \
                 server's final address",
                response.status().as_u16()
            )));
        }
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|e| unreachable(e.without_url().to_string()))?;
        let answer: Answer = serde_json::from_slice(&body)
            .map_err(|_| unreachable(format!("HTTP {status} with a body that is not JSON")))?;
        if let Some(code) = answer.error.filter(|c| !c.is_empty()) {
            return Err(OAuthError::Refused {
                grant,
                code,
                description: answer.error_description.unwrap_or_default(),
            });
        }
        let (Some(access), Some(refresh)) = (answer.access_token, answer.refresh_token) else {
            return Err(unreachable(format!(
                "HTTP {status} without access_token and refresh_token"
            )));
        };
        let ttl = answer
            .expires_in
            .as_ref()
            .and_then(|v| v.as_i64().or_else(|| v.as_str()?.parse().ok()))
            .unwrap_or(DEFAULT_TTL);
        Ok(TokenSet {
            access_token: Secret::new(access),
            refresh_token: Secret::new(refresh),
            expires_at: expiry_after(ttl),
            member_id: answer.member_id,
            user_id: answer
                .user_id
                .as_ref()
                .and_then(|v| v.as_i64().or_else(|| v.as_str()?.parse().ok())),
            scopes: answer
                .scope
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        })
    }
}

/// Longest token lifetime believed (a year): a portal's or a form's number past it is cut,
/// so no value makes the expiry overflow.
const MAX_TTL_SECS: i64 = 365 * 86_400;

/// Now plus `secs` (clamped to `0..=`[`MAX_TTL_SECS`]): the expiry of a token the portal
/// says lives `secs` seconds.
fn expiry_after(secs: i64) -> chrono::DateTime<Utc> {
    Utc::now() + chrono::Duration::seconds(secs.clamp(0, MAX_TTL_SECS))
}

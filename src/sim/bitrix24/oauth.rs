//! The portal's local applications and their OAuth 2.0 grants (`bitrix24-apps.md` §1): the
//! browser's `/oauth/authorize/` (on the portal), the token endpoint `/oauth/token/` (on the
//! OAuth server, here the same simulator) and the check of an app token on a REST call.
//!
//! Stand-in for what cannot run here: Bitrix's OAuth server and a portal session. Unsure
//! facts (the HTTP status of token-endpoint errors, doc §7.3) answer 400 with the documented
//! `error` codes.

use super::state::State;
use super::ApiError;
use rand::Rng;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;

/// How long an authorization code is good for (doc §1.2: 30 s).
const CODE_TTL: Duration = Duration::from_secs(30);
/// Access token lifetime (doc §1.3: 1 h).
pub(crate) const ACCESS_TTL: Duration = Duration::from_secs(3600);

/// A local application registered on the portal.
#[derive(Debug, Clone)]
pub(crate) struct App {
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    /// The handler path (the OAuth `redirect_uri`).
    pub(crate) handler: String,
    pub(crate) scopes: Vec<String>,
}

/// What an access token stands for.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub(crate) client_id: String,
    pub(crate) user_id: i64,
    pub(crate) expires: Instant,
}

/// Apps, codes and tokens.
#[derive(Debug)]
pub(crate) struct OAuth {
    pub(crate) apps: Vec<App>,
    /// The user logged in in the admin's browser.
    pub(crate) browser_user: i64,
    pub(crate) member_id: String,
    pub(crate) access_ttl: Duration,
    codes: BTreeMap<String, Token>,
    access: BTreeMap<String, Token>,
    refresh: BTreeMap<String, Token>,
    /// Token requests answered (by grant type), for tests.
    pub(crate) grants: BTreeMap<String, u64>,
    /// The token endpoint's method check and redirect knob.
    pub(crate) endpoint: super::token_endpoint::TokenEndpoint,
}

impl Default for OAuth {
    fn default() -> Self {
        Self {
            apps: Vec::new(),
            browser_user: 1,
            member_id: random(32),
            access_ttl: ACCESS_TTL,
            codes: BTreeMap::new(),
            access: BTreeMap::new(),
            refresh: BTreeMap::new(),
            grants: BTreeMap::new(),
            endpoint: Default::default(),
        }
    }
}

/// Lower-case letters and digits.
pub(crate) fn random(n: usize) -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..n)
        .map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char)
        .collect()
}

impl OAuth {
    /// Registers a local application ("uses API only") with its handler URL; its client id
    /// and secret.
    pub(crate) fn register(&mut self, handler: &str, scopes: &[&str]) -> (String, String) {
        let app = App {
            client_id: format!("local.{}.{}", random(13), random(8)),
            client_secret: random(50),
            handler: handler.to_string(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
        };
        let ids = (app.client_id.clone(), app.client_secret.clone());
        self.apps.push(app);
        ids
    }

    fn app(&self, client_id: &str) -> Option<&App> {
        self.apps.iter().find(|a| a.client_id == client_id)
    }

    /// `GET /oauth/authorize/?client_id=&state=`: the redirect to the app's handler with a
    /// code, or the portal's error page (no redirect) for an unknown app.
    pub(crate) fn authorize(&mut self, query: &[(String, String)], host: &str) -> AuthorizeAnswer {
        let get = |name: &str| {
            query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let Some(app) = get("client_id").and_then(|id| self.app(&id).cloned()) else {
            return AuthorizeAnswer::Page("Приложение не найдено".into());
        };
        let code = random(32);
        self.codes.insert(
            code.clone(),
            Token {
                client_id: app.client_id.clone(),
                user_id: self.browser_user,
                expires: Instant::now() + CODE_TTL,
            },
        );
        let mut target = url::Url::parse(&app.handler).expect("handler is a URL");
        target
            .query_pairs_mut()
            .append_pair("code", &code)
            .append_pair("state", &get("state").unwrap_or_default())
            .append_pair("domain", host)
            .append_pair("member_id", &self.member_id)
            .append_pair("scope", &app.scopes.join(","))
            .append_pair("server_domain", host);
        AuthorizeAnswer::Redirect(target.to_string())
    }

    /// `/oauth/token/`: `authorization_code` and `refresh_token` grants. Both tokens rotate
    /// on refresh; a used code or refresh token is `invalid_grant`.
    pub(crate) fn token(&mut self, params: &Value, portal: &str) -> Result<Value, ApiError> {
        let get = |name: &str| params.get(name).and_then(super::values::text);
        let grant = get("grant_type").unwrap_or_default();
        *self.grants.entry(grant.clone()).or_default() += 1;
        let client_id = get("client_id").unwrap_or_default();
        let secret_ok = self
            .app(&client_id)
            .is_some_and(|a| Some(&a.client_secret) == get("client_secret").as_ref());
        if !secret_ok {
            return Err(ApiError::new(
                400,
                "invalid_client",
                "Invalid client credentials",
            ));
        }
        let issued = match grant.as_str() {
            "authorization_code" => get("code").and_then(|c| self.codes.remove(&c)),
            "refresh_token" => get("refresh_token").and_then(|r| self.refresh.remove(&r)),
            _ => {
                return Err(ApiError::new(
                    400,
                    "invalid_request",
                    "Unsupported grant_type",
                ))
            }
        };
        let grant_of = issued
            .filter(|t| t.client_id == client_id)
            .filter(|t| grant != "authorization_code" || t.expires > Instant::now())
            .ok_or_else(|| ApiError::new(400, "invalid_grant", "Invalid grant"))?;
        let access = random(32);
        let refresh = random(32);
        let expires = Instant::now() + self.access_ttl;
        let token = Token {
            client_id: client_id.clone(),
            user_id: grant_of.user_id,
            expires,
        };
        self.access.insert(access.clone(), token.clone());
        self.refresh.insert(refresh.clone(), token);
        let scope = self
            .app(&client_id)
            .map(|a| a.scopes.join(","))
            .unwrap_or_default();
        let unix = chrono::Utc::now().timestamp() + self.access_ttl.as_secs() as i64;
        Ok(json!({
            "access_token": access, "refresh_token": refresh,
            "expires_in": self.access_ttl.as_secs(), "expires": unix, "scope": scope,
            "domain": "oauth.bitrix.info", "server_endpoint": "https://oauth.bitrix.info/rest/",
            "client_endpoint": format!("{portal}/rest/"), "member_id": self.member_id,
            "user_id": grant_of.user_id, "status": "L",
        }))
    }

    /// The grant behind an access token on a REST call: `expired_token` after its hour,
    /// `invalid_token` when unknown (doc §1.5).
    pub(crate) fn check(&self, access: &str) -> Result<Token, ApiError> {
        match self.access.get(access) {
            Some(t) if t.expires > Instant::now() => Ok(t.clone()),
            Some(_) => Err(ApiError::new(
                401,
                "expired_token",
                "The access token provided has expired.",
            )),
            None => Err(ApiError::new(
                401,
                "invalid_token",
                "The access token provided is invalid.",
            )),
        }
    }

    /// A new access token of `client_id` for `user_id` (what a portal page hands a tab).
    pub(crate) fn issue_access(&mut self, client_id: &str, user_id: i64) -> String {
        let access = random(32);
        let token = Token {
            client_id: client_id.to_string(),
            user_id,
            expires: Instant::now() + self.access_ttl,
        };
        self.access.insert(access.clone(), token);
        access
    }

    /// Ends every access token now (they answer `expired_token`; refresh still works).
    pub(crate) fn expire_access(&mut self) {
        let now = Instant::now();
        for t in self.access.values_mut() {
            t.expires = now;
        }
    }

    /// Revokes every grant: access and refresh tokens stop working (the app was deleted or
    /// its authorisation withdrawn).
    pub(crate) fn revoke(&mut self) {
        self.access.clear();
        self.refresh.clear();
    }
}

/// What `/oauth/authorize/` answers.
#[derive(Debug)]
pub(crate) enum AuthorizeAnswer {
    /// 302 to the handler.
    Redirect(String),
    /// An error page on the portal (200).
    Page(String),
}

/// The access token of an app-context call: `auth` or `access_token` parameter, or a
/// bearer token (doc §1.4).
pub(crate) fn access_token(params: &Value, authorization: Option<&str>) -> Option<String> {
    ["auth", "access_token"]
        .iter()
        .find_map(|k| params.get(*k).and_then(super::values::text))
        .or_else(|| {
            authorization
                .and_then(|h| h.strip_prefix("Bearer "))
                .map(|t| t.trim().to_string())
        })
}

/// True for the methods only an application may call (doc §1.5 `WRONG_AUTH_TYPE`).
pub(crate) fn app_only(method: &str) -> bool {
    method.starts_with("imconnector.")
        || method.starts_with("event.")
        || method.starts_with("placement.")
        || method == "events"
}

/// The admin flag of `user_id` (`profile` → `ADMIN`).
pub(crate) fn is_admin(state: &State, user_id: i64) -> bool {
    state.admins.contains(&user_id)
}

/// `app.info`: with an app token, the calling application (`CODE` is a local app's
/// client id, `STATUS` `L`, as in the REST docs' example); with the webhook, its scopes.
pub(crate) fn app_info(state: &State) -> Value {
    let app = state
        .caller_app
        .as_ref()
        .and_then(|id| state.oauth.apps.iter().position(|a| &a.client_id == id));
    match app {
        Some(index) => json!({
            "ID": (index + 1).to_string(), "CODE": state.oauth.apps[index].client_id,
            "VERSION": 1, "STATUS": "L", "INSTALLED": true, "PAYMENT_EXPIRED": "N",
            "DAYS": null, "LICENSE": "ru_selfhosted",
        }),
        None => json!({"SCOPE": state.scopes, "LICENSE": "ru_selfhosted"}),
    }
}

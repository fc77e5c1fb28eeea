//! Connecting the local application (`bitrix24-apps.md` §1.2): the administrator's browser
//! goes to `/bitrix24/connect`, the portal sends it back to `/bitrix24/app` with a code (or
//! posts the app's tokens there when the app is opened on the portal), and the tokens are
//! accepted only after the portal of `[bitrix24] webhook_url` confirms them: a foreign
//! portal's tokens are unknown to ours, and offline events need an administrator. Then the
//! connector is set up on every line.

use crate::bitrix24::{AppClient, BitrixError, OAuthClient, OAuthError};
use crate::config::{AppConfig, Secret};
use crate::openlines::{reconcile_lines, LineRules, LineSetup};
use crate::store::{Grant, Store};
use crate::sync::Services;
use chrono::{Duration, Utc};
use std::collections::HashMap;

/// How long a `state` from `/bitrix24/connect` stays good.
const STATE_TTL_MINUTES: i64 = 15;
/// Lifetime of posted tokens without `AUTH_EXPIRES` (doc §1.3: 1 h).
const DEFAULT_EXPIRES_SECS: i64 = 3600;

/// What the connection page shows on success.
#[derive(Debug, Clone)]
pub struct Connected {
    /// The authorising administrator's name.
    pub user_name: String,
    /// Their portal user id.
    pub user_id: i64,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// The connector setup on each line, or why it failed (the tokens are stored anyway).
    pub lines: Result<Vec<LineSetup>, String>,
}

/// A refused connection: the HTTP status and what the administrator reads.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// 400 (bad or stale request), 403 (foreign portal, not an admin), 502/503 (the portal
    /// or the OAuth server did not answer).
    pub status: u16,
    /// What went wrong and what to do.
    pub message: String,
}

fn refuse(status: u16, message: impl Into<String>) -> Refusal {
    Refusal {
        status,
        message: message.into(),
    }
}

/// Everything the connection steps use.
#[derive(Debug, Clone, Copy)]
pub struct ConnectCtx<'a> {
    /// The daemon's services (store, portal, Chat2Desk, the app client).
    pub services: &'a Services,
    /// `[bitrix24.app]`.
    pub app: &'a AppConfig,
    /// The bridge's lines.
    pub lines: &'a LineRules,
}

/// Issues a one-use `state` and returns the portal's authorisation URL for the browser.
pub async fn authorize_url(
    store: &Store,
    app: &AppConfig,
    portal: &str,
) -> Result<String, Refusal> {
    let state = random_token();
    store.add_oauth_state(&state).await.map_err(|e| {
        refuse(
            503,
            format!("the state database is unavailable ({e}); try again"),
        )
    })?;
    let mut url = url::Url::parse(&format!("{portal}/oauth/authorize/"))
        .map_err(|_| refuse(500, "[bitrix24] webhook_url does not give a portal address"))?;
    url.query_pairs_mut()
        .append_pair("client_id", app.client_id.trim())
        .append_pair("state", &state);
    Ok(url.to_string())
}

/// `GET /bitrix24/app?code=…&state=…&domain=…&member_id=…`: exchanges the code.
pub async fn finish_code(
    ctx: ConnectCtx<'_>,
    query: &HashMap<String, String>,
) -> Result<Connected, Refusal> {
    let store = &ctx.services.store;
    let state = query.get("state").map(String::as_str).unwrap_or("");
    let since = Utc::now() - Duration::minutes(STATE_TTL_MINUTES);
    let fresh = !state.is_empty()
        && store.take_oauth_state(state, since).await.map_err(|e| {
            refuse(
                503,
                format!("the state database is unavailable ({e}); try again"),
            )
        })?;
    if !fresh {
        return Err(refuse(
            400,
            "this authorisation was not started here or has expired (wrong state): open \
             /bitrix24/connect again",
        ));
    }
    let code = query
        .get("code")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| refuse(400, "the portal sent no code: open /bitrix24/connect again"))?;
    let oauth = oauth(ctx.app)?;
    let tokens = oauth.exchange_code(code).await.map_err(|e| match &e {
        OAuthError::Refused { code, .. } if code == "invalid_client" => refuse(
            400,
            format!("{e}: check [bitrix24.app] client_id and client_secret against the local application's form"),
        ),
        OAuthError::Refused { .. } => refuse(
            400,
            format!("{e}: the code is good for 30 s and once only; open /bitrix24/connect again"),
        ),
        OAuthError::Unreachable { .. } => refuse(
            502,
            format!("{e}: check [bitrix24.app] oauth_url and that this host may reach it"),
        ),
    })?;
    let member_id = tokens
        .member_id
        .clone()
        .or_else(|| query.get("member_id").cloned())
        .unwrap_or_default();
    if let (Some(asked), false) = (query.get("member_id"), member_id.is_empty()) {
        if *asked != member_id {
            return Err(refuse(
                403,
                "the tokens belong to another portal than the one that sent the browser here",
            ));
        }
    }
    let scopes = tokens.scopes.clone();
    accept(
        ctx,
        tokens.access_token,
        tokens.refresh_token,
        tokens.expires_at,
        member_id,
        scopes,
    )
    .await
}

/// `POST /bitrix24/app` (the portal opened the application): `AUTH_ID`, `AUTH_EXPIRES`,
/// `REFRESH_ID`, `member_id`, `DOMAIN`, ….
pub async fn finish_form(
    ctx: ConnectCtx<'_>,
    form: &HashMap<String, String>,
) -> Result<Connected, Refusal> {
    let get = |k: &str| form.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let (Some(access), Some(refresh)) = (get("AUTH_ID"), get("REFRESH_ID")) else {
        return Err(refuse(
            400,
            "the form has no AUTH_ID and REFRESH_ID: open the application from the portal's \
             Applications menu, or open /bitrix24/connect",
        ));
    };
    let expires_in = get("AUTH_EXPIRES")
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(DEFAULT_EXPIRES_SECS);
    let scopes = get("APPLICATION_SCOPE")
        .map(|s| s.split(',').map(|p| p.trim().to_string()).collect())
        .unwrap_or_default();
    accept(
        ctx,
        Secret::new(access),
        Secret::new(refresh),
        Utc::now() + Duration::seconds(expires_in),
        get("member_id").unwrap_or_default().to_string(),
        scopes,
    )
    .await
}

/// Verifies the tokens with our portal, stores them, sets the connector up.
async fn accept(
    ctx: ConnectCtx<'_>,
    access: Secret,
    refresh: Secret,
    expires_at: chrono::DateTime<Utc>,
    member_id: String,
    scopes: Vec<String>,
) -> Result<Connected, Refusal> {
    let app = app_client(ctx)?;
    let portal = ctx.services.portal.portal_url();
    let profile = app.profile_of(&access).await.map_err(|e| match &e {
        BitrixError::Api { .. } => refuse(
            403,
            format!(
                "the portal {portal} ([bitrix24] webhook_url) does not know these tokens ({e}): \
                 the application was authorised on another portal; open /bitrix24/connect on {portal}"
            ),
        ),
        _ => refuse(502, format!("cannot reach the portal {portal} to verify the tokens ({e}); try again")),
    })?;
    let admin = profile
        .get("ADMIN")
        .is_some_and(|a| a == &serde_json::json!(true));
    let user_id = match profile.get("ID") {
        Some(serde_json::Value::Number(n)) => n.as_i64().unwrap_or_default(),
        Some(serde_json::Value::String(s)) => s.trim().parse().unwrap_or_default(),
        _ => 0,
    };
    let user_name = [profile.get("NAME"), profile.get("LAST_NAME")]
        .iter()
        .filter_map(|v| v.and_then(|v| v.as_str()))
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if !admin {
        tracing::warn!(
            user_id,
            portal_method = "profile",
            "Refused the local application's tokens: the user is not a portal administrator"
        );
        return Err(refuse(
            403,
            format!(
                "{} (user {user_id}) is not a portal administrator; offline events need one: ask \
                 an administrator to open /bitrix24/connect",
                if user_name.is_empty() {
                    "this user"
                } else {
                    &user_name
                }
            ),
        ));
    }
    let grant = Grant {
        access_token: access,
        refresh_token: refresh,
        expires_at,
        member_id,
        user_id,
        user_name: user_name.clone(),
        scopes: scopes.clone(),
        authorized_at: Utc::now(),
        refreshed_at: None,
        revoked: None,
    };
    ctx.services.store.save_grant(&grant).await.map_err(|e| {
        refuse(
            503,
            format!("the state database is unavailable ({e}); try again"),
        )
    })?;
    tracing::info!(user_id, scopes = %scopes.join(","), "The local application is connected");
    let lines = if ctx.lines.enabled() {
        reconcile_lines(
            &app,
            &ctx.services.store,
            &ctx.services.chat2desk,
            ctx.lines,
            &ctx.app.daemon_url,
            ctx.services.directory.web_url(),
        )
        .await
        .map_err(|e| e.to_string())
    } else {
        Ok(Vec::new())
    };
    Ok(Connected {
        user_name,
        user_id,
        scopes,
        lines,
    })
}

fn oauth(app: &AppConfig) -> Result<OAuthClient, Refusal> {
    super::oauth_client(app).map_err(|e| refuse(500, e.to_string()))
}

fn app_client(ctx: ConnectCtx<'_>) -> Result<AppClient, Refusal> {
    ctx.services.app.clone().ok_or_else(|| {
        refuse(
            500,
            "[bitrix24.app] is not loaded: restart the daemon after adding it",
        )
    })
}

/// 32 random bytes as hex: an unguessable one-use value.
pub fn random_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

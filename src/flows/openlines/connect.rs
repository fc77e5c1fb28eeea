//! Connecting the local application (`bitrix24-apps.md` §1.2): the administrator's browser
//! goes to `/bitrix24/connect`, which issues a one-use `state` bound to that browser by a
//! SameSite cookie ([`STATE_COOKIE`]); the portal sends the browser back to `/bitrix24/app`
//! with a code (or tokens are posted there with that state). Nothing is accepted without
//! the state in both the request and the cookie. Posted tokens are exchanged at the OAuth
//! server with our `client_id` (a foreign application's refresh token is refused there),
//! so member_id and scopes come from the portal's side, never from the form. Every grant is
//! then confirmed by the portal of `[bitrix24] webhook_url`: `app.info` must name our
//! application (a foreign portal does not know the token at all) and `profile` an
//! administrator (offline events need one). Then the connector is set up on every line.

use super::{reconcile_lines, LineRules, LineSetup};
use crate::config::constant_time_eq;
use crate::config::{AppConfig, Secret};
use crate::engine::Services;
use crate::portal::{AppClient, BitrixError, OAuthClient, OAuthError, TokenSet};
use crate::store::{Grant, Store};
use chrono::{Duration, Utc};
use std::collections::HashMap;

/// How long a `state` from `/bitrix24/connect` stays good.
const STATE_TTL_MINUTES: i64 = 15;
/// Most unused states at once: past it `/bitrix24/connect` answers 429 until the oldest
/// expire, so a flood of the page cannot fill the state table.
pub const MAX_STATES: u32 = 100;
/// The cookie that carries the `state` in the administrator's browser (`SameSite=Lax`: sent
/// on the portal's redirect back, not on another site's form post).
pub const STATE_COOKIE: &str = "chat2desk_b24_state";

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

/// Issues a one-use `state`; the portal's authorisation URL for the browser and the state
/// (for [`STATE_COOKIE`]).
pub async fn authorize_url(
    store: &Store,
    app: &AppConfig,
    portal: &str,
) -> Result<(String, String), Refusal> {
    let state = random_token();
    let since = Utc::now() - Duration::minutes(STATE_TTL_MINUTES);
    let added = store
        .add_oauth_state(&state, since, MAX_STATES)
        .await
        .map_err(unavailable)?;
    if !added {
        return Err(refuse(
            429,
            format!(
                "{MAX_STATES} connection attempts are open from the last {STATE_TTL_MINUTES} \
                 minutes: wait for them to expire, then open /bitrix24/connect again"
            ),
        ));
    }
    let mut url = url::Url::parse(&format!("{portal}/oauth/authorize/"))
        .map_err(|_| refuse(500, "[bitrix24] webhook_url does not give a portal address"))?;
    url.query_pairs_mut()
        .append_pair("client_id", app.client_id.trim())
        .append_pair("state", &state);
    Ok((url.to_string(), state))
}

fn unavailable(e: crate::store::StoreError) -> Refusal {
    refuse(
        503,
        format!("the state database is unavailable ({e}); try again"),
    )
}

/// Uses up the request's `state` when it equals the browser's [`STATE_COOKIE`] and was
/// issued here within [`STATE_TTL_MINUTES`].
async fn take_state(
    store: &Store,
    presented: Option<&str>,
    cookie: Option<&str>,
) -> Result<(), Refusal> {
    let stale = || {
        refuse(
            400,
            "this authorisation was not started in this browser or has expired (wrong state): \
             open /bitrix24/connect again",
        )
    };
    let (Some(state), Some(cookie)) = (presented.filter(|s| !s.is_empty()), cookie) else {
        return Err(stale());
    };
    if !constant_time_eq(state.as_bytes(), cookie.as_bytes()) {
        return Err(stale());
    }
    let since = Utc::now() - Duration::minutes(STATE_TTL_MINUTES);
    if !store
        .take_oauth_state(state, since)
        .await
        .map_err(unavailable)?
    {
        return Err(stale());
    }
    Ok(())
}

/// `GET /bitrix24/app?code=…&state=…&domain=…&member_id=…`: exchanges the code; `cookie`
/// is the browser's [`STATE_COOKIE`].
pub async fn finish_code(
    ctx: ConnectCtx<'_>,
    query: &HashMap<String, String>,
    cookie: Option<&str>,
) -> Result<Connected, Refusal> {
    let store = &ctx.services.store;
    take_state(store, query.get("state").map(String::as_str), cookie).await?;
    let code = query
        .get("code")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| refuse(400, "the portal sent no code: open /bitrix24/connect again"))?;
    let mut tokens = oauth(ctx.app)?
        .exchange_code(code)
        .await
        .map_err(|e| token_refusal(e, "the code is good for 30 s and once only"))?;
    // The token answer's member_id is optional (doc §1.2); the portal's redirect has one.
    let asked = query.get("member_id");
    if tokens.member_id.is_none() {
        tokens.member_id = asked.cloned();
    }
    if let (Some(asked), Some(theirs)) = (asked, &tokens.member_id) {
        if asked != theirs {
            return Err(refuse(
                403,
                "the tokens belong to another portal than the one that sent the browser here",
            ));
        }
    }
    accept(ctx, tokens).await
}

/// `POST /bitrix24/app` with `state` (issued to this browser, see [`STATE_COOKIE`]) and the
/// application's `AUTH_ID`, `REFRESH_ID`: the refresh token is exchanged at the OAuth server
/// with our `client_id`, and only its answer is kept (the form's `member_id`, scopes and
/// `AUTH_EXPIRES` are not believed).
pub async fn finish_form(
    ctx: ConnectCtx<'_>,
    form: &HashMap<String, String>,
    cookie: Option<&str>,
) -> Result<Connected, Refusal> {
    let get = |k: &str| form.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    take_state(&ctx.services.store, get("state"), cookie).await?;
    let Some(refresh) = get("REFRESH_ID") else {
        return Err(refuse(
            400,
            "the form has no REFRESH_ID: open /bitrix24/connect to connect the application",
        ));
    };
    let tokens = oauth(ctx.app)?
        .refresh(&Secret::new(refresh))
        .await
        .map_err(|e| token_refusal(e, "these are not this application's tokens"))?;
    accept(ctx, tokens).await
}

/// A token-endpoint failure as the administrator reads it; `refused` says why a refused
/// grant may be.
fn token_refusal(e: OAuthError, refused: &str) -> Refusal {
    match &e {
        OAuthError::Refused { code, .. } if code == "invalid_client" => refuse(
            400,
            format!("{e}: check [bitrix24.app] client_id and client_secret against the local application's form"),
        ),
        OAuthError::Refused { .. } => {
            refuse(400, format!("{e}: {refused}; open /bitrix24/connect again"))
        }
        OAuthError::Unreachable { .. } => refuse(
            502,
            format!("{e}: check [bitrix24.app] oauth_url and that this host may reach it"),
        ),
    }
}

/// Verifies the tokens with our portal (`app.info` names our application, `profile` an
/// administrator), stores them, sets the connector up.
async fn accept(ctx: ConnectCtx<'_>, tokens: TokenSet) -> Result<Connected, Refusal> {
    let app = app_client(ctx)?;
    let portal = ctx.services.portal.portal_url();
    let foreign = |e: BitrixError| {
        match &e {
        BitrixError::Api { .. } => refuse(
            403,
            format!(
                "the portal {portal} ([bitrix24] webhook_url) does not know these tokens ({e}): \
                 the application was authorised on another portal; open /bitrix24/connect on {portal}"
            ),
        ),
        _ => refuse(502, format!("cannot reach the portal {portal} to verify the tokens ({e}); try again")),
    }
    };
    let access = tokens.access_token;
    let info = app
        .call_unstored("app.info", &access)
        .await
        .map_err(&foreign)?;
    let ours = ctx.app.client_id.trim();
    let code = info.get("CODE").and_then(|c| c.as_str()).unwrap_or("");
    if code != ours {
        tracing::warn!(
            portal_method = "app.info",
            application = code,
            "Refused tokens of another application"
        );
        return Err(refuse(
            403,
            format!(
                "the tokens belong to the application `{code}`, not to [bitrix24.app] client_id \
                 `{ours}`: open /bitrix24/connect"
            ),
        ));
    }
    let profile = app
        .call_unstored("profile", &access)
        .await
        .map_err(&foreign)?;
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
    let scopes = tokens.scopes;
    let grant = Grant {
        access_token: access,
        refresh_token: tokens.refresh_token,
        expires_at: tokens.expires_at,
        member_id: tokens.member_id.unwrap_or_default(),
        user_id,
        user_name: user_name.clone(),
        scopes: scopes.clone(),
        authorized_at: Utc::now(),
        refreshed_at: None,
        revoked: None,
    };
    ctx.services
        .store
        .save_grant(&grant)
        .await
        .map_err(unavailable)?;
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
    crate::portal::local_app::oauth_client(app).map_err(|e| refuse(500, e.to_string()))
}

fn app_client(ctx: ConnectCtx<'_>) -> Result<AppClient, Refusal> {
    ctx.services.app.clone().ok_or_else(|| {
        refuse(
            500,
            "[bitrix24.app] is not loaded: restart the daemon after adding it",
        )
    })
}

pub use crate::config::random_token;

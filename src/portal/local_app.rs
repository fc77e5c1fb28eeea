//! The portal's local application (Open Lines bridge, `bitrix24-apps.md` §1): its OAuth grant,
//! kept in the state database and refreshed single flight, for the app-context calls an
//! inbound webhook may not make (`imconnector.*`, `event.*`).

use super::{AppClient, Bitrix24, OAuthClient, StoredGrant};
use crate::config::AppConfig;
use crate::store::Store;
use std::sync::Arc;
use std::time::Duration;

/// Timeout of one call to the OAuth server (a refresh runs inside a write transaction, so
/// keep it well under the state database's busy timeout).
const OAUTH_TIMEOUT: Duration = Duration::from_secs(10);

/// The OAuth client of `[bitrix24.app]`; the error names the key.
pub fn oauth_client(app: &AppConfig) -> anyhow::Result<OAuthClient> {
    OAuthClient::new(
        app.oauth_url.trim(),
        app.client_id.trim(),
        &app.client_secret,
        OAUTH_TIMEOUT,
    )
    .map_err(|e| {
        anyhow::anyhow!(
            "[bitrix24.app] oauth_url: {e}; expected a URL such as https://oauth.bitrix.info"
        )
    })
}

/// The app-context client of `[bitrix24.app]` for the portal of `portal`, its tokens in
/// `store`.
pub fn app_client(
    app: &AppConfig,
    store: &Store,
    portal: &Bitrix24,
    timeout: Duration,
) -> anyhow::Result<AppClient> {
    let keeper = Arc::new(StoredGrant::new(store.clone(), oauth_client(app)?));
    AppClient::new(portal.http(), &portal.portal_url(), timeout, keeper)
        .map_err(|e| anyhow::anyhow!("[bitrix24] webhook_url: {e}"))
}

//! The [`TokenKeeper`] of the running daemon: the grant lives in the state database; a refused
//! access token is refreshed in the transaction that reads the stored pair, so two processes
//! (the daemon and `check`, or two nodes) never both spend one refresh token.

use super::{BitrixError, BoxFuture, OAuthClient, OAuthError, TokenKeeper};
use crate::config::Secret;
use crate::store::{RefreshFailure, Rotated, Rotation, Store};

/// Tokens from the store, refreshed through the app's OAuth client.
#[derive(Debug, Clone)]
pub struct StoredGrant {
    store: Store,
    oauth: OAuthClient,
}

impl StoredGrant {
    /// A keeper over `store` refreshing with `oauth`.
    pub fn new(store: Store, oauth: OAuthClient) -> Self {
        Self { store, oauth }
    }
}

/// What the sysadmin reads when the grant is gone.
fn revoked(why: &str) -> BitrixError {
    BitrixError::Api {
        method: "oauth/token".into(),
        code: "invalid_grant".into(),
        description: format!(
            "the local application's grant was revoked ({why}): a portal administrator must open <daemon_url>/bitrix24/connect again"
        ),
        http_status: 401,
    }
}

fn unreachable(e: OAuthError) -> BitrixError {
    BitrixError::Transport {
        method: "oauth/token".into(),
        detail: e.to_string(),
    }
}

impl TokenKeeper for StoredGrant {
    fn current(&self) -> BoxFuture<'_, Result<Option<Secret>, BitrixError>> {
        Box::pin(async move {
            let grant = self
                .store
                .grant()
                .await
                .map_err(|e| BitrixError::Transport {
                    method: "app grant".into(),
                    detail: e.to_string(),
                })?;
            match grant {
                Some(g) => match g.revoked {
                    Some((_, why)) => Err(revoked(&why)),
                    None => Ok(Some(g.access_token)),
                },
                None => Ok(None),
            }
        })
    }

    fn refresh<'a>(&'a self, failed: &'a Secret) -> BoxFuture<'a, Result<Secret, BitrixError>> {
        Box::pin(async move {
            let outcome = self
                .store
                .rotate_grant(failed, |refresh_token| async move {
                    match self.oauth.refresh(&refresh_token).await {
                        Ok(set) => Ok(Rotated {
                            access_token: set.access_token,
                            refresh_token: set.refresh_token,
                            expires_at: set.expires_at,
                        }),
                        Err(e) if e.is_revoked() => Err(RefreshFailure::Refused(e.to_string())),
                        Err(e) => Err(RefreshFailure::Other(e)),
                    }
                })
                .await
                .map_err(|e| BitrixError::Transport {
                    method: "app grant".into(),
                    detail: e.to_string(),
                })?;
            match outcome {
                None => Err(super::not_connected("oauth/token")),
                Some(Ok(Rotation::Rotated(g) | Rotation::AlreadyRotated(g))) => {
                    tracing::info!(
                        portal_method = "oauth/token",
                        "Refreshed the local application's access token"
                    );
                    Ok(g.access_token)
                }
                Some(Ok(Rotation::Revoked(g))) => {
                    let why = g.revoked.map(|(_, w)| w).unwrap_or_default();
                    tracing::error!(portal_method = "oauth/token", reason = %why, "The local application's grant is revoked: open /bitrix24/connect again");
                    Err(revoked(&why))
                }
                Some(Err(e)) => Err(unreachable(e)),
            }
        })
    }
}

//! The local application's OAuth grant: stored when an administrator connects the app,
//! rotated on refresh in the same transaction that read the old pair, so `check`, `status`
//! and the running daemon (or a second node) never race on a refresh token.

use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Decode, Row, Type};
use std::future::Future;

use super::job::{from_millis, to_millis};
use super::{with_pool, Store, StoreError, WritePool};
use crate::config::Secret;

/// The tokens and who they belong to.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    /// Access token (1 h).
    pub access_token: Secret,
    /// Refresh token (180 days; rotates with every refresh).
    pub refresh_token: Secret,
    /// When the access token ends.
    pub expires_at: DateTime<Utc>,
    /// The portal's `member_id`.
    pub member_id: String,
    /// The portal user who authorised (an administrator).
    pub user_id: i64,
    /// Their name, for `app status`.
    pub user_name: String,
    /// Scopes granted.
    pub scopes: Vec<String>,
    /// When the administrator connected the app.
    pub authorized_at: DateTime<Utc>,
    /// Last refresh.
    pub refreshed_at: Option<DateTime<Utc>>,
    /// Set when the OAuth server refused the refresh token, with its words.
    pub revoked: Option<(DateTime<Utc>, String)>,
}

/// New tokens from the OAuth server.
#[derive(Debug, Clone, PartialEq)]
pub struct Rotated {
    /// Access token.
    pub access_token: Secret,
    /// Refresh token.
    pub refresh_token: Secret,
    /// When the access token ends.
    pub expires_at: DateTime<Utc>,
}

/// What [`Store::rotate_grant`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Rotation {
    /// Another process had already rotated the pair: use the stored tokens.
    AlreadyRotated(Grant),
    /// The refresh went through; the new pair is stored.
    Rotated(Grant),
    /// The OAuth server refused the refresh token; the grant is marked revoked.
    Revoked(Grant),
}

/// Why a refresh failed, as the refresh closure reports it.
#[derive(Debug)]
pub enum RefreshFailure<E> {
    /// The OAuth server refused the refresh token (`invalid_grant`): the grant is gone.
    Refused(String),
    /// Anything else (network, 5xx): nothing changes, try again later.
    Other(E),
}

const SELECT: &str = "SELECT * FROM app_grant WHERE id = 1";

/// Reads the grant row of either backend.
fn read<R>(row: &R) -> Result<Grant, sqlx::Error>
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
{
    let scopes: String = row.try_get("scopes")?;
    let revoked_at: Option<i64> = row.try_get("revoked_at")?;
    let revoked_why: Option<String> = row.try_get("revoked_why")?;
    Ok(Grant {
        access_token: Secret::new(row.try_get::<String, _>("access_token")?),
        refresh_token: Secret::new(row.try_get::<String, _>("refresh_token")?),
        expires_at: from_millis(row.try_get("expires_at")?),
        member_id: row.try_get("member_id")?,
        user_id: row.try_get("user_id")?,
        user_name: row.try_get("user_name")?,
        scopes: scopes
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        authorized_at: from_millis(row.try_get("authorized_at")?),
        refreshed_at: row
            .try_get::<Option<i64>, _>("refreshed_at")?
            .map(from_millis),
        revoked: revoked_at.map(|at| (from_millis(at), revoked_why.unwrap_or_default())),
    })
}

impl Store {
    /// The stored grant, if the app was ever connected.
    pub async fn grant(&self) -> Result<Option<Grant>, StoreError> {
        let fail = self.err_of("read app grant");
        with_pool!(self, pool, _sql => {
            let row = sqlx::query(SELECT)
                .fetch_optional(pool)
                .await
                .map_err(&fail)?;
            row.as_ref().map(read).transpose().map_err(&fail)
        })
    }

    /// Stores a new grant (an administrator connected the app), replacing any old one.
    pub async fn save_grant(&self, grant: &Grant) -> Result<(), StoreError> {
        let fail = self.err_of("save app grant");
        with_pool!(self, pool, sql => {
            sqlx::query(sql.replace_grant)
                .bind(grant.access_token.expose())
                .bind(grant.refresh_token.expose())
                .bind(to_millis(grant.expires_at))
                .bind(&grant.member_id)
                .bind(grant.user_id)
                .bind(&grant.user_name)
                .bind(grant.scopes.join(","))
                .bind(to_millis(grant.authorized_at))
                .execute(pool)
                .await
                .map_err(&fail)?;
        });
        Ok(())
    }

    /// Refreshes the grant whose access token `failed` was refused, single flight across
    /// processes and nodes: in one write transaction (SQLite: the file's write lock; MySQL:
    /// the row's `FOR UPDATE` lock), reads the stored pair; when its access token is no
    /// longer `failed`, another process already rotated it and the stored grant is
    /// returned; else `refresh` is called with the refresh token and its new pair is stored
    /// before the transaction ends (a refused refresh marks the grant revoked). `refresh`
    /// should time out well within the database's 5 s busy timeout (MySQL: 10 s lock wait).
    pub async fn rotate_grant<F, Fut, E>(
        &self,
        failed: &Secret,
        refresh: F,
    ) -> Result<Option<Result<Rotation, E>>, StoreError>
    where
        F: FnOnce(Secret) -> Fut,
        Fut: Future<Output = Result<Rotated, RefreshFailure<E>>>,
    {
        let fail = self.err_of("refresh app grant");
        with_pool!(self, pool, sql => {
            let mut tx = pool.begin_write().await.map_err(&fail)?;
            let Some(row) = sqlx::query(sql.select_grant_for_rotation)
                .fetch_optional(&mut *tx)
                .await
                .map_err(&fail)?
            else {
                return Ok(None);
            };
            let stored = read(&row).map_err(&fail)?;
            if stored.access_token != *failed || stored.revoked.is_some() {
                tx.rollback().await.map_err(&fail)?;
                return Ok(Some(Ok(if stored.revoked.is_some() {
                    Rotation::Revoked(stored)
                } else {
                    Rotation::AlreadyRotated(stored)
                })));
            }
            let now = Utc::now();
            let outcome = match refresh(stored.refresh_token.clone()).await {
                Ok(new) => {
                    sqlx::query(
                        "UPDATE app_grant SET access_token = ?, refresh_token = ?, \
                             expires_at = ?, refreshed_at = ? WHERE id = 1",
                    )
                    .bind(new.access_token.expose())
                    .bind(new.refresh_token.expose())
                    .bind(to_millis(new.expires_at))
                    .bind(to_millis(now))
                    .execute(&mut *tx)
                    .await
                    .map_err(&fail)?;
                    Ok(Rotation::Rotated(Grant {
                        access_token: new.access_token,
                        refresh_token: new.refresh_token,
                        expires_at: new.expires_at,
                        refreshed_at: Some(now),
                        ..stored
                    }))
                }
                Err(RefreshFailure::Refused(why)) => {
                    sqlx::query(
                        "UPDATE app_grant SET revoked_at = ?, revoked_why = ? WHERE id = 1",
                    )
                    .bind(to_millis(now))
                    .bind(&why)
                    .execute(&mut *tx)
                    .await
                    .map_err(&fail)?;
                    Ok(Rotation::Revoked(Grant {
                        revoked: Some((now, why)),
                        ..stored
                    }))
                }
                Err(RefreshFailure::Other(e)) => Err(e),
            };
            tx.commit().await.map_err(&fail)?;
            Ok(Some(outcome))
        })
    }

    /// Records a new browser authorisation `state` (one use, see [`Store::take_oauth_state`])
    /// unless `cap` states issued after `since` are still unused: false then, nothing
    /// stored. States issued before `since` are dropped on the way, so the table stays
    /// within `cap` rows however often the connect page is opened.
    pub async fn add_oauth_state(
        &self,
        state: &str,
        since: DateTime<Utc>,
        cap: u32,
    ) -> Result<bool, StoreError> {
        let fail = self.err_of("save oauth state");
        with_pool!(self, pool, _sql => {
            sqlx::query("DELETE FROM oauth_states WHERE created_at < ?")
                .bind(to_millis(since))
                .execute(pool)
                .await
                .map_err(&fail)?;
            let (live,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM oauth_states")
                .fetch_one(pool)
                .await
                .map_err(&fail)?;
            if live >= i64::from(cap) {
                return Ok(false);
            }
            sqlx::query("INSERT INTO oauth_states (state, created_at) VALUES (?, ?)")
                .bind(state)
                .bind(to_millis(Utc::now()))
                .execute(pool)
                .await
                .map_err(&fail)?;
            Ok(true)
        })
    }

    /// Uses up `state`: true when it was issued after `since` and not used before. Old
    /// states are dropped on the way.
    pub async fn take_oauth_state(
        &self,
        state: &str,
        since: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let fail = self.err_of("use oauth state");
        with_pool!(self, pool, _sql => {
            sqlx::query("DELETE FROM oauth_states WHERE created_at < ?")
                .bind(to_millis(since))
                .execute(pool)
                .await
                .map_err(&fail)?;
            let taken = sqlx::query("DELETE FROM oauth_states WHERE state = ?")
                .bind(state)
                .execute(pool)
                .await
                .map_err(&fail)?;
            Ok(taken.rows_affected() == 1)
        })
    }
}

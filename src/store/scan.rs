//! Poll bookkeeping: the key/value `meta` table (cursor, watermark, caches) and the
//! candidate requests seen in messages but not yet known to be closed. Cursor moves are
//! committed together with what they cover, so a crash never skips or loses a request.

use chrono::Utc;
use sqlx::SqliteConnection;

use super::job::to_millis;
use super::queue::insert_jobs;
use super::{Intake, JobKind, Store, StoreError};

/// Sets each `(key, value)` on `conn`.
async fn set_meta_on(
    conn: &mut SqliteConnection,
    entries: &[(&str, String)],
) -> Result<(), sqlx::Error> {
    let now = to_millis(Utc::now());
    for (key, value) in entries {
        sqlx::query(
            "INSERT INTO meta (key, value, updated_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(key)
        .bind(value)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

impl Store {
    /// The value stored under `key`, if any.
    pub async fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar("SELECT value FROM meta WHERE key = ?1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.err_of("meta"))
    }

    /// Stores `value` under `key`, replacing any previous value.
    pub async fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await.map_err(self.err_of("set_meta"))?;
        set_meta_on(&mut conn, &[(key, value.to_owned())])
            .await
            .map_err(self.err_of("set_meta"))
    }

    /// In one transaction: records each `(request id, dialog id)` candidate (a request seen
    /// again keeps its first-seen time and takes the newer dialog id) and sets the `meta`
    /// keys, typically the scan cursor that now covers these candidates.
    pub async fn record_scan(
        &self,
        candidates: &[(i64, i64)],
        meta: &[(&str, String)],
    ) -> Result<(), StoreError> {
        let fail = self.err_of("record_scan");
        let now = to_millis(Utc::now());
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(&fail)?;
        for &(request, dialog) in candidates {
            sqlx::query(
                "INSERT INTO candidates (request_id, dialog_id, first_seen_at, last_seen_at) \
                 VALUES (?1, ?2, ?3, ?3) \
                 ON CONFLICT (request_id) DO UPDATE SET \
                     dialog_id = excluded.dialog_id, last_seen_at = excluded.last_seen_at",
            )
            .bind(request)
            .bind(dialog)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(&fail)?;
        }
        set_meta_on(&mut tx, meta).await.map_err(&fail)?;
        tx.commit().await.map_err(&fail)
    }

    /// Every candidate as `(request id, dialog id)`, oldest seen first.
    pub async fn candidates(&self) -> Result<Vec<(i64, i64)>, StoreError> {
        sqlx::query_as(
            "SELECT request_id, dialog_id FROM candidates ORDER BY first_seen_at, request_id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(self.err_of("candidates"))
    }

    /// In one transaction: enqueues a transcript job per request (existing jobs untouched),
    /// removes those requests from the candidates and sets the `meta` keys. Returns the number
    /// of new jobs.
    pub async fn promote(
        &self,
        request_ids: &[i64],
        intake: Intake,
        meta: &[(&str, String)],
    ) -> Result<u64, StoreError> {
        let fail = self.err_of("promote");
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(&fail)?;
        let inserted = insert_jobs(&mut tx, JobKind::Transcript, request_ids, intake)
            .await
            .map_err(&fail)?;
        for &request in request_ids {
            sqlx::query("DELETE FROM candidates WHERE request_id = ?1")
                .bind(request)
                .execute(&mut *tx)
                .await
                .map_err(&fail)?;
        }
        set_meta_on(&mut tx, meta).await.map_err(&fail)?;
        tx.commit().await.map_err(&fail)?;
        Ok(inserted)
    }
}

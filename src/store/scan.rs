//! Poll bookkeeping: the key/value `meta` table (cursor, watermark, caches) and the
//! candidate requests seen in messages but not yet known to be closed. Cursor moves are
//! committed together with what they cover, so a crash never skips or loses a request.

use chrono::Utc;

/// Meta key: when the last poll finished successfully (RFC 3339).
pub const LAST_POLL_KEY: &str = "poll.last_success_at";
/// Meta key: the last poll error, empty after a success.
pub const LAST_POLL_ERROR_KEY: &str = "poll.last_error";

use super::job::to_millis;
use super::queue::insert_jobs;
use super::{with_pool, Intake, JobKind, Store, StoreError, WritePool};

/// Sets each `(key, value)` on the connection `$conn` with the dialect `$sql`.
macro_rules! set_meta_on {
    ($conn:expr, $sql:expr, $entries:expr) => {
        async {
            let now = to_millis(Utc::now());
            for (key, value) in $entries {
                sqlx::query($sql.upsert_meta)
                    .bind(*key)
                    .bind(value.as_str())
                    .bind(now)
                    .execute(&mut *$conn)
                    .await?;
            }
            Ok::<(), sqlx::Error>(())
        }
    };
}

impl Store {
    /// The value stored under `key`, if any.
    pub async fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        let fail = self.err_of("meta");
        with_pool!(self, pool, sql => {
            sqlx::query_scalar(sql.select_meta)
                .bind(key)
                .fetch_optional(pool)
                .await
                .map_err(&fail)
        })
    }

    /// Stores `value` under `key`, replacing any previous value.
    pub async fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let fail = self.err_of("set_meta");
        let entries = [(key, value.to_owned())];
        with_pool!(self, pool, sql => {
            let mut conn = pool.acquire().await.map_err(&fail)?;
            set_meta_on!(conn, sql, &entries).await.map_err(&fail)
        })
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
        with_pool!(self, pool, sql => {
            let mut tx = pool.begin_write().await.map_err(&fail)?;
            for &(request, dialog) in candidates {
                sqlx::query(sql.upsert_candidate)
                    .bind(request)
                    .bind(dialog)
                    .bind(now)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(&fail)?;
            }
            set_meta_on!(tx, sql, meta).await.map_err(&fail)?;
            tx.commit().await.map_err(&fail)
        })
    }

    /// Every candidate as `(request id, dialog id)`, oldest seen first.
    pub async fn candidates(&self) -> Result<Vec<(i64, i64)>, StoreError> {
        let fail = self.err_of("candidates");
        with_pool!(self, pool, _sql => {
            sqlx::query_as(
                "SELECT request_id, dialog_id FROM candidates ORDER BY first_seen_at, request_id",
            )
            .fetch_all(pool)
            .await
            .map_err(&fail)
        })
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
        with_pool!(self, pool, sql => {
            let mut tx = pool.begin_write().await.map_err(&fail)?;
            let inserted = insert_jobs!(tx, sql, JobKind::TRANSCRIPT, request_ids, intake)
                .await
                .map_err(&fail)?;
            for &request in request_ids {
                sqlx::query("DELETE FROM candidates WHERE request_id = ?")
                    .bind(request)
                    .execute(&mut *tx)
                    .await
                    .map_err(&fail)?;
            }
            set_meta_on!(tx, sql, meta).await.map_err(&fail)?;
            tx.commit().await.map_err(&fail)?;
            Ok(inserted)
        })
    }
}

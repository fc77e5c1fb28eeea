//! Sends from business processes: the stored call behind each `send` job, and the daily
//! budget of clients written to first.

use chrono::Utc;

use super::job::to_millis;
use super::queue::insert_jobs;
use super::{with_pool, Intake, JobKind, Store, StoreError, WritePool};

/// What [`Store::enqueue_send`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enqueued {
    /// The send's id, also the key of its `send` job.
    pub send_id: i64,
    /// False when this `event_token` was already queued (nothing changed).
    pub new: bool,
}

/// A `meta` row every "write first" budget transaction locks on MySQL (InnoDB at `READ
/// COMMITTED` has no gap locks, so counting the day's rows would not keep two nodes from both
/// taking the last place).
const WRITE_FIRST_LOCK: &str = "write_first.lock";

impl Store {
    /// Stores a business-process call under its `event_token` and queues its `send` job, in
    /// one transaction. The same token again changes nothing and returns the first send.
    pub async fn enqueue_send(
        &self,
        event_token: &str,
        payload: &serde_json::Value,
        intake: Intake,
    ) -> Result<Enqueued, StoreError> {
        self.enqueue_send_as(JobKind::SEND, event_token, payload, intake)
            .await
    }

    /// [`Store::enqueue_send`] for a send of another flow: its job is of `kind` (the CRM
    /// card's sends, keyed by their form's send key).
    pub async fn enqueue_send_as(
        &self,
        kind: JobKind,
        event_token: &str,
        payload: &serde_json::Value,
        intake: Intake,
    ) -> Result<Enqueued, StoreError> {
        let fail = self.err_of("enqueue_send");
        with_pool!(self, pool, sql => {
            let mut tx = pool.begin_write().await.map_err(&fail)?;
            let inserted = sqlx::query(sql.insert_send)
                .bind(event_token)
                .bind(payload.to_string())
                .bind(to_millis(Utc::now()))
                .execute(&mut *tx)
                .await
                .map_err(&fail)?
                .rows_affected();
            let send_id: i64 = sqlx::query_scalar("SELECT id FROM sends WHERE event_token = ?")
                .bind(event_token)
                .fetch_one(&mut *tx)
                .await
                .map_err(&fail)?;
            insert_jobs!(tx, sql, kind, &[send_id], intake)
                .await
                .map_err(&fail)?;
            tx.commit().await.map_err(&fail)?;
            Ok(Enqueued {
                send_id,
                new: inserted == 1,
            })
        })
    }

    /// The stored call of send `send_id`, if any.
    pub async fn send_payload(
        &self,
        send_id: i64,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        let fail = self.err_of("send_payload");
        let text: Option<String> = with_pool!(self, pool, _sql => {
            sqlx::query_scalar("SELECT payload FROM sends WHERE id = ?")
                .bind(send_id)
                .fetch_optional(pool)
                .await
                .map_err(&fail)?
        });
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    /// Takes one place of `day`'s "write first" budget for send `send_id`: true when the send
    /// already holds one, or when fewer than `limit` are taken (`limit` 0 = no limit); false
    /// when the day is full. Check and take are one transaction (on MySQL holding the
    /// budget's lock row), so two sends, even on two nodes, never share the last place, and
    /// a send that crashed after taking it keeps it.
    pub async fn take_write_first(
        &self,
        send_id: i64,
        day: &str,
        limit: u32,
    ) -> Result<bool, StoreError> {
        let fail = self.err_of("take_write_first");
        let mysql = self.backend() == super::Backend::MySql;
        with_pool!(self, pool, sql => {
            let mut tx = pool.begin_write().await.map_err(&fail)?;
            if mysql {
                sqlx::query(sql.upsert_meta)
                    .bind(WRITE_FIRST_LOCK)
                    .bind("")
                    .bind(0i64)
                    .execute(&mut *tx)
                    .await
                    .map_err(&fail)?;
                sqlx::query(&format!("{} FOR UPDATE", sql.select_meta))
                    .bind(WRITE_FIRST_LOCK)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(&fail)?;
            }
            let held: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM write_first WHERE send_id = ?")
                    .bind(send_id)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(&fail)?;
            if held > 0 {
                return Ok(true);
            }
            if limit > 0 {
                let taken: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM write_first WHERE day = ?")
                        .bind(day)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(&fail)?;
                if taken >= i64::from(limit) {
                    return Ok(false);
                }
            }
            sqlx::query("INSERT INTO write_first (send_id, day, created_at) VALUES (?, ?, ?)")
                .bind(send_id)
                .bind(day)
                .bind(to_millis(Utc::now()))
                .execute(&mut *tx)
                .await
                .map_err(&fail)?;
            tx.commit().await.map_err(&fail)?;
            Ok(true)
        })
    }
}

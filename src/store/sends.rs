//! Sends from business processes: the stored call behind each `send` job, and the daily
//! budget of clients written to first.

use chrono::Utc;

use super::job::to_millis;
use super::queue::insert_jobs;
use super::{Intake, JobKind, Store, StoreError};

/// What [`Store::enqueue_send`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enqueued {
    /// The send's id, also the key of its `send` job.
    pub send_id: i64,
    /// False when this `event_token` was already queued (nothing changed).
    pub new: bool,
}

impl Store {
    /// Stores a business-process call under its `event_token` and queues its `send` job, in
    /// one transaction. The same token again changes nothing and returns the first send.
    pub async fn enqueue_send(
        &self,
        event_token: &str,
        payload: &serde_json::Value,
        intake: Intake,
    ) -> Result<Enqueued, StoreError> {
        let fail = self.err_of("enqueue_send");
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(&fail)?;
        let inserted = sqlx::query(
            "INSERT INTO sends (event_token, payload, created_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (event_token) DO NOTHING",
        )
        .bind(event_token)
        .bind(payload.to_string())
        .bind(to_millis(Utc::now()))
        .execute(&mut *tx)
        .await
        .map_err(&fail)?
        .rows_affected();
        let send_id: i64 = sqlx::query_scalar("SELECT id FROM sends WHERE event_token = ?1")
            .bind(event_token)
            .fetch_one(&mut *tx)
            .await
            .map_err(&fail)?;
        insert_jobs(&mut tx, JobKind::Send, &[send_id], intake)
            .await
            .map_err(&fail)?;
        tx.commit().await.map_err(&fail)?;
        Ok(Enqueued {
            send_id,
            new: inserted == 1,
        })
    }

    /// The stored call of send `send_id`, if any.
    pub async fn send_payload(
        &self,
        send_id: i64,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        let text: Option<String> = sqlx::query_scalar("SELECT payload FROM sends WHERE id = ?1")
            .bind(send_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.err_of("send_payload"))?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    /// Takes one place of `day`'s "write first" budget for send `send_id`: true when the send
    /// already holds one, or when fewer than `limit` are taken (`limit` 0 = no limit); false
    /// when the day is full. Check and take are one transaction, so two sends never share
    /// the last place, and a send that crashed after taking it keeps it.
    pub async fn take_write_first(
        &self,
        send_id: i64,
        day: &str,
        limit: u32,
    ) -> Result<bool, StoreError> {
        let fail = self.err_of("take_write_first");
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(&fail)?;
        let held: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM write_first WHERE send_id = ?1)")
                .bind(send_id)
                .fetch_one(&mut *tx)
                .await
                .map_err(&fail)?;
        if held {
            return Ok(true);
        }
        if limit > 0 {
            let taken: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM write_first WHERE day = ?1")
                .bind(day)
                .fetch_one(&mut *tx)
                .await
                .map_err(&fail)?;
            if taken >= i64::from(limit) {
                return Ok(false);
            }
        }
        sqlx::query("INSERT INTO write_first (send_id, day, created_at) VALUES (?1, ?2, ?3)")
            .bind(send_id)
            .bind(day)
            .bind(to_millis(Utc::now()))
            .execute(&mut *tx)
            .await
            .map_err(&fail)?;
        tx.commit().await.map_err(&fail)?;
        Ok(true)
    }
}

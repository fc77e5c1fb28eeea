//! The Open Lines bridge's state: the message behind each line job (keyed by its id on the
//! other side, so the same message delivered twice is queued once), the `event.offline.get`
//! reservations being worked on, the portal's IM chat behind each external chat, and the
//! operators' files re-hosted for Chat2Desk.

use chrono::{DateTime, Utc};

use super::job::{from_millis, to_millis};
use super::queue::insert_jobs;
use super::{with_pool, Intake, JobKind, Store, StoreError, WritePool};

/// What [`Store::enqueue_line_message`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bridged {
    /// The message's row id, also the key of its line job.
    pub id: i64,
    /// False when this message was already queued (nothing changed).
    pub new: bool,
}

/// An operator's file served to Chat2Desk under an unguessable token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostedFile {
    /// The portal's link the daemon fetches when Chat2Desk asks.
    pub url: String,
    /// The file name shown to the client.
    pub name: String,
    /// When the token stops working.
    pub expires_at: DateTime<Utc>,
}

/// The `line_messages.direction` of one-time notices ([`Store::first_time`]).
const NOTICE: &str = "notice";
/// The `line_messages.direction` of the portal's IM chat behind an external chat
/// ([`Store::remember_im_chat`]); no job reads it either.
const IM_CHAT: &str = "im_chat";

/// One message for [`Store::enqueue_line_messages`].
#[derive(Debug, Clone, PartialEq)]
pub struct LineItem {
    /// Its id on the other side (the dedupe key).
    pub external_id: String,
    /// The job chain (one chat's messages run one at a time, in order).
    pub chain: String,
    /// Its place in the chain and when its job may start.
    pub order: LineOrder,
    /// What the job reads.
    pub payload: serde_json::Value,
}

/// Where a bridged message goes in its chain and when its job may start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineOrder {
    /// The chain's order key: when the message was written (unix ms), or any key that
    /// grows in the order the messages were written (Chat2Desk message ids).
    pub seq_ms: i64,
    /// When the job becomes due (a short wait lets a sibling delivered out of order land
    /// before it).
    pub due: DateTime<Utc>,
}

impl LineOrder {
    /// Written now, due now.
    pub fn now() -> Self {
        let now = Utc::now();
        Self {
            seq_ms: to_millis(now),
            due: now,
        }
    }
}

/// What crossed the bridge: for `chat2desk-b24 openlines`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineTraffic {
    /// Client messages delivered to lines since the given time.
    pub to_line: u64,
    /// Operators' replies delivered to clients since the given time.
    pub to_client: u64,
    /// Line jobs waiting or running.
    pub pending: u64,
    /// The newest error of a line job: when, and the text.
    pub last_error: Option<(DateTime<Utc>, String)>,
}

impl Store {
    /// Line jobs done since `since` in each direction, those pending, and the last error.
    pub async fn line_traffic(&self, since: DateTime<Utc>) -> Result<LineTraffic, StoreError> {
        let fail = self.err_of("line_traffic");
        let since = to_millis(since);
        let (to_line, to_client, pending, last): (i64, i64, i64, Option<(i64, String)>) = with_pool!(self, pool, _sql => {
            let count = |kind: &'static str| {
                sqlx::query_scalar::<_, i64>(
                    "SELECT COUNT(*) FROM jobs WHERE kind = ? AND state = 'done' AND updated_at >= ?",
                )
                .bind(kind)
                .bind(since)
            };
            let to_line = count("line_in").fetch_one(pool).await.map_err(&fail)?;
            let to_client = count("line_out").fetch_one(pool).await.map_err(&fail)?;
            let pending: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM jobs WHERE kind IN ('line_in', 'line_out') \
                 AND state IN ('pending', 'running')",
            )
            .fetch_one(pool)
            .await
            .map_err(&fail)?;
            let last: Option<(i64, String)> = sqlx::query_as(
                "SELECT updated_at, last_error FROM jobs WHERE kind IN ('line_in', 'line_out') \
                 AND last_error IS NOT NULL ORDER BY updated_at DESC LIMIT 1",
            )
            .fetch_optional(pool)
            .await
            .map_err(&fail)?;
            (to_line, to_client, pending, last)
        });
        Ok(LineTraffic {
            to_line: to_line as u64,
            to_client: to_client as u64,
            pending: pending as u64,
            last_error: last.map(|(at, text)| (from_millis(at), text)),
        })
    }

    /// Stores a bridged message under `external_id` and queues its `kind` job (`LineIn` or
    /// `LineOut`) in `chain`, ordered as written now, in one transaction. The same message
    /// again changes nothing.
    pub async fn enqueue_line_message(
        &self,
        kind: JobKind,
        external_id: &str,
        chain: &str,
        payload: &serde_json::Value,
        intake: Intake,
    ) -> Result<Bridged, StoreError> {
        self.enqueue_line_message_at(kind, external_id, chain, LineOrder::now(), payload, intake)
            .await
    }

    /// [`Store::enqueue_line_message`] at a given place in the chain.
    pub async fn enqueue_line_message_at(
        &self,
        kind: JobKind,
        external_id: &str,
        chain: &str,
        order: LineOrder,
        payload: &serde_json::Value,
        intake: Intake,
    ) -> Result<Bridged, StoreError> {
        let item = LineItem {
            external_id: external_id.to_string(),
            chain: chain.to_string(),
            order,
            payload: payload.clone(),
        };
        let done = self.enqueue_line_messages(kind, &[item], intake).await?;
        Ok(done[0])
    }

    /// [`Store::enqueue_line_message_at`] for several messages in one transaction (the
    /// elements of one portal event: all of them are queued, or none).
    pub async fn enqueue_line_messages(
        &self,
        kind: JobKind,
        items: &[LineItem],
        intake: Intake,
    ) -> Result<Vec<Bridged>, StoreError> {
        let fail = self.err_of("enqueue_line_message");
        with_pool!(self, pool, sql => {
            let mut tx = pool.begin_write().await.map_err(&fail)?;
            let mut done = Vec::with_capacity(items.len());
            for item in items {
                let inserted = sqlx::query(sql.insert_line_message)
                    .bind(kind.as_str())
                    .bind(&item.external_id)
                    .bind(item.payload.to_string())
                    .bind(to_millis(Utc::now()))
                    .execute(&mut *tx)
                    .await
                    .map_err(&fail)?
                    .rows_affected();
                let id: i64 = sqlx::query_scalar(
                    "SELECT id FROM line_messages WHERE direction = ? AND external_id = ?",
                )
                .bind(kind.as_str())
                .bind(&item.external_id)
                .fetch_one(&mut *tx)
                .await
                .map_err(&fail)?;
                if inserted == 1 {
                    insert_jobs!(tx, sql, kind, &[id], intake, Some(item.chain.as_str()))
                        .await
                        .map_err(&fail)?;
                    sqlx::query(
                        "UPDATE jobs SET chain_seq = ?, next_attempt_at = ? \
                         WHERE kind = ? AND job_key = ?",
                    )
                    .bind(item.order.seq_ms)
                    .bind(to_millis(item.order.due))
                    .bind(kind.as_str())
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(&fail)?;
                }
                done.push(Bridged {
                    id,
                    new: inserted == 1,
                });
            }
            tx.commit().await.map_err(&fail)?;
            Ok(done)
        })
    }

    /// True the first time `topic` is asked about, false ever after (one-time notices in
    /// a line, e.g. «files go as portal links»). Kept in `line_messages` under the
    /// direction `notice`, which no job reads.
    pub async fn first_time(&self, topic: &str) -> Result<bool, StoreError> {
        let fail = self.err_of("first_time");
        let inserted = with_pool!(self, pool, sql => {
            sqlx::query(sql.insert_line_message)
                .bind(NOTICE)
                .bind(topic)
                .bind("{}")
                .bind(to_millis(Utc::now()))
                .execute(pool)
                .await
                .map_err(&fail)?
                .rows_affected()
        });
        Ok(inserted == 1)
    }

    /// Remembers that external chat `chat` of `line` is the portal's IM chat `im_chat` (from
    /// a `send.messages` answer or an operator's event), so a push whose answer was lost can
    /// be looked for there. The first one learnt stays.
    pub async fn remember_im_chat(
        &self,
        line: i64,
        chat: &str,
        im_chat: i64,
    ) -> Result<(), StoreError> {
        let fail = self.err_of("remember_im_chat");
        with_pool!(self, pool, sql => {
            sqlx::query(sql.insert_line_message)
                .bind(IM_CHAT)
                .bind(format!("{line}:{chat}"))
                .bind(serde_json::json!({ "im_chat": im_chat }).to_string())
                .bind(to_millis(Utc::now()))
                .execute(pool)
                .await
                .map_err(&fail)?;
        });
        Ok(())
    }

    /// The IM chat [`Store::remember_im_chat`] learnt for `chat` of `line`, if any.
    pub async fn im_chat(&self, line: i64, chat: &str) -> Result<Option<i64>, StoreError> {
        let fail = self.err_of("im_chat");
        let text: Option<String> = with_pool!(self, pool, _sql => {
            sqlx::query_scalar(
                "SELECT payload FROM line_messages WHERE direction = ? AND external_id = ?",
            )
            .bind(IM_CHAT)
            .bind(format!("{line}:{chat}"))
            .fetch_optional(pool)
            .await
            .map_err(&fail)?
        });
        Ok(text
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["im_chat"].as_i64()))
    }

    /// The stored message behind line job `id`, if any.
    pub async fn line_message(&self, id: i64) -> Result<Option<serde_json::Value>, StoreError> {
        let fail = self.err_of("line_message");
        let text: Option<String> = with_pool!(self, pool, _sql => {
            sqlx::query_scalar("SELECT payload FROM line_messages WHERE id = ?")
                .bind(id)
                .fetch_optional(pool)
                .await
                .map_err(&fail)?
        });
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    /// Remembers an `event.offline.get` reservation before its events are worked on.
    pub async fn remember_offline_batch(&self, process_id: &str) -> Result<(), StoreError> {
        let fail = self.err_of("remember_offline_batch");
        with_pool!(self, pool, sql => {
            sqlx::query(sql.insert_offline_batch)
                .bind(process_id)
                .bind(to_millis(Utc::now()))
                .execute(pool)
                .await
                .map_err(&fail)?;
        });
        Ok(())
    }

    /// Whether `process_id` is a reservation this daemon stored (open or closed).
    pub async fn knows_offline_batch(&self, process_id: &str) -> Result<bool, StoreError> {
        let fail = self.err_of("knows_offline_batch");
        let n: i64 = with_pool!(self, pool, _sql => {
            sqlx::query_scalar("SELECT COUNT(*) FROM offline_batches WHERE process_id = ?")
                .bind(process_id)
                .fetch_one(pool)
                .await
                .map_err(&fail)?
        });
        Ok(n > 0)
    }

    /// The reservations not yet closed, oldest first.
    pub async fn open_offline_batches(&self) -> Result<Vec<String>, StoreError> {
        let fail = self.err_of("open_offline_batches");
        Ok(with_pool!(self, pool, _sql => {
            sqlx::query_scalar(
                "SELECT process_id FROM offline_batches WHERE closed_at IS NULL \
                 ORDER BY created_at, process_id",
            )
            .fetch_all(pool)
            .await
            .map_err(&fail)?
        }))
    }

    /// Marks a reservation done (every event of it cleared or marked as an error).
    pub async fn close_offline_batch(&self, process_id: &str) -> Result<(), StoreError> {
        let fail = self.err_of("close_offline_batch");
        with_pool!(self, pool, _sql => {
            sqlx::query("UPDATE offline_batches SET closed_at = ? WHERE process_id = ?")
                .bind(to_millis(Utc::now()))
                .bind(process_id)
                .execute(pool)
                .await
                .map_err(&fail)?;
        });
        Ok(())
    }

    /// Offers `file` at `token` until its expiry (a token is never reused).
    pub async fn host_file(&self, token: &str, file: &HostedFile) -> Result<(), StoreError> {
        let fail = self.err_of("host_file");
        with_pool!(self, pool, _sql => {
            sqlx::query("INSERT INTO hosted_files (token, url, name, expires_at) VALUES (?, ?, ?, ?)")
                .bind(token)
                .bind(&file.url)
                .bind(&file.name)
                .bind(to_millis(file.expires_at))
                .execute(pool)
                .await
                .map_err(&fail)?;
        });
        Ok(())
    }

    /// The file offered at `token`, unless unknown or expired. A read only: a guessed token
    /// costs no write ([`Store::purge_hosted_files`] removes expired rows).
    pub async fn hosted_file(&self, token: &str) -> Result<Option<HostedFile>, StoreError> {
        let fail = self.err_of("hosted_file");
        let now = to_millis(Utc::now());
        let row: Option<(String, String, i64)> = with_pool!(self, pool, _sql => {
            sqlx::query_as(
                "SELECT url, name, expires_at FROM hosted_files WHERE token = ? AND expires_at >= ?",
            )
            .bind(token)
            .bind(now)
            .fetch_optional(pool)
            .await
            .map_err(&fail)?
        });
        Ok(row.map(|(url, name, expires)| HostedFile {
            url,
            name,
            expires_at: from_millis(expires),
        }))
    }

    /// Deletes the expired file offers; the number deleted.
    pub async fn purge_hosted_files(&self) -> Result<u64, StoreError> {
        let fail = self.err_of("purge_hosted_files");
        let done = with_pool!(self, pool, _sql => {
            sqlx::query("DELETE FROM hosted_files WHERE expires_at < ?")
                .bind(to_millis(Utc::now()))
                .execute(pool)
                .await
                .map_err(&fail)?
                .rows_affected()
        });
        Ok(done)
    }
}

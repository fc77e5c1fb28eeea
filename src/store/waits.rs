//! Escalation's waiting stretches: a client's first unanswered message opens one (with its
//! job, due when the wait runs out, in the same transaction), an operator's answer ends it,
//! and its job records the notice. One row per stretch (`waits`), numbered per client, so
//! two nodes that see the same message open it once.

use chrono::{DateTime, Utc};

use super::job::{from_millis, to_millis};
use super::{with_pool, Intake, JobKind, Store, StoreError, WritePool};

/// How much later than an answer a stretch may have started and still be ended by it.
const SAME_SECOND_MS: i64 = 999;

/// A client's message that may open a waiting stretch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientMessage {
    /// The Chat2Desk client.
    pub client_id: i64,
    /// The message.
    pub message_id: i64,
    /// When it was written.
    pub at: DateTime<Utc>,
    /// Its channel, when known.
    pub channel_id: Option<i64>,
    /// Its dialog, when known.
    pub dialog_id: Option<i64>,
    /// Its request, when known.
    pub request_id: Option<i64>,
    /// The client's name, when the delivery carried it.
    pub client_name: Option<String>,
}

/// A stretch as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wait {
    /// The row id (the key of its `escalation` job).
    pub id: i64,
    /// The message that opened it, with its client and where it was written.
    pub opened_by: ClientMessage,
    /// When an operator answered (the stretch ended).
    pub answered_at: Option<DateTime<Utc>>,
    /// When its notice was sent.
    pub notified_at: Option<DateTime<Utc>>,
}

/// The columns of a [`Wait`], in [`Wait::from_row`]'s order.
const WAIT_COLUMNS: &str = "id, client_id, message_id, started_at, channel_id, dialog_id, \
     request_id, client_name, answered_at, notified_at";

type WaitRow = (
    i64,
    i64,
    i64,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<i64>,
);

impl Wait {
    fn from_row(row: WaitRow) -> Self {
        let (id, client_id, message_id, started, channel_id, dialog_id, request_id, name, a, n) =
            row;
        Wait {
            id,
            opened_by: ClientMessage {
                client_id,
                message_id,
                at: from_millis(started),
                channel_id,
                dialog_id,
                request_id,
                client_name: name,
            },
            answered_at: a.map(from_millis),
            notified_at: n.map(from_millis),
        }
    }
}

impl Store {
    /// A client wrote `message`: opens a waiting stretch unless one of the same request is
    /// open (an open one of an earlier request ends here) or the message is older than the
    /// answer that ended the last one, and, in the same transaction,
    /// queues `kind`'s job for it due at `due`. The new stretch's id, or `None`.
    pub async fn open_wait(
        &self,
        message: &ClientMessage,
        kind: JobKind,
        due: DateTime<Utc>,
        intake: Intake,
    ) -> Result<Option<i64>, StoreError> {
        let fail = self.err_of("open waiting stretch");
        let m = message;
        let now = to_millis(Utc::now());
        with_pool!(self, pool, sql => {
            let mut tx = pool.begin_write().await.map_err(&fail)?;
            let last: Option<(i64, i64, Option<i64>, Option<i64>)> = sqlx::query_as(
                "SELECT stretch, message_id, answered_at, request_id FROM waits \
                 WHERE client_id = ? ORDER BY stretch DESC LIMIT 1",
            )
            .bind(m.client_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(&fail)?;
            let stretch = match last {
                None => 1,
                Some((stretch, first, Some(answered), _))
                    if m.message_id > first && to_millis(m.at) > answered =>
                {
                    stretch + 1
                }
                // An open stretch of an earlier request: that request closed, its wait is
                // over, and this message opens the new request's.
                Some((stretch, first, None, Some(request)))
                    if m.message_id > first && m.request_id.is_some_and(|r| r != request) =>
                {
                    sqlx::query(
                        "UPDATE waits SET answered_at = ? \
                         WHERE client_id = ? AND stretch = ? AND answered_at IS NULL",
                    )
                    .bind(to_millis(m.at))
                    .bind(m.client_id)
                    .bind(stretch)
                    .execute(&mut *tx)
                    .await
                    .map_err(&fail)?;
                    stretch + 1
                }
                // Still waiting, or a message from before the answer.
                Some(_) => return Ok(None),
            };
            // Two nodes opening the same stretch at once: one insert wins, the other is
            // ignored (the unique (client_id, stretch)).
            let inserted = sqlx::query(
                if matches!(self.backend(), super::Backend::Sqlite) {
                    "INSERT INTO waits (client_id, stretch, started_at, message_id, channel_id, \
                     dialog_id, request_id, client_name) VALUES (?, ?, ?, ?, ?, ?, ?, ?) \
                     ON CONFLICT (client_id, stretch) DO NOTHING"
                } else {
                    "INSERT IGNORE INTO waits (client_id, stretch, started_at, message_id, \
                     channel_id, dialog_id, request_id, client_name) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                },
            )
            .bind(m.client_id)
            .bind(stretch)
            .bind(to_millis(m.at))
            .bind(m.message_id)
            .bind(m.channel_id)
            .bind(m.dialog_id)
            .bind(m.request_id)
            .bind(m.client_name.as_deref())
            .execute(&mut *tx)
            .await
            .map_err(&fail)?
            .rows_affected();
            if inserted == 0 {
                return Ok(None);
            }
            let id: i64 =
                sqlx::query_scalar("SELECT id FROM waits WHERE client_id = ? AND stretch = ?")
                    .bind(m.client_id)
                    .bind(stretch)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(&fail)?;
            sqlx::query(sql.insert_job)
                .bind(kind.as_str())
                .bind(id)
                .bind(to_millis(due))
                .bind(intake.as_str())
                .bind(now)
                .bind(now)
                .bind(None::<&str>)
                .execute(&mut *tx)
                .await
                .map_err(&fail)?;
            tx.commit().await.map_err(&fail)?;
            Ok(Some(id))
        })
    }

    /// An operator answered `client_id` at `at`: ends its open stretch, if one opened before
    /// `at` (or within the same second: Chat2Desk's times have whole seconds, a message
    /// without one is timed when it arrived). True when one ended.
    pub async fn end_wait(&self, client_id: i64, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let fail = self.err_of("end waiting stretch");
        let ended = with_pool!(self, pool, _sql => {
            sqlx::query(
                "UPDATE waits SET answered_at = ? \
                 WHERE client_id = ? AND answered_at IS NULL AND started_at <= ?",
            )
            .bind(to_millis(at))
            .bind(client_id)
            .bind(to_millis(at) + SAME_SECOND_MS)
            .execute(pool)
            .await
            .map_err(&fail)?
            .rows_affected()
        });
        Ok(ended > 0)
    }

    /// The stretch `id`.
    pub async fn wait(&self, id: i64) -> Result<Option<Wait>, StoreError> {
        let fail = self.err_of("read waiting stretch");
        let query = format!("SELECT {WAIT_COLUMNS} FROM waits WHERE id = ?");
        let row: Option<WaitRow> = with_pool!(self, pool, _sql => {
            sqlx::query_as(&query)
                .bind(id)
                .fetch_optional(pool)
                .await
                .map_err(&fail)?
        });
        Ok(row.map(Wait::from_row))
    }

    /// Records that stretch `id`'s notice went out at `at`.
    pub async fn mark_notified(&self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
        let fail = self.err_of("record escalation notice");
        with_pool!(self, pool, _sql => {
            sqlx::query("UPDATE waits SET notified_at = ? WHERE id = ? AND notified_at IS NULL")
                .bind(to_millis(at))
                .bind(id)
                .execute(pool)
                .await
                .map_err(&fail)?
                .rows_affected()
        });
        Ok(())
    }

    /// (stretches open since `waiting_since` and not answered, notices sent since
    /// `notified_since`), over every node.
    pub async fn wait_counts(
        &self,
        waiting_since: DateTime<Utc>,
        notified_since: DateTime<Utc>,
    ) -> Result<(u64, u64), StoreError> {
        let fail = self.err_of("count waiting stretches");
        let (waiting, notified): (i64, i64) = with_pool!(self, pool, _sql => {
            let waiting = sqlx::query_scalar(
                "SELECT COUNT(*) FROM waits WHERE answered_at IS NULL AND started_at >= ?",
            )
            .bind(to_millis(waiting_since))
            .fetch_one(pool)
            .await
            .map_err(&fail)?;
            let notified = sqlx::query_scalar("SELECT COUNT(*) FROM waits WHERE notified_at >= ?")
                .bind(to_millis(notified_since))
                .fetch_one(pool)
                .await
                .map_err(&fail)?;
            (waiting, notified)
        });
        Ok((waiting.max(0) as u64, notified.max(0) as u64))
    }
}

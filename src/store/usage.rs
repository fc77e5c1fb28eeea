//! What the intake and the billing view need from the queue: when a webhook last brought a
//! closed request (the poller backs off while they work), and the Chat2Desk calls this
//! installation made per calendar month (every node adds its own).

use chrono::{DateTime, Utc};

use super::job::to_millis;
use super::{with_pool, Store, StoreError};

/// Meta key prefix of the monthly call counters: `chat2desk.calls.<YYYY-MM>`.
const CALLS_PREFIX: &str = "chat2desk.calls.";

/// The meta key of `month`'s counter (`YYYY-MM`, UTC).
fn calls_key(month: &str) -> String {
    format!("{CALLS_PREFIX}{month}")
}

impl Store {
    /// When the newest job that a webhook brought was enqueued (`None`: never).
    pub async fn newest_webhook_job(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.min_time(
            "newest_webhook_job",
            "SELECT MAX(created_at) FROM jobs WHERE intake = 'webhook'",
        )
        .await
    }

    /// Adds `calls` Chat2Desk API calls to the counter of `month` (`YYYY-MM`, UTC).
    pub async fn add_chat2desk_calls(&self, month: &str, calls: u64) -> Result<(), StoreError> {
        let fail = self.err_of("add_chat2desk_calls");
        let key = calls_key(month);
        with_pool!(self, pool, sql => {
            sqlx::query(sql.add_to_meta)
                .bind(key.as_str())
                .bind(calls.to_string())
                .bind(to_millis(Utc::now()))
                .execute(pool)
                .await
                .map(|_| ())
                .map_err(&fail)
        })
    }

    /// The Chat2Desk API calls counted for `month` (`YYYY-MM`, UTC) by every node.
    pub async fn chat2desk_calls(&self, month: &str) -> Result<u64, StoreError> {
        let value = self.meta(&calls_key(month)).await?;
        Ok(value.and_then(|v| v.trim().parse().ok()).unwrap_or(0))
    }
}

//! Shared turns: a counter every node draws from in one write transaction, so that no two
//! draws (on one node or several sharing the database) get the same number. The round robin
//! of `[crm] responsible_pick` takes its turns here; the counter lives in `meta`
//! (`turn.<name>`), so no table of its own is needed.

use chrono::Utc;

use super::job::to_millis;
use super::{with_pool, Store, StoreError, WritePool};

/// Meta key prefix of the turn counters.
const TURN_PREFIX: &str = "turn.";

impl Store {
    /// Draws the next turn of counter `name`: 0 on the first draw, then 1, 2, … across
    /// restarts and nodes, each number drawn once.
    pub async fn next_turn(&self, name: &str) -> Result<u64, StoreError> {
        let fail = self.err_of("next_turn");
        let key = format!("{TURN_PREFIX}{name}");
        let drawn: String = with_pool!(self, pool, sql => {
            let mut tx = pool.begin_write().await.map_err(&fail)?;
            // The upsert locks the row (MySQL) or the file (SQLite) until the commit, so the
            // read below sees this draw's count and no other draw's.
            sqlx::query(sql.add_to_meta)
                .bind(key.as_str())
                .bind("1")
                .bind(to_millis(Utc::now()))
                .execute(&mut *tx)
                .await
                .map_err(&fail)?;
            let value: String = sqlx::query_scalar(sql.select_meta)
                .bind(key.as_str())
                .fetch_one(&mut *tx)
                .await
                .map_err(&fail)?;
            tx.commit().await.map_err(&fail)?;
            value
        });
        let count: u64 = drawn.trim().parse().unwrap_or(1);
        Ok(count.saturating_sub(1))
    }
}

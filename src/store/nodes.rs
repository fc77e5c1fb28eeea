//! Nodes sharing the database: their heartbeats, and named leases such as the leader lease
//! of the singleton duties (at most one holder, taken over when the holder stops renewing).

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::job::{from_millis, to_millis};
use super::{with_pool, Store, StoreError};

/// The lease of the singleton duties (the poller; later the Open Lines offline-events reader
/// and the token refresh).
pub const LEADER: &str = "leader";

/// A node as `status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// `[node] name`.
    pub name: String,
    /// Version of chat2desk-b24 it runs.
    pub version: String,
    /// When it last started.
    pub started_at: DateTime<Utc>,
    /// Its last heartbeat.
    pub heartbeat_at: DateTime<Utc>,
    /// Until when it holds the leader lease, when it does.
    pub leads_until: Option<DateTime<Utc>>,
}

impl Store {
    /// Registers this node as started now (a restart under the same name starts afresh).
    pub async fn register_node(&self, version: &str) -> Result<(), StoreError> {
        let now = to_millis(Utc::now());
        let fail = self.err_of("register node");
        with_pool!(self, pool, sql => {
            sqlx::query(sql.upsert_node)
                .bind(self.node())
                .bind(version)
                .bind(now)
                .bind(now)
                .execute(pool)
                .await
                .map_err(&fail)?;
        });
        Ok(())
    }

    /// Records that this node is alive now.
    pub async fn heartbeat(&self) -> Result<(), StoreError> {
        let fail = self.err_of("heartbeat");
        with_pool!(self, pool, _sql => {
            sqlx::query("UPDATE nodes SET heartbeat_at = ? WHERE name = ?")
                .bind(to_millis(Utc::now()))
                .bind(self.node())
                .execute(pool)
                .await
                .map_err(&fail)?;
        });
        Ok(())
    }

    /// Takes the lease `name` for this node until `now + lease`, or renews it: true when this
    /// node holds it now. It is taken when nobody holds it or its holder's lease ended
    /// before `now`; the holder renewing keeps its `since`.
    pub async fn try_lease(
        &self,
        name: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
        let (now, until) = (to_millis(now), to_millis(until));
        let fail = self.err_of("take lease");
        let held = with_pool!(self, pool, sql => {
            let inserted = sqlx::query(sql.insert_lease)
                .bind(name)
                .bind(self.node())
                .bind(now)
                .bind(until)
                .execute(pool)
                .await
                .map_err(&fail)?
                .rows_affected();
            // `since` first: MySQL assigns left to right, so it must see the old holder.
            inserted > 0
                || sqlx::query(
                    "UPDATE leases SET since = CASE WHEN holder = ? THEN since ELSE ? END, \
                         holder = ?, lease_until = ? \
                     WHERE name = ? AND (holder = ? OR lease_until < ?)",
                )
                .bind(self.node())
                .bind(now)
                .bind(self.node())
                .bind(until)
                .bind(name)
                .bind(self.node())
                .bind(now)
                .execute(pool)
                .await
                .map_err(&fail)?
                .rows_affected()
                    > 0
        });
        Ok(held)
    }

    /// Gives the lease `name` up if this node holds it (a clean stop: another node takes it
    /// at its next try instead of waiting for the lease to end).
    pub async fn release_lease(&self, name: &str) -> Result<(), StoreError> {
        let fail = self.err_of("release lease");
        with_pool!(self, pool, _sql => {
            sqlx::query("UPDATE leases SET lease_until = 0 WHERE name = ? AND holder = ?")
                .bind(name)
                .bind(self.node())
                .execute(pool)
                .await
                .map_err(&fail)?;
        });
        Ok(())
    }

    /// Who holds the lease `name` at `now`: the holder, since when, and until when.
    pub async fn lease_holder(
        &self,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(String, DateTime<Utc>, DateTime<Utc>)>, StoreError> {
        let fail = self.err_of("lease holder");
        let row: Option<(String, i64, i64)> = with_pool!(self, pool, _sql => {
            sqlx::query_as(
                "SELECT holder, since, lease_until FROM leases WHERE name = ? AND lease_until >= ?",
            )
            .bind(name)
            .bind(to_millis(now))
            .fetch_optional(pool)
            .await
            .map_err(&fail)?
        });
        Ok(row.map(|(holder, since, until)| (holder, from_millis(since), from_millis(until))))
    }

    /// Every node that ever started on this database, most recent heartbeat first, with the
    /// leader lease of the one that holds it.
    pub async fn nodes(&self) -> Result<Vec<NodeInfo>, StoreError> {
        let fail = self.err_of("nodes");
        let now = Utc::now();
        let rows: Vec<(String, String, i64, i64)> = with_pool!(self, pool, _sql => {
            sqlx::query_as(
                "SELECT name, version, started_at, heartbeat_at FROM nodes \
                 ORDER BY heartbeat_at DESC, name",
            )
            .fetch_all(pool)
            .await
            .map_err(&fail)?
        });
        let leader = self.lease_holder(LEADER, now).await?;
        Ok(rows
            .into_iter()
            .map(|(name, version, started, beat)| NodeInfo {
                leads_until: leader
                    .as_ref()
                    .filter(|(holder, _, _)| *holder == name)
                    .map(|(_, _, until)| *until),
                name,
                version,
                started_at: from_millis(started),
                heartbeat_at: from_millis(beat),
            })
            .collect())
    }
}

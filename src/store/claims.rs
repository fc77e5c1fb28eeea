//! Single flight per client: claims on client keys that live with the queue, and the records
//! a job resolved for a client (read by the next job of that client before it searches).
//!
//! A claim row names the job holding it; it is in force only while that job is `running` and
//! its lease has not ended. So there is nothing to expire separately: a job that finishes,
//! fails, or belongs to a killed process stops blocking its client when its lease does.

use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;

use super::job::to_millis;
use super::queue::SAVE_STEPS;
use super::{Store, StoreError};

/// One identity of a client: its normalised phone, or its Chat2Desk client id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientKey(String);

impl ClientKey {
    /// The key of a real phone, given in the normalised E.164 form (`+79161234567`).
    pub fn phone(e164: &str) -> Self {
        Self(format!("phone:{e164}"))
    }

    /// The key of a Chat2Desk client id.
    pub fn chat2desk(client_id: i64) -> Self {
        Self(format!("c2d:{client_id}"))
    }

    /// The stored text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The outcome of [`Store::try_claim_clients`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimAttempt {
    /// The job now holds every key.
    Taken,
    /// Another running job holds one of the keys; nothing was taken.
    HeldBy(i64),
}

/// A record a job resolved for a client, to remember under each of its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientRecord<'a> {
    /// What kind of record: `"crm.lead"`, `"crm.contact"`, `"chat2desk.client"`.
    pub scope: &'a str,
    /// Its id at the service.
    pub id: i64,
}

/// A remembered record, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// Its scope.
    pub scope: String,
    /// Its id.
    pub id: i64,
}

/// The job holding `key` with a claim still in force at `now`, other than `job_id`.
const HOLDER: &str = "SELECT c.job_id FROM client_claims c JOIN jobs j ON j.id = c.job_id \
     WHERE c.client_key = ?1 AND c.job_id <> ?2 \
       AND j.state = 'running' AND j.lease_until >= ?3";

impl Store {
    /// Takes every key for job `job_id` in one transaction, or none of them when another
    /// running job with a live lease holds any (all or nothing, so two jobs can never wait
    /// for each other). Claims of finished or expired jobs are taken over.
    pub async fn try_claim_clients(
        &self,
        job_id: i64,
        keys: &[ClientKey],
        now: DateTime<Utc>,
    ) -> Result<ClaimAttempt, StoreError> {
        let fail = self.err_of("claim client");
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(&fail)?;
        for key in keys {
            let holder: Option<i64> = sqlx::query_scalar(HOLDER)
                .bind(key.as_str())
                .bind(job_id)
                .bind(to_millis(now))
                .fetch_optional(&mut *tx)
                .await
                .map_err(&fail)?;
            if let Some(holder) = holder {
                tx.rollback().await.map_err(&fail)?;
                return Ok(ClaimAttempt::HeldBy(holder));
            }
        }
        for key in keys {
            sqlx::query(
                "INSERT INTO client_claims (client_key, job_id, claimed_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (client_key) DO UPDATE \
                 SET job_id = excluded.job_id, claimed_at = excluded.claimed_at",
            )
            .bind(key.as_str())
            .bind(job_id)
            .bind(to_millis(Utc::now()))
            .execute(&mut *tx)
            .await
            .map_err(&fail)?;
        }
        tx.commit().await.map_err(&fail)?;
        Ok(ClaimAttempt::Taken)
    }

    /// Lets go of every client key job `job_id` holds.
    pub async fn release_clients(&self, job_id: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM client_claims WHERE job_id = ?1")
            .bind(job_id)
            .execute(&self.pool)
            .await
            .map_err(self.err_of("release client"))?;
        Ok(())
    }

    /// Extends a running job's lease (a job waiting for a client's claim keeps its own).
    pub async fn extend_lease(
        &self,
        job_id: i64,
        lease_until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE jobs SET lease_until = ?1 WHERE id = ?2 AND state = 'running'")
            .bind(to_millis(lease_until))
            .bind(job_id)
            .execute(&self.pool)
            .await
            .map_err(self.err_of("extend lease"))?;
        Ok(())
    }

    /// Every record remembered under any of `keys` since `since`, newest first.
    pub async fn client_records(
        &self,
        keys: &[ClientKey],
        since: DateTime<Utc>,
    ) -> Result<Vec<StoredRecord>, StoreError> {
        let fail = self.err_of("client records");
        let mut found: Vec<(i64, StoredRecord)> = Vec::new();
        for key in keys {
            let rows: Vec<(String, i64, i64)> = sqlx::query_as(
                "SELECT scope, record_id, updated_at FROM client_records \
                 WHERE client_key = ?1 AND updated_at >= ?2",
            )
            .bind(key.as_str())
            .bind(to_millis(since))
            .fetch_all(&self.pool)
            .await
            .map_err(&fail)?;
            found.extend(
                rows.into_iter()
                    .map(|(scope, id, at)| (at, StoredRecord { scope, id })),
            );
        }
        found.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
        Ok(found.into_iter().map(|(_, record)| record).collect())
    }

    /// Remembers `records` under every key (outside a job's checkpoint: an intent written
    /// before a remote write whose result the next job must be able to find).
    pub async fn remember_clients(
        &self,
        keys: &[ClientKey],
        records: &[ClientRecord<'_>],
    ) -> Result<(), StoreError> {
        let fail = self.err_of("remember client");
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(&fail)?;
        remember_on(&mut tx, keys, records).await.map_err(&fail)?;
        tx.commit().await.map_err(&fail)
    }

    /// In one transaction: checkpoints job `job_id` (steps and lease, as
    /// [`Store::save_steps`]) and remembers `records` under every key, so a crash can never
    /// leave an entity created and saved in the job but unknown to the client's next job.
    pub async fn save_client_records(
        &self,
        job_id: i64,
        steps: &serde_json::Value,
        lease_until: DateTime<Utc>,
        keys: &[ClientKey],
        records: &[ClientRecord<'_>],
    ) -> Result<(), StoreError> {
        let fail = self.err_of("save client records");
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(&fail)?;
        let saved = sqlx::query(SAVE_STEPS)
            .bind(steps.to_string())
            .bind(to_millis(lease_until))
            .bind(to_millis(Utc::now()))
            .bind(job_id)
            .execute(&mut *tx)
            .await
            .map_err(&fail)?;
        if saved.rows_affected() == 0 {
            tx.rollback().await.map_err(&fail)?;
            return Err(StoreError::new(
                "save client records",
                self.path(),
                super::Cause::WrongState {
                    id: job_id,
                    expected: "running",
                },
            ));
        }
        remember_on(&mut tx, keys, records).await.map_err(&fail)?;
        tx.commit().await.map_err(&fail)?;
        Ok(())
    }
}

/// Upserts every `(key, record)` pair on `conn`.
async fn remember_on(
    conn: &mut SqliteConnection,
    keys: &[ClientKey],
    records: &[ClientRecord<'_>],
) -> Result<(), sqlx::Error> {
    let now = to_millis(Utc::now());
    for key in keys {
        for record in records {
            sqlx::query(
                "INSERT INTO client_records (client_key, scope, record_id, updated_at) \
                 VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (client_key, scope) DO UPDATE \
                 SET record_id = excluded.record_id, updated_at = excluded.updated_at",
            )
            .bind(key.as_str())
            .bind(record.scope)
            .bind(record.id)
            .bind(now)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

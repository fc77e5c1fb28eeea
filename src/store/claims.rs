//! Single flight per client: claims on client keys that live with the queue, and the records
//! a job resolved for a client (read by the next job of that client before it searches).
//!
//! A claim row names the job holding it; it is in force only while that job is `running` and
//! its lease has not ended. So there is nothing to expire separately: a job that finishes,
//! fails, or belongs to a killed process stops blocking its client when its lease does.

use chrono::{DateTime, Utc};

use super::error::is_lock_conflict;
use super::job::to_millis;
use super::queue::SAVE_STEPS;
use super::{with_pool, Cause, Store, StoreError, WritePool};

/// How often a claim that lost a lock conflict (MySQL deadlock) is tried again.
const LOCK_RETRIES: u32 = 5;

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
     WHERE c.client_key = ? AND c.job_id <> ? \
       AND j.state = 'running' AND j.lease_until >= ?";

/// Upserts every `(key, record)` pair on the connection `$conn` with the dialect `$sql`.
macro_rules! remember_on {
    ($conn:expr, $sql:expr, $keys:expr, $records:expr) => {
        async {
            let now = to_millis(Utc::now());
            for key in $keys {
                for record in $records {
                    sqlx::query($sql.upsert_client_record)
                        .bind(key.as_str())
                        .bind(record.scope)
                        .bind(record.id)
                        .bind(now)
                        .execute(&mut *$conn)
                        .await?;
                }
            }
            Ok::<(), sqlx::Error>(())
        }
    };
}

impl Store {
    /// Takes every key for job `job_id` in one transaction, or none of them when another
    /// running job with a live lease holds any (all or nothing, so two jobs can never wait
    /// for each other). Claims of finished or expired jobs are taken over.
    ///
    /// SQLite serialises the transaction (`BEGIN IMMEDIATE`). On MySQL each key's row is made
    /// to exist and locked (`FOR UPDATE`) before its holder is looked at, so two nodes taking
    /// one client at once serialise on the key; keys go in sorted order, and the rare
    /// deadlock between two first claims of a new key is retried.
    pub async fn try_claim_clients(
        &self,
        job_id: i64,
        keys: &[ClientKey],
        now: DateTime<Utc>,
    ) -> Result<ClaimAttempt, StoreError> {
        let fail = self.err_of("claim client");
        let mut keys: Vec<&ClientKey> = keys.iter().collect();
        keys.sort();
        keys.dedup();
        let mysql = self.backend() == super::Backend::MySql;
        with_pool!(self, pool, sql => {
            let mut tries = 0;
            loop {
                let attempt: Result<ClaimAttempt, sqlx::Error> = async {
                    let mut tx = pool.begin_write().await?;
                    for key in &keys {
                        if mysql {
                            sqlx::query(
                                "INSERT IGNORE INTO client_claims (client_key, job_id, claimed_at) \
                                 VALUES (?, ?, ?)",
                            )
                            .bind(key.as_str())
                            .bind(job_id)
                            .bind(to_millis(Utc::now()))
                            .execute(&mut *tx)
                            .await?;
                            sqlx::query(
                                "SELECT job_id FROM client_claims WHERE client_key = ? FOR UPDATE",
                            )
                            .bind(key.as_str())
                            .fetch_optional(&mut *tx)
                            .await?;
                        }
                        let holder: Option<i64> = sqlx::query_scalar(HOLDER)
                            .bind(key.as_str())
                            .bind(job_id)
                            .bind(to_millis(now))
                            .fetch_optional(&mut *tx)
                            .await?;
                        if let Some(holder) = holder {
                            tx.rollback().await?;
                            return Ok(ClaimAttempt::HeldBy(holder));
                        }
                    }
                    for key in &keys {
                        sqlx::query(sql.upsert_client_claim)
                            .bind(key.as_str())
                            .bind(job_id)
                            .bind(to_millis(Utc::now()))
                            .execute(&mut *tx)
                            .await?;
                    }
                    tx.commit().await?;
                    Ok(ClaimAttempt::Taken)
                }
                .await;
                match attempt {
                    Err(e) if tries < LOCK_RETRIES && is_lock_conflict(&e) => tries += 1,
                    other => return other.map_err(&fail),
                }
            }
        })
    }

    /// Lets go of every client key job `job_id` holds.
    pub async fn release_clients(&self, job_id: i64) -> Result<(), StoreError> {
        let fail = self.err_of("release client");
        with_pool!(self, pool, _sql => {
            sqlx::query("DELETE FROM client_claims WHERE job_id = ?")
                .bind(job_id)
                .execute(pool)
                .await
                .map_err(&fail)?;
        });
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
            let rows: Vec<(String, i64, i64)> = with_pool!(self, pool, _sql => {
                sqlx::query_as(
                    "SELECT scope, record_id, updated_at FROM client_records \
                     WHERE client_key = ? AND updated_at >= ?",
                )
                .bind(key.as_str())
                .bind(to_millis(since))
                .fetch_all(pool)
                .await
                .map_err(&fail)?
            });
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
        with_pool!(self, pool, sql => {
            let mut tx = pool.begin_write().await.map_err(&fail)?;
            remember_on!(tx, sql, keys, records).await.map_err(&fail)?;
            tx.commit().await.map_err(&fail)
        })
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
        with_pool!(self, pool, sql => {
            let mut tx = pool.begin_write().await.map_err(&fail)?;
            let saved = sqlx::query(SAVE_STEPS)
                .bind(steps.to_string())
                .bind(to_millis(lease_until))
                .bind(to_millis(Utc::now()))
                .bind(job_id)
                .bind(self.node())
                .execute(&mut *tx)
                .await
                .map_err(&fail)?;
            if saved.rows_affected() == 0 {
                tx.rollback().await.map_err(&fail)?;
                return Err(self.err_of("save client records")(Cause::WrongState {
                    id: job_id,
                    expected: "running",
                }));
            }
            remember_on!(tx, sql, keys, records).await.map_err(&fail)?;
            tx.commit().await.map_err(&fail)?;
            Ok(())
        })
    }
}

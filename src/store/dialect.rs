//! The statements whose SQL differs between SQLite and MySQL/MariaDB; everything else is
//! written once, with `?` placeholders (which both understand) bound in order.
//!
//! The differences: upserts (`ON CONFLICT … DO UPDATE SET x = excluded.x` against
//! `ON DUPLICATE KEY UPDATE x = VALUES(x)`), inserts that keep an existing row
//! (`ON CONFLICT DO NOTHING` against `INSERT IGNORE`, `INSERT OR REPLACE` against
//! `REPLACE`), row locks (`FOR UPDATE`, which SQLite has no need for: its write transaction
//! locks the file), and `meta.key`, a reserved word in MySQL. The claim differs in shape, not only in text (see [`super::queue`]).

/// One backend's statements.
pub(crate) struct Sql {
    /// New pending job, existing one untouched: kind, key, now, intake, now, now, chain.
    pub insert_job: &'static str,
    /// Store the app grant, replacing any old one: the twelve columns after `id`.
    pub replace_grant: &'static str,
    /// Read the app grant inside the rotating transaction (MySQL: and lock its row).
    pub select_grant_for_rotation: &'static str,
    /// Set a meta value: key, value, now.
    pub upsert_meta: &'static str,
    /// Get a meta value: key.
    pub select_meta: &'static str,
    /// Add to a whole-number meta value (created at the delta when absent), in one atomic
    /// statement so that several nodes can count into it: key, delta as text, now.
    pub add_to_meta: &'static str,
    /// Record a candidate, keeping its first-seen time: request, dialog, now, now.
    pub upsert_candidate: &'static str,
    /// Take a client key for a job: key, job id, now.
    pub upsert_client_claim: &'static str,
    /// Remember a record under a client key: key, scope, record id, now.
    pub upsert_client_record: &'static str,
    /// Store a business-process call, an existing token untouched: token, payload, now.
    pub insert_send: &'static str,
    /// Store a bridged message, an existing one untouched: direction, external id, payload,
    /// now.
    pub insert_line_message: &'static str,
    /// Remember an offline-events reservation: process id, now.
    pub insert_offline_batch: &'static str,
    /// Register a starting node (a restart under the same name starts afresh): name,
    /// version, now, now.
    pub upsert_node: &'static str,
    /// Create a lease row held by nobody yet, existing one untouched: name, holder, since,
    /// until.
    pub insert_lease: &'static str,
}

/// SQLite.
pub(crate) const SQLITE: Sql = Sql {
    insert_job: "INSERT INTO jobs \
         (kind, job_key, state, next_attempt_at, intake, steps, created_at, updated_at, chain) \
         VALUES (?, ?, 'pending', ?, ?, '{}', ?, ?, ?) \
         ON CONFLICT (kind, job_key) DO NOTHING",
    replace_grant: "INSERT OR REPLACE INTO app_grant (id, access_token, refresh_token, \
         expires_at, member_id, user_id, user_name, scopes, authorized_at, refreshed_at, \
         revoked_at, revoked_why) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL)",
    select_grant_for_rotation: "SELECT * FROM app_grant WHERE id = 1",
    upsert_meta: "INSERT INTO meta (key, value, updated_at) VALUES (?, ?, ?) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    select_meta: "SELECT value FROM meta WHERE key = ?",
    add_to_meta: "INSERT INTO meta (key, value, updated_at) VALUES (?, ?, ?) \
         ON CONFLICT (key) DO UPDATE SET \
             value = CAST(CAST(meta.value AS INTEGER) + CAST(excluded.value AS INTEGER) AS TEXT), \
             updated_at = excluded.updated_at",
    upsert_candidate:
        "INSERT INTO candidates (request_id, dialog_id, first_seen_at, last_seen_at) \
         VALUES (?, ?, ?, ?) \
         ON CONFLICT (request_id) DO UPDATE SET \
             dialog_id = excluded.dialog_id, last_seen_at = excluded.last_seen_at",
    upsert_client_claim: "INSERT INTO client_claims (client_key, job_id, claimed_at) \
         VALUES (?, ?, ?) \
         ON CONFLICT (client_key) DO UPDATE \
         SET job_id = excluded.job_id, claimed_at = excluded.claimed_at",
    upsert_client_record: "INSERT INTO client_records (client_key, scope, record_id, updated_at) \
         VALUES (?, ?, ?, ?) \
         ON CONFLICT (client_key, scope) DO UPDATE \
         SET record_id = excluded.record_id, updated_at = excluded.updated_at",
    insert_send: "INSERT INTO sends (event_token, payload, created_at) VALUES (?, ?, ?) \
         ON CONFLICT (event_token) DO NOTHING",
    insert_line_message: "INSERT INTO line_messages (direction, external_id, payload, created_at) \
         VALUES (?, ?, ?, ?) ON CONFLICT (direction, external_id) DO NOTHING",
    insert_offline_batch: "INSERT INTO offline_batches (process_id, created_at) VALUES (?, ?) \
         ON CONFLICT (process_id) DO NOTHING",
    upsert_node: "INSERT INTO nodes (name, version, started_at, heartbeat_at) VALUES (?, ?, ?, ?) \
         ON CONFLICT (name) DO UPDATE SET version = excluded.version, \
             started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at",
    insert_lease: "INSERT INTO leases (name, holder, since, lease_until) VALUES (?, ?, ?, ?) \
         ON CONFLICT (name) DO NOTHING",
};

/// MySQL 8 and MariaDB ≥ 10.6. (`VALUES(col)` in `ON DUPLICATE KEY UPDATE` is deprecated in
/// MySQL 8.0.20 in favour of row aliases, which MariaDB does not have; it still works in
/// both.)
pub(crate) const MYSQL: Sql = Sql {
    insert_job: "INSERT IGNORE INTO jobs \
         (kind, job_key, state, next_attempt_at, intake, steps, created_at, updated_at, chain) \
         VALUES (?, ?, 'pending', ?, ?, '{}', ?, ?, ?)",
    replace_grant: "REPLACE INTO app_grant (id, access_token, refresh_token, \
         expires_at, member_id, user_id, user_name, scopes, authorized_at, refreshed_at, \
         revoked_at, revoked_why) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL)",
    select_grant_for_rotation: "SELECT * FROM app_grant WHERE id = 1 FOR UPDATE",
    upsert_meta: "INSERT INTO meta (`key`, value, updated_at) VALUES (?, ?, ?) \
         ON DUPLICATE KEY UPDATE value = VALUES(value), updated_at = VALUES(updated_at)",
    select_meta: "SELECT value FROM meta WHERE `key` = ?",
    add_to_meta: "INSERT INTO meta (`key`, value, updated_at) VALUES (?, ?, ?) \
         ON DUPLICATE KEY UPDATE \
             value = CAST(CAST(value AS SIGNED) + CAST(VALUES(value) AS SIGNED) AS CHAR), \
             updated_at = VALUES(updated_at)",
    upsert_candidate:
        "INSERT INTO candidates (request_id, dialog_id, first_seen_at, last_seen_at) \
         VALUES (?, ?, ?, ?) \
         ON DUPLICATE KEY UPDATE dialog_id = VALUES(dialog_id), last_seen_at = VALUES(last_seen_at)",
    upsert_client_claim: "INSERT INTO client_claims (client_key, job_id, claimed_at) \
         VALUES (?, ?, ?) \
         ON DUPLICATE KEY UPDATE job_id = VALUES(job_id), claimed_at = VALUES(claimed_at)",
    upsert_client_record: "INSERT INTO client_records (client_key, scope, record_id, updated_at) \
         VALUES (?, ?, ?, ?) \
         ON DUPLICATE KEY UPDATE record_id = VALUES(record_id), updated_at = VALUES(updated_at)",
    insert_send: "INSERT IGNORE INTO sends (event_token, payload, created_at) VALUES (?, ?, ?)",
    insert_line_message: "INSERT IGNORE INTO line_messages \
         (direction, external_id, payload, created_at) VALUES (?, ?, ?, ?)",
    insert_offline_batch: "INSERT IGNORE INTO offline_batches (process_id, created_at) \
         VALUES (?, ?)",
    upsert_node: "INSERT INTO nodes (name, version, started_at, heartbeat_at) VALUES (?, ?, ?, ?) \
         ON DUPLICATE KEY UPDATE version = VALUES(version), started_at = VALUES(started_at), \
             heartbeat_at = VALUES(heartbeat_at)",
    insert_lease: "INSERT IGNORE INTO leases (name, holder, since, lease_until) \
         VALUES (?, ?, ?, ?)",
};

-- Several daemons (nodes) on one database: who holds a running job, which nodes are alive,
-- and the leader lease of the singleton duties (the poller). On SQLite there is normally
-- one node; the same rows make `status` show it.

-- The node whose worker holds a running job's lease (NULL for rows from before this
-- migration, and once the job is no longer running).
ALTER TABLE jobs ADD COLUMN node TEXT;

-- One row per node that ever started on this database: its heartbeat shows it alive.
CREATE TABLE nodes (
    name         TEXT    PRIMARY KEY NOT NULL,
    version      TEXT    NOT NULL,
    started_at   INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL
);

-- Named leases: at most one holder each, in force until `lease_until` unless renewed.
-- 'leader' is the lease of the singleton duties.
CREATE TABLE leases (
    name        TEXT    PRIMARY KEY NOT NULL,
    holder      TEXT    NOT NULL,
    since       INTEGER NOT NULL,
    lease_until INTEGER NOT NULL
);

-- The Open Lines bridge: the message behind each line job, the event.offline.get
-- reservations the daemon works on, and the operators' files re-hosted for Chat2Desk.

-- One row per bridged message; its id is the job_key of the ('line_in' | 'line_out', id)
-- job inserted in the same transaction. `external_id` is the Chat2Desk message id (in) or
-- the portal's IM message id (out): the same message delivered twice is one row.
CREATE TABLE line_messages (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    direction   TEXT    NOT NULL,
    external_id TEXT    NOT NULL,
    payload     TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE (direction, external_id)
);

-- A process_id of event.offline.get (clear=0), stored before its events are worked on:
-- reserved rows are invisible without it. Closed once every event of it is cleared.
CREATE TABLE offline_batches (
    process_id TEXT    PRIMARY KEY NOT NULL,
    created_at INTEGER NOT NULL,
    closed_at  INTEGER
);

-- An operator's file, served to Chat2Desk at <public_url>/files/<token> until expires_at.
CREATE TABLE hosted_files (
    token      TEXT    PRIMARY KEY NOT NULL,
    url        TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX hosted_files_expiry ON hosted_files (expires_at);

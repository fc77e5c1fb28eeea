-- The durable queue and the poller's bookkeeping.
-- Times are integer unix milliseconds (UTC) everywhere.

-- One row per unit of work; identity is (kind, job_key), e.g. ('transcript', <request id>).
CREATE TABLE jobs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT    NOT NULL,
    job_key         INTEGER NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'running', 'done', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    runs            INTEGER NOT NULL DEFAULT 0 CHECK (runs >= 0),
    next_attempt_at INTEGER NOT NULL,
    lease_until     INTEGER,
    last_error      TEXT,
    steps           TEXT    NOT NULL DEFAULT '{}',
    intake          TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    UNIQUE (kind, job_key)
);

-- claim: due pending jobs, and running jobs whose lease ran out.
CREATE INDEX jobs_state_next_attempt ON jobs (state, next_attempt_at);
CREATE INDEX jobs_state_lease ON jobs (state, lease_until);
-- status: recent errors and dead jobs, newest first.
CREATE INDEX jobs_state_updated ON jobs (state, updated_at);

-- Small key/value settings: poll cursor, watermark, last poll time, caches.
CREATE TABLE meta (
    key        TEXT    PRIMARY KEY NOT NULL,
    value      TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Requests seen in messages but not yet known to be closed.
CREATE TABLE candidates (
    request_id    INTEGER PRIMARY KEY NOT NULL,
    dialog_id     INTEGER NOT NULL,
    first_seen_at INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL
);

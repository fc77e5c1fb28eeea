-- Sends from business processes: the call the portal's activity made, keyed by its
-- event_token (the same token posted twice is one send), and the daily "write first" budget.

-- One row per bizproc call; its id is the job_key of the ('send', id) job inserted in the
-- same transaction.
CREATE TABLE sends (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    event_token TEXT    NOT NULL UNIQUE,
    payload     TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);

-- New Chat2Desk clients written to first, one row per send that used the budget; `day` is
-- the local date (YYYY-MM-DD) it counts against.
CREATE TABLE write_first (
    send_id    INTEGER PRIMARY KEY NOT NULL REFERENCES sends (id),
    day        TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX write_first_day ON write_first (day);

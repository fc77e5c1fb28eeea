-- Escalation: one row per waiting stretch of a client (from its first unanswered message to
-- an operator's answer); its `escalation` job has the row's id as its key.
CREATE TABLE waits (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id   INTEGER NOT NULL,
    -- 1, 2, … per client; two nodes opening the same stretch collide here.
    stretch     INTEGER NOT NULL,
    started_at  INTEGER NOT NULL,
    message_id  INTEGER NOT NULL,
    channel_id  INTEGER,
    dialog_id   INTEGER,
    request_id  INTEGER,
    client_name TEXT,
    answered_at INTEGER,
    notified_at INTEGER,
    UNIQUE (client_id, stretch)
);
-- Waiting now and escalated today.
CREATE INDEX waits_answered ON waits (answered_at, started_at);
CREATE INDEX waits_notified ON waits (notified_at);

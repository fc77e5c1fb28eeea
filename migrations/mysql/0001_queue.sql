-- The durable queue and the poller's bookkeeping (MySQL 8 / MariaDB >= 10.6 twin of
-- migrations/sqlite/0001_queue.sql). Times are BIGINT unix milliseconds (UTC) everywhere.
-- utf8mb4; the key columns we look rows up by compare byte for byte (utf8mb4_bin), as in
-- SQLite. (Text we read back keeps the general collation: sqlx reads a _bin column as binary.)

CREATE TABLE jobs (
    id              BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    kind            VARCHAR(32)  NOT NULL,
    job_key         BIGINT       NOT NULL,
    state           VARCHAR(16)  NOT NULL CHECK (state IN ('pending', 'running', 'done', 'dead')),
    attempts        BIGINT       NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    runs            BIGINT       NOT NULL DEFAULT 0 CHECK (runs >= 0),
    next_attempt_at BIGINT       NOT NULL,
    lease_until     BIGINT       NULL,
    last_error      MEDIUMTEXT   NULL,
    steps           MEDIUMTEXT   NOT NULL,
    intake          VARCHAR(16)  NOT NULL,
    created_at      BIGINT       NOT NULL,
    updated_at      BIGINT       NOT NULL,
    UNIQUE KEY jobs_kind_key (kind, job_key),
    KEY jobs_state_next_attempt (state, next_attempt_at),
    KEY jobs_state_lease (state, lease_until),
    KEY jobs_state_updated (state, updated_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_general_ci;

CREATE TABLE meta (
    `key`      VARCHAR(191) COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
    value      MEDIUMTEXT   NOT NULL,
    updated_at BIGINT       NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_general_ci;

CREATE TABLE candidates (
    request_id    BIGINT NOT NULL PRIMARY KEY,
    dialog_id     BIGINT NOT NULL,
    first_seen_at BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_general_ci;

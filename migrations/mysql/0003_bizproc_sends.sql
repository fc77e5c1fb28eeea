-- Sends from business processes (twin of migrations/sqlite/0003_bizproc_sends.sql): the
-- call the portal's activity made, keyed by its event_token, and the daily "write first"
-- budget. (No foreign key from write_first to sends: `store migrate` copies table by table.)
CREATE TABLE sends (
    id          BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    event_token VARCHAR(191) COLLATE utf8mb4_bin NOT NULL,
    payload     MEDIUMTEXT   NOT NULL,
    created_at  BIGINT       NOT NULL,
    UNIQUE KEY sends_event_token (event_token)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_general_ci;

CREATE TABLE write_first (
    send_id    BIGINT      NOT NULL PRIMARY KEY,
    day        VARCHAR(16) NOT NULL,
    created_at BIGINT      NOT NULL,
    KEY write_first_day (day)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_general_ci;

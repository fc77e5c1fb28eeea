-- The Open Lines bridge (twin of migrations/sqlite/0007_openlines.sql): the message behind
-- each line job, the event.offline.get reservations, the re-hosted operators' files.
CREATE TABLE line_messages (
    id          BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    direction   VARCHAR(8)   NOT NULL,
    external_id VARCHAR(191) COLLATE utf8mb4_bin NOT NULL,
    payload     MEDIUMTEXT   NOT NULL,
    created_at  BIGINT       NOT NULL,
    UNIQUE KEY line_messages_external (direction, external_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_general_ci;

CREATE TABLE offline_batches (
    process_id VARCHAR(64) COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
    created_at BIGINT      NOT NULL,
    closed_at  BIGINT      NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_general_ci;

CREATE TABLE hosted_files (
    token      VARCHAR(64)  COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
    url        MEDIUMTEXT   NOT NULL,
    name       VARCHAR(255) NOT NULL,
    expires_at BIGINT       NOT NULL,
    KEY hosted_files_expiry (expires_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_general_ci;

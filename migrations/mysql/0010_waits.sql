-- Escalation's waiting stretches (twin of migrations/sqlite/0010_waits.sql).
CREATE TABLE waits (
    id          BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    client_id   BIGINT       NOT NULL,
    stretch     BIGINT       NOT NULL,
    started_at  BIGINT       NOT NULL,
    message_id  BIGINT       NOT NULL,
    channel_id  BIGINT       NULL,
    dialog_id   BIGINT       NULL,
    request_id  BIGINT       NULL,
    client_name VARCHAR(255) NULL,
    answered_at BIGINT       NULL,
    notified_at BIGINT       NULL,
    UNIQUE KEY waits_client_stretch (client_id, stretch),
    KEY waits_answered (answered_at, started_at),
    KEY waits_notified (notified_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_general_ci;

-- Nodes, job holders and the leader lease (twin of migrations/sqlite/0004_nodes.sql).
ALTER TABLE jobs ADD COLUMN node VARCHAR(64) NULL;

CREATE TABLE nodes (
    name         VARCHAR(64) NOT NULL PRIMARY KEY,
    version      VARCHAR(64) NOT NULL,
    started_at   BIGINT      NOT NULL,
    heartbeat_at BIGINT      NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_general_ci;

CREATE TABLE leases (
    name        VARCHAR(64) NOT NULL PRIMARY KEY,
    holder      VARCHAR(64) NOT NULL,
    since       BIGINT      NOT NULL,
    lease_until BIGINT      NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_general_ci;

-- The local application's OAuth grant (twin of migrations/sqlite/0004_app_grant.sql): one
-- row, rotated single flight (the row is locked while a node refreshes it).
CREATE TABLE app_grant (
    id            BIGINT      NOT NULL PRIMARY KEY CHECK (id = 1),
    access_token  MEDIUMTEXT  NOT NULL,
    refresh_token MEDIUMTEXT  NOT NULL,
    expires_at    BIGINT      NOT NULL,
    member_id     VARCHAR(191) NOT NULL,
    user_id       BIGINT      NOT NULL,
    user_name     MEDIUMTEXT  NOT NULL,
    scopes        MEDIUMTEXT  NOT NULL,
    authorized_at BIGINT      NOT NULL,
    refreshed_at  BIGINT      NULL,
    revoked_at    BIGINT      NULL,
    revoked_why   MEDIUMTEXT  NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_general_ci;

CREATE TABLE oauth_states (
    state      VARCHAR(191) COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
    created_at BIGINT       NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_general_ci;

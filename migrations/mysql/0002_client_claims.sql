-- Single flight per client (twin of migrations/sqlite/0002_client_claims.sql): a claim is
-- in force only while its job is running with a live lease.
CREATE TABLE client_claims (
    client_key VARCHAR(191) COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
    job_id     BIGINT       NOT NULL,
    claimed_at BIGINT       NOT NULL,
    KEY client_claims_job (job_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_general_ci;

CREATE TABLE client_records (
    client_key VARCHAR(191) COLLATE utf8mb4_bin NOT NULL,
    scope      VARCHAR(191) NOT NULL,
    record_id  BIGINT       NOT NULL,
    updated_at BIGINT       NOT NULL,
    PRIMARY KEY (client_key, scope)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_general_ci;

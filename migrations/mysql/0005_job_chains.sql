-- Jobs of one chain run one at a time, in order (twin of migrations/sqlite/0005_job_chains.sql).
ALTER TABLE jobs ADD COLUMN chain VARCHAR(191) COLLATE utf8mb4_bin NULL;
CREATE INDEX jobs_chain ON jobs (chain, id);

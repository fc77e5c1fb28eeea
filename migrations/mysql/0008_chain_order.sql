-- The order of a chain's jobs (twin of migrations/sqlite/0008_chain_order.sql): by
-- chain_seq (unix ms the message was written), then by id.
ALTER TABLE jobs ADD COLUMN chain_seq BIGINT NOT NULL DEFAULT 0;

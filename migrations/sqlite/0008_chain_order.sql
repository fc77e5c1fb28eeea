-- The order of a chain's jobs: by chain_seq (for Open Lines messages the time the message was
-- written, in unix ms, so deliveries that arrive out of order still run in the order they
-- were written), then by id. 0 for jobs queued before this column existed.
ALTER TABLE jobs ADD COLUMN chain_seq INTEGER NOT NULL DEFAULT 0;

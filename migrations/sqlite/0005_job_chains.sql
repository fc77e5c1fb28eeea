-- Jobs of one chain (e.g. the messages of one Open Lines chat) run one at a time, in the
-- order they were queued: a job is claimable only when no earlier job of its chain is still
-- pending or running. NULL = no chain (transcripts).
ALTER TABLE jobs ADD COLUMN chain TEXT;
CREATE INDEX jobs_chain ON jobs (chain, id);

-- The poller backs off while webhooks bring the closed requests: it asks when the newest
-- job from a webhook was enqueued, which this index answers without a scan.
CREATE INDEX jobs_intake_created ON jobs (intake, created_at);

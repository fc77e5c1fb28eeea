-- Single flight per client (one client, one entity): at most one job at a time resolves or
-- creates what belongs to a client. A client is known by one or more keys ("phone:+7916…",
-- "c2d:17340001"); a job claims all of its keys at once.
--
-- A claim is in force only while its job is running with a lease that has not run out, so a
-- process killed mid-job leaves nothing that blocks the client once the job's lease ends (or
-- at once, when the next start hands its running jobs back).
CREATE TABLE client_claims (
    client_key TEXT    PRIMARY KEY NOT NULL,
    job_id     INTEGER NOT NULL,
    claimed_at INTEGER NOT NULL
);
CREATE INDEX client_claims_job ON client_claims (job_id);

-- What a job found or created for a client, per key and scope ("crm.lead", "crm.contact",
-- "chat2desk.client"): the next job of that client uses it before asking the service, whose
-- search may not see a record created a moment ago (a busy portal's duplicate index lags).
CREATE TABLE client_records (
    client_key TEXT    NOT NULL,
    scope      TEXT    NOT NULL,
    record_id  INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (client_key, scope)
);

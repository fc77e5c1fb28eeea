//! The worker loop: bounded concurrency over due jobs, retries with capped backoff, dead jobs
//! with a reason.

use super::{single_flight, JobError, KeyField, Registry};
use crate::chat2desk::{Chat2Desk, Directory};
use crate::http::Backoff;
use crate::metrics::Stats;
use crate::portal::{AppClient, Bitrix24};
use crate::store::{Job, Store};
use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// The remote services and the queue every job uses.
#[derive(Debug)]
pub struct Services {
    /// The queue.
    pub store: Store,
    /// Chat2Desk API client.
    pub chat2desk: Chat2Desk,
    /// Portal client.
    pub portal: Bitrix24,
    /// Cached operators and chat link base.
    pub directory: Directory,
    /// Counters.
    pub stats: Stats,
    /// The local application's client (`[bitrix24.app]`), for the Open Lines bridge.
    pub app: Option<AppClient>,
}

/// Worker limits.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Jobs in flight at once.
    pub workers: usize,
    /// Attempts before a transiently failing job goes to dead.
    pub max_attempts: u32,
    /// Retry delays.
    pub backoff: Backoff,
    /// Lease of a running job.
    pub lease: Duration,
    /// How long shutdown waits for jobs in flight.
    pub drain_timeout: Duration,
}

/// The worker: owns nothing but handles, so tests and `demo` can run several rounds.
#[derive(Debug, Clone)]
pub struct Worker {
    services: Arc<Services>,
    jobs: Arc<Registry>,
    settings: WorkerSettings,
    wake: Arc<Notify>,
}

/// How often an idle worker looks at the queue even without a wake-up.
pub const IDLE_POLL: Duration = Duration::from_secs(1);

impl Worker {
    /// A worker running the kinds of `jobs` over `services`.
    pub fn new(
        services: Arc<Services>,
        jobs: Arc<Registry>,
        settings: WorkerSettings,
        wake: Arc<Notify>,
    ) -> Self {
        Self {
            services,
            jobs,
            settings,
            wake,
        }
    }

    /// The shared services.
    pub fn services(&self) -> &Arc<Services> {
        &self.services
    }

    /// Runs until `shutdown`; then stops claiming and waits for jobs in flight up to the drain
    /// timeout (unfinished ones keep their lease and run again after a restart).
    pub async fn run(self, shutdown: CancellationToken) {
        let mut inflight: JoinSet<()> = JoinSet::new();
        loop {
            self.services.stats.tick();
            let free = self.settings.workers.saturating_sub(inflight.len());
            let mut claimed = 0;
            if free > 0 && !shutdown.is_cancelled() {
                match self
                    .services
                    .store
                    .claim(Utc::now(), self.settings.lease, free)
                    .await
                {
                    Ok(jobs) => {
                        claimed = jobs.len();
                        for job in jobs {
                            let worker = self.clone();
                            inflight.spawn(async move { worker.process(job).await });
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "Cannot claim jobs from the state database");
                    }
                }
            }
            if claimed > 0 && inflight.len() < self.settings.workers {
                continue;
            }
            let sleep = self.idle_wait(inflight.is_empty()).await;
            tokio::select! {
                _ = shutdown.cancelled() => break,
                Some(_) = inflight.join_next(), if !inflight.is_empty() => {}
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(sleep) => {}
            }
        }
        self.drain(inflight).await;
    }

    /// Processes every job that is due now, then returns (for `demo`, `backfill --wait`, tests).
    pub async fn run_until_idle(&self) {
        let mut inflight: JoinSet<()> = JoinSet::new();
        loop {
            let free = self.settings.workers.saturating_sub(inflight.len());
            if free > 0 {
                if let Ok(jobs) = self
                    .services
                    .store
                    .claim(Utc::now(), self.settings.lease, free)
                    .await
                {
                    for job in jobs {
                        let worker = self.clone();
                        inflight.spawn(async move { worker.process(job).await });
                    }
                }
            }
            if inflight.join_next().await.is_none() {
                return;
            }
        }
    }

    /// Runs one claimed job now, in this task (for `chat2desk-b24 send`).
    pub async fn run_job(&self, job: Job) {
        self.process(job).await;
    }

    async fn idle_wait(&self, idle: bool) -> Duration {
        if !idle {
            return IDLE_POLL;
        }
        match self.services.store.next_due().await {
            Ok(Some(due)) => (due - Utc::now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .clamp(Duration::from_millis(10), IDLE_POLL),
            _ => IDLE_POLL,
        }
    }

    async fn drain(&self, mut inflight: JoinSet<()>) {
        if inflight.is_empty() {
            return;
        }
        tracing::info!(
            jobs = inflight.len(),
            "Waiting for jobs in flight to finish"
        );
        let deadline = tokio::time::sleep(self.settings.drain_timeout);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                next = inflight.join_next() => if next.is_none() { return },
                _ = &mut deadline => {
                    tracing::warn!(jobs = inflight.len(), "Drain timeout: unfinished jobs run again after restart");
                    inflight.abort_all();
                    return;
                }
            }
        }
    }

    async fn process(&self, job: Job) {
        let lease = self.settings.lease;
        let services = &self.services;
        let work = self.jobs.run(services, &job, lease);
        let result = tokio::select! {
            result = work => result,
            () = self.keep_lease(job.id) => {
                // Like a crash at this point: the new holder re-checks before it writes, so
                // nothing is written twice.
                tracing::warn!(kind = %job.kind, key = job.key, job_id = job.id, "Lost the job's lease (another node took it over): stopped working on it");
                return;
            }
        };
        let store = &services.store;
        let stats = &services.stats;
        let what = self.jobs.noun(&job.kind);
        // The key in the field the kind's other lines use.
        let field = self.jobs.key_field(&job.kind);
        let request_id = (field == Some(KeyField::RequestId)).then_some(job.key);
        let send_id = (field == Some(KeyField::SendId)).then_some(job.key);
        let line_message = (field == Some(KeyField::LineMessage)).then_some(job.key);
        let wait_id = (field == Some(KeyField::WaitId)).then_some(job.key);
        let outcome = match result {
            Ok(steps) => {
                stats.record_synced();
                store.complete(job.id, &steps).await
            }
            Err(JobError::Permanent(reason)) => {
                tracing::error!(request_id, send_id, line_message, wait_id, attempt = job.attempts + 1, reason = %reason, "{what} moved to dead: permanent error");
                stats.record_dead();
                store.bury(job.id, &reason).await
            }
            Err(JobError::Busy(reason)) => {
                tracing::info!(request_id, send_id, line_message, wait_id, reason = %reason, "{what} deferred: its client is busy");
                store
                    .defer(job.id, &reason, Utc::now() + single_flight::DEFER)
                    .await
            }
            Err(JobError::Transient(reason)) => {
                let attempt = job.attempts + 1;
                if attempt >= self.settings.max_attempts {
                    tracing::error!(request_id, send_id, line_message, wait_id, attempt, reason = %reason, "{what} moved to dead: out of attempts");
                    stats.record_dead();
                    store
                        .bury(
                            job.id,
                            &format!("gave up after {attempt} attempts: {reason}"),
                        )
                        .await
                } else {
                    let delay = self.settings.backoff.delay(job.attempts);
                    tracing::warn!(request_id, send_id, line_message, wait_id, attempt, retry_in_secs = delay.as_secs(), reason = %reason, "{what} failed, will retry");
                    stats.record_retry();
                    let next = Utc::now()
                        + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::zero());
                    store.fail(job.id, &reason, next).await
                }
            }
        };
        if let Err(e) = outcome {
            // The lease expires and the job runs again; its saved steps keep it exactly-once.
            tracing::error!(request_id, send_id, line_message, wait_id, error = %e, "Cannot record the job's outcome in the state database");
        }
    }
}

impl Worker {
    /// Renews the lease of running job `id` every third of the lease while its work goes
    /// on; returns only when the job is no longer this node's.
    async fn keep_lease(&self, id: i64) {
        let lease = self.settings.lease;
        loop {
            tokio::time::sleep(lease / 3).await;
            let until = Utc::now() + chrono::Duration::from_std(lease).unwrap_or_default();
            match self.services.store.extend_lease(id, until).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => {
                    tracing::warn!(job_id = id, error = %e, "Cannot renew a job's lease; trying again")
                }
            }
        }
    }
}

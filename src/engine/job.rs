//! One kind of job, and the registry of the kinds a daemon runs: a flow's job is a type that
//! implements [`Job`] (its kind, its typed steps, its run); the app registers it with one
//! line. The worker and `status` ask the registry, never a list of kinds.

use super::{JobError, Services};
use crate::store::{Job as QueuedJob, JobKind};
use futures_util::future::BoxFuture;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// A job's typed steps, its checkpoint: read back at the start of every run (absent or
/// unreadable: from scratch, which is safe because every step looks before it writes) and
/// saved after every remote write with [`super::checkpoint`].
pub trait Steps: Serialize + DeserializeOwned + Default + Send {
    /// The steps saved in `job`.
    fn of(job: &QueuedJob) -> Self {
        serde_json::from_value(job.steps.clone()).unwrap_or_default()
    }

    /// The steps as stored.
    fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("steps serialise")
    }
}

/// The log field a kind's lines carry its key in (the field its other lines use).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyField {
    /// `request_id`: a Chat2Desk request.
    RequestId,
    /// `send_id`: a `sends` row.
    SendId,
    /// `line_message`: a `line_messages` row.
    LineMessage,
    /// `wait_id`: a `waits` row (a client's waiting stretch).
    WaitId,
}

/// One kind of job.
pub trait Job: Send + Sync + std::fmt::Debug + 'static {
    /// The steps it saves.
    type Steps: Steps;

    /// The kind, as stored in the queue.
    fn kind(&self) -> JobKind;

    /// How the worker's log lines name one job of the kind ("Request", "Send"…).
    fn noun(&self) -> &'static str;

    /// How `status` names the kind ("request", "send"…).
    fn words(&self) -> &'static str;

    /// The log field of its key.
    fn key_field(&self) -> KeyField;

    /// Runs `job` to its end; returns its final steps.
    fn run<'a>(
        &'a self,
        services: &'a Services,
        job: &'a QueuedJob,
        lease: Duration,
    ) -> BoxFuture<'a, Result<Self::Steps, JobError>>;
}

/// A [`Job`] with its steps as stored.
trait Stored: Send + Sync + std::fmt::Debug {
    fn noun(&self) -> &'static str;
    fn words(&self) -> &'static str;
    fn key_field(&self) -> KeyField;
    fn run<'a>(
        &'a self,
        services: &'a Services,
        job: &'a QueuedJob,
        lease: Duration,
    ) -> BoxFuture<'a, Result<Value, JobError>>;
}

impl<J: Job> Stored for J {
    fn noun(&self) -> &'static str {
        Job::noun(self)
    }

    fn words(&self) -> &'static str {
        Job::words(self)
    }

    fn key_field(&self) -> KeyField {
        Job::key_field(self)
    }

    fn run<'a>(
        &'a self,
        services: &'a Services,
        job: &'a QueuedJob,
        lease: Duration,
    ) -> BoxFuture<'a, Result<Value, JobError>> {
        let run = Job::run(self, services, job, lease);
        Box::pin(async move { run.await.map(|steps| steps.to_value()) })
    }
}

/// The kinds a daemon runs, by their stored text.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    kinds: HashMap<String, Arc<dyn Stored>>,
}

impl Registry {
    /// No kinds.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `job`'s kind (a kind registered twice keeps the last).
    pub fn register(mut self, job: impl Job) -> Self {
        self.kinds
            .insert(job.kind().as_str().to_string(), Arc::new(job));
        self
    }

    fn get(&self, kind: &JobKind) -> Option<&dyn Stored> {
        self.kinds.get(kind.as_str()).map(|k| k.as_ref())
    }

    /// How the worker's log lines name a job of `kind` ("Job" for a kind not registered).
    pub fn noun(&self, kind: &JobKind) -> &'static str {
        self.get(kind).map_or("Job", |k| k.noun())
    }

    /// How `status` names `kind`, when registered.
    pub fn words(&self, kind: &str) -> Option<&'static str> {
        self.kinds.get(kind).map(|k| k.words())
    }

    /// The log field of `kind`'s key.
    pub fn key_field(&self, kind: &JobKind) -> Option<KeyField> {
        self.get(kind).map(|k| k.key_field())
    }

    /// Runs `job` as its kind does; a kind this version does not know is a permanent error.
    pub async fn run(
        &self,
        services: &Services,
        job: &QueuedJob,
        lease: Duration,
    ) -> Result<Value, JobError> {
        match self.get(&job.kind) {
            Some(kind) => kind.run(services, job, lease).await,
            None => Err(JobError::Permanent(format!(
                "job kind `{}` is not known to this version of chat2desk-b24 (a newer node \
                 queued it?): run the same version on every node",
                job.kind
            ))),
        }
    }
}

//! A new job kind is one type (its kind, its steps, its run) and one registration: here a
//! small `ping` kind, written in this file, runs through the real worker and queue; a kind no
//! registry knows is buried with a reason instead of being retried.

mod common;

use chat2desk_b24::engine::{
    self, JobError, KeyField, Live, Registry, Services, Steps, Worker, WorkerSettings,
};
use chat2desk_b24::http::Backoff;
use chat2desk_b24::store::{Intake, Job, JobKind, JobState};
use common::Env;
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

const PING: JobKind = JobKind::new("ping");

/// The ping's steps: how many runs it took.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Pinged {
    runs: u32,
    greeting: String,
}

impl Steps for Pinged {}

/// A kind that greets with its live text.
#[derive(Debug)]
struct Ping {
    greeting: Live<String>,
}

impl engine::Job for Ping {
    type Steps = Pinged;

    fn kind(&self) -> JobKind {
        PING
    }

    fn noun(&self) -> &'static str {
        "Ping"
    }

    fn words(&self) -> &'static str {
        "ping"
    }

    fn key_field(&self) -> KeyField {
        KeyField::RequestId
    }

    fn run<'a>(
        &'a self,
        _: &'a Services,
        job: &'a Job,
        _: Duration,
    ) -> BoxFuture<'a, Result<Pinged, JobError>> {
        Box::pin(async move {
            let mut steps = Pinged::of(job);
            steps.runs += 1;
            steps.greeting = self.greeting.now().to_string();
            Ok(steps)
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_kind_runs_and_an_unknown_one_is_buried() {
    let env = Env::new().await;
    let daemon = env
        .daemon(env.config(chat2desk_b24::config::Integration::Lead))
        .await;
    let services = daemon.services().clone();
    let registry = Registry::new().register(Ping {
        greeting: Live::fixed("привет".to_string()),
    });
    assert_eq!(registry.words("ping"), Some("ping"));
    assert_eq!(registry.words("pong"), None);
    let settings = WorkerSettings {
        workers: 2,
        max_attempts: 3,
        backoff: Backoff::new(Duration::from_millis(10), Duration::from_millis(20)),
        lease: Duration::from_secs(30),
        drain_timeout: Duration::from_secs(5),
    };
    let worker = Worker::new(
        services.clone(),
        Arc::new(registry),
        settings,
        daemon.wake.clone(),
    );
    let store = &services.store;
    assert!(store.enqueue(PING, 7, Intake::Manual).await.unwrap());
    assert!(store
        .enqueue(JobKind::new("pong"), 8, Intake::Manual)
        .await
        .unwrap());
    worker.run_until_idle().await;

    let ping = store.job(PING, 7).await.unwrap().expect("the ping job");
    assert_eq!(ping.state, JobState::Done);
    let steps = Pinged::of(&ping);
    assert_eq!((steps.runs, steps.greeting.as_str()), (1, "привет"));
    let pong = store
        .job(JobKind::new("pong"), 8)
        .await
        .unwrap()
        .expect("the pong job");
    assert_eq!(pong.state, JobState::Dead, "an unknown kind is not retried");
    let reason = pong.last_error.unwrap_or_default();
    assert!(reason.contains("job kind `pong` is not known"), "{reason}");
}

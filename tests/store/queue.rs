//! The queue on one node: idempotent intake, claims and leases, transitions, checkpoints,
//! what survives a crash, and the status queries.

use std::collections::HashSet;

use super::backend::Fixture;
use chat2desk_b24::store::{Cause, Intake, JobKind, JobState, QueueCounts};
use chrono::Utc;
use serde_json::json;

use super::{later, now, LEASE};

pub(crate) async fn enqueue_is_idempotent_and_leaves_existing_jobs_alone(db: Fixture) {
    let store = db.store.clone();
    assert!(store
        .enqueue(JobKind::TRANSCRIPT, 42, Intake::Webhook)
        .await
        .unwrap());
    assert!(!store
        .enqueue(JobKind::TRANSCRIPT, 42, Intake::Poll)
        .await
        .unwrap());

    let claimed = store.claim(Utc::now(), LEASE, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    // A repeated webhook while the job runs changes nothing.
    assert!(!store
        .enqueue(JobKind::TRANSCRIPT, 42, Intake::Webhook)
        .await
        .unwrap());

    let job = store.job(JobKind::TRANSCRIPT, 42).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Running);
    assert_eq!(job.intake, Intake::Webhook);
    assert_eq!(job.key, 42);
    assert_eq!(job.runs, 1);
    assert_eq!(job.attempts, 0);
    assert_eq!(job.steps, json!({}));
    assert!(store.job(JobKind::TRANSCRIPT, 43).await.unwrap().is_none());
}

pub(crate) async fn enqueue_many_counts_new_rows_and_is_all_or_nothing(db: Fixture) {
    let store = db.store.clone();
    store
        .enqueue(JobKind::TRANSCRIPT, 2, Intake::Webhook)
        .await
        .unwrap();
    let inserted = store
        .enqueue_many(JobKind::TRANSCRIPT, &[1, 2, 3, 3], Intake::Backfill)
        .await
        .unwrap();
    assert_eq!(inserted, 2);
    assert_eq!(store.counts().await.unwrap().pending, 3);

    db.reject_insert("reject_13", "jobs", "NEW.job_key = 13")
        .await;
    let err = store
        .enqueue_many(JobKind::TRANSCRIPT, &[11, 12, 13], Intake::Backfill)
        .await
        .unwrap_err();
    assert_eq!(err.operation(), "enqueue_many");
    assert!(store.job(JobKind::TRANSCRIPT, 11).await.unwrap().is_none());
    assert!(store.job(JobKind::TRANSCRIPT, 12).await.unwrap().is_none());
    assert_eq!(store.counts().await.unwrap().pending, 3);
}

pub(crate) async fn claim_waits_for_next_attempt_and_takes_over_expired_leases(db: Fixture) {
    let store = db.store.clone();
    store
        .enqueue(JobKind::TRANSCRIPT, 7, Intake::Poll)
        .await
        .unwrap();
    let t0 = now();
    let job = store.claim(t0, LEASE, 5).await.unwrap().remove(0);
    assert_eq!(job.lease_until, Some(t0 + chrono::Duration::seconds(30)));

    // Backing off: not due until its next attempt.
    store
        .fail(job.id, "timeout", t0 + chrono::Duration::seconds(60))
        .await
        .unwrap();
    assert!(store
        .claim(t0 + chrono::Duration::seconds(59), LEASE, 5)
        .await
        .unwrap()
        .is_empty());
    let job = store
        .claim(t0 + chrono::Duration::seconds(60), LEASE, 5)
        .await
        .unwrap()
        .remove(0);
    assert_eq!((job.attempts, job.runs), (1, 2));
    assert_eq!(job.last_error.as_deref(), Some("timeout"));

    // Its worker "crashes": nobody else gets it while the lease holds, then someone does.
    let lease_end = job.lease_until.unwrap();
    assert!(store.claim(lease_end, LEASE, 5).await.unwrap().is_empty());
    let again = store
        .claim(lease_end + chrono::Duration::milliseconds(1), LEASE, 5)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, job.id);
    assert_eq!(again[0].runs, 3);
    assert_eq!(again[0].attempts, 1, "a lost lease is not a failed attempt");
}

pub(crate) async fn claim_takes_earliest_due_first_up_to_the_limit(db: Fixture) {
    let store = db.store.clone();
    store
        .enqueue_many(JobKind::TRANSCRIPT, &[1, 2, 3], Intake::Poll)
        .await
        .unwrap();
    let all = store.claim(Utc::now(), LEASE, 3).await.unwrap();
    // 1 retries soon, 2 later, 3 soonest.
    let by_key = |k: i64| all.iter().find(|j| j.key == k).unwrap().id;
    store.fail(by_key(1), "e", later(20)).await.unwrap();
    store.fail(by_key(2), "e", later(30)).await.unwrap();
    store.fail(by_key(3), "e", later(10)).await.unwrap();
    let first = store.claim(later(60), LEASE, 2).await.unwrap();
    let keys: Vec<i64> = first.iter().map(|j| j.key).collect();
    assert_eq!(keys, vec![3, 1]);
    assert_eq!(store.claim(later(60), LEASE, 2).await.unwrap()[0].key, 2);
}

pub(crate) async fn concurrent_claimers_never_share_a_job(db: Fixture) {
    let store = db.store.clone();
    let keys: Vec<i64> = (1..=200).collect();
    assert_eq!(
        store
            .enqueue_many(JobKind::TRANSCRIPT, &keys, Intake::Backfill)
            .await
            .unwrap(),
        200
    );
    // Four tasks on this pool plus two on a second node's pool.
    let other = db.reopen_as("second-node").await;
    let mut tasks = Vec::new();
    for store in [&store, &store, &store, &store, &other, &other] {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let jobs = store.claim(Utc::now(), LEASE, 7).await.unwrap();
                if jobs.is_empty() {
                    return mine;
                }
                mine.extend(jobs.into_iter().map(|j| j.key));
            }
        }));
    }
    let mut seen = HashSet::new();
    for task in tasks {
        for key in task.await.unwrap() {
            assert!(seen.insert(key), "job {key} was claimed twice");
        }
    }
    assert_eq!(seen.len(), 200);
    assert_eq!(store.counts().await.unwrap().running, 200);
}

pub(crate) async fn finishing_burying_and_retrying(db: Fixture) {
    let store = db.store.clone();
    store
        .enqueue_many(JobKind::TRANSCRIPT, &[1, 2, 3], Intake::Poll)
        .await
        .unwrap();
    let jobs = store.claim(Utc::now(), LEASE, 3).await.unwrap();
    let id = |k: i64| jobs.iter().find(|j| j.key == k).unwrap().id;

    store
        .complete(id(1), &json!({"comment": 55}))
        .await
        .unwrap();
    store.fail(id(2), "portal 503", later(5)).await.unwrap();
    store.bury(id(3), "request 3 not found").await.unwrap();
    assert_eq!(
        store.counts().await.unwrap(),
        QueueCounts {
            pending: 1,
            running: 0,
            done: 1,
            dead: 1
        }
    );

    let done = store.job(JobKind::TRANSCRIPT, 1).await.unwrap().unwrap();
    assert_eq!((done.state, done.lease_until), (JobState::Done, None));
    assert_eq!(done.steps, json!({"comment": 55}));

    // A finished job cannot be finished again by a worker that lost its lease.
    let err = store.complete(id(1), &json!({})).await.unwrap_err();
    assert!(matches!(err.cause(), Cause::WrongState { .. }));
    assert!(!err.is_transient());
    assert!(store.fail(id(1), "late", Utc::now()).await.is_err());
    assert!(store.bury(id(1), "late").await.is_err());

    let dead = store.dead(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].last_error.as_deref(), Some("request 3 not found"));
    let errors: Vec<i64> = store
        .recent_errors(10)
        .await
        .unwrap()
        .iter()
        .map(|j| j.key)
        .collect();
    assert_eq!(errors, vec![3, 2]);

    // retry <id>: the dead job is due now with a clean slate; a done job runs again from
    // scratch; an unknown job is reported.
    assert!(store.retry(JobKind::TRANSCRIPT, 3).await.unwrap());
    let job = store.job(JobKind::TRANSCRIPT, 3).await.unwrap().unwrap();
    assert_eq!(
        (job.state, job.attempts, job.last_error),
        (JobState::Pending, 0, None)
    );
    assert!(job.next_attempt_at <= Utc::now());
    assert!(store.retry(JobKind::TRANSCRIPT, 1).await.unwrap());
    let job = store.job(JobKind::TRANSCRIPT, 1).await.unwrap().unwrap();
    assert_eq!((job.state, job.steps), (JobState::Pending, json!({})));
    assert!(!store.retry(JobKind::TRANSCRIPT, 99).await.unwrap());

    // retry --all-dead
    let jobs = store.claim(later(10), LEASE, 10).await.unwrap();
    assert_eq!(jobs.len(), 3);
    for job in &jobs {
        store.bury(job.id, "gave up").await.unwrap();
    }
    assert_eq!(store.retry_dead().await.unwrap(), 3);
    assert_eq!(store.retry_dead().await.unwrap(), 0);
    assert_eq!(store.counts().await.unwrap().pending, 3);
}

pub(crate) async fn recover_running_hands_jobs_of_a_dead_process_back_keeping_their_runs(
    db: Fixture,
) {
    let store = db.store.clone();
    store
        .enqueue(JobKind::TRANSCRIPT, 5, Intake::Manual)
        .await
        .unwrap();
    let job = store.claim(Utc::now(), LEASE, 1).await.unwrap().remove(0);
    store
        .save_steps(job.id, &json!({"entity": ["lead", 9]}), later(600))
        .await
        .unwrap();
    assert_eq!(store.recover_running().await.unwrap(), 1);

    let job = store.job(JobKind::TRANSCRIPT, 5).await.unwrap().unwrap();
    assert_eq!(
        (job.state, job.runs, job.attempts),
        (JobState::Pending, 1, 0)
    );
    assert_eq!(job.lease_until, None);
    assert_eq!(job.steps, json!({"entity": ["lead", 9]}));
    assert!(job.next_attempt_at <= Utc::now());
    assert_eq!(store.recover_running().await.unwrap(), 0);
}

pub(crate) async fn save_steps_extends_the_lease_and_persists_across_reopen(db: Fixture) {
    let store = db.store.clone();
    store
        .enqueue(JobKind::TRANSCRIPT, 8, Intake::Poll)
        .await
        .unwrap();
    let t0 = now();
    let job = store.claim(t0, LEASE, 1).await.unwrap().remove(0);
    let extended = t0 + chrono::Duration::seconds(300);
    store
        .save_steps(job.id, &json!({"entity": ["deal", 4]}), extended)
        .await
        .unwrap();
    // The old lease end no longer frees it.
    assert!(store
        .claim(t0 + chrono::Duration::seconds(31), LEASE, 1)
        .await
        .unwrap()
        .is_empty());
    store.close().await;

    let store = db.reopen().await;
    let job = store.job(JobKind::TRANSCRIPT, 8).await.unwrap().unwrap();
    assert_eq!(job.steps, json!({"entity": ["deal", 4]}));
    assert_eq!(job.lease_until, Some(extended));
    assert_eq!(store.next_due().await.unwrap(), Some(extended));
}

pub(crate) async fn committed_work_survives_a_crash(db: Fixture) {
    let store = db.store.clone();
    store
        .enqueue_many(JobKind::TRANSCRIPT, &[1, 2], Intake::Webhook)
        .await
        .unwrap();
    let job = store.claim(Utc::now(), LEASE, 1).await.unwrap().remove(0);
    store
        .save_steps(job.id, &json!({"step": 1}), later(30))
        .await
        .unwrap();
    store.set_meta("cursor", "1000").await.unwrap();
    // No close, no checkpoint: the connections are simply abandoned.
    std::mem::forget(store);

    let store = db.reopen().await;
    store.ping().await.unwrap();
    assert_eq!(
        store.counts().await.unwrap(),
        QueueCounts {
            pending: 1,
            running: 1,
            done: 0,
            dead: 0
        }
    );
    let job = store
        .job(JobKind::TRANSCRIPT, job.key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.steps, json!({"step": 1}));
    assert_eq!(store.meta("cursor").await.unwrap().as_deref(), Some("1000"));
}

pub(crate) async fn status_queries_report_lag_and_next_work(db: Fixture) {
    let store = db.store.clone();
    assert_eq!(store.oldest_pending().await.unwrap(), None);
    assert_eq!(store.next_due().await.unwrap(), None);
    let before = Utc::now();
    store
        .enqueue_many(JobKind::TRANSCRIPT, &[1, 2], Intake::Poll)
        .await
        .unwrap();
    let oldest = store.oldest_pending().await.unwrap().unwrap();
    assert!(oldest >= before - chrono::Duration::milliseconds(1) && oldest <= Utc::now());

    let t0 = now();
    let jobs = store.claim(t0, LEASE, 2).await.unwrap();
    assert_eq!(store.oldest_pending().await.unwrap(), None);
    assert_eq!(
        store.next_due().await.unwrap(),
        Some(t0 + chrono::Duration::seconds(30))
    );
    let retry_at = t0 + chrono::Duration::seconds(10);
    store.fail(jobs[0].id, "e", retry_at).await.unwrap();
    assert_eq!(store.next_due().await.unwrap(), Some(retry_at));
}

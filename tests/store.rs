//! The durable queue on both backends (a real SQLite file, a real MariaDB server):
//! idempotent intake, leases, transitions, poll bookkeeping, atomicity, what survives a
//! crash, and two nodes sharing one database (jobs held by node, the leader lease,
//! `store migrate`).

#[path = "common/backend.rs"]
mod backend;

use std::collections::HashSet;
use std::time::Duration;

use backend::Fixture;
use chat2desk_b24::store::{
    Backend, Cause, Intake, JobKind, JobState, Location, QueueCounts, Store, LEADER,
};
use chrono::{DateTime, Utc};
use serde_json::json;

const LEASE: Duration = Duration::from_secs(30);

/// The current time at the store's precision (milliseconds), so it compares equal after a
/// round trip.
fn now() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap()
}

fn later(secs: i64) -> DateTime<Utc> {
    now() + chrono::Duration::seconds(secs)
}

async fn enqueue_is_idempotent_and_leaves_existing_jobs_alone(db: Fixture) {
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

async fn enqueue_many_counts_new_rows_and_is_all_or_nothing(db: Fixture) {
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

async fn claim_waits_for_next_attempt_and_takes_over_expired_leases(db: Fixture) {
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

async fn claim_takes_earliest_due_first_up_to_the_limit(db: Fixture) {
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

async fn concurrent_claimers_never_share_a_job(db: Fixture) {
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

async fn finishing_burying_and_retrying(db: Fixture) {
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

async fn recover_running_hands_jobs_of_a_dead_process_back_keeping_their_runs(db: Fixture) {
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

async fn save_steps_extends_the_lease_and_persists_across_reopen(db: Fixture) {
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

async fn committed_work_survives_a_crash(db: Fixture) {
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

async fn status_queries_report_lag_and_next_work(db: Fixture) {
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

async fn meta_stores_and_replaces_values(db: Fixture) {
    let store = db.store.clone();
    assert_eq!(store.meta("watermark").await.unwrap(), None);
    store
        .set_meta("watermark", "2024-01-01T00:00:00Z")
        .await
        .unwrap();
    store
        .set_meta("watermark", "2024-02-01T00:00:00Z")
        .await
        .unwrap();
    assert_eq!(
        store.meta("watermark").await.unwrap().as_deref(),
        Some("2024-02-01T00:00:00Z")
    );
}

async fn scan_then_promote_moves_candidates_to_jobs_with_the_cursor(db: Fixture) {
    let store = db.store.clone();
    store
        .record_scan(
            &[(100, 10), (101, 11), (102, 12)],
            &[("message_cursor", "500".into())],
        )
        .await
        .unwrap();
    // Seen again later, under a new dialog id.
    store
        .record_scan(&[(101, 21)], &[("message_cursor", "600".into())])
        .await
        .unwrap();
    assert_eq!(
        store.candidates().await.unwrap(),
        vec![(100, 10), (101, 21), (102, 12)]
    );
    assert_eq!(
        store.meta("message_cursor").await.unwrap().as_deref(),
        Some("600")
    );

    store
        .enqueue(JobKind::TRANSCRIPT, 102, Intake::Webhook)
        .await
        .unwrap();
    let new = store
        .promote(&[100, 102], Intake::Poll, &[("last_poll_at", "t1".into())])
        .await
        .unwrap();
    assert_eq!(new, 1, "102 already came in by webhook");
    assert_eq!(store.candidates().await.unwrap(), vec![(101, 21)]);
    let job = store.job(JobKind::TRANSCRIPT, 100).await.unwrap().unwrap();
    assert_eq!((job.state, job.intake), (JobState::Pending, Intake::Poll));
    assert_eq!(
        store
            .job(JobKind::TRANSCRIPT, 102)
            .await
            .unwrap()
            .unwrap()
            .intake,
        Intake::Webhook
    );
    assert_eq!(
        store.meta("last_poll_at").await.unwrap().as_deref(),
        Some("t1")
    );
}

async fn scan_and_promote_are_all_or_nothing(db: Fixture) {
    let store = db.store.clone();
    store
        .record_scan(&[(100, 10)], &[("cursor", "1".into())])
        .await
        .unwrap();
    db.reject_insert("reject_meta", "meta", "NEW.value = 'bad'")
        .await;

    // The cursor fails to move, so the candidates it covered are not recorded either.
    let err = store
        .record_scan(&[(200, 20)], &[("cursor", "bad".into())])
        .await
        .unwrap_err();
    assert_eq!(err.operation(), "record_scan");
    assert_eq!(store.candidates().await.unwrap(), vec![(100, 10)]);

    // Promotion fails at the meta write: no job, and the candidate stays.
    store
        .promote(&[100], Intake::Poll, &[("cursor", "bad".into())])
        .await
        .unwrap_err();
    assert!(store.job(JobKind::TRANSCRIPT, 100).await.unwrap().is_none());
    assert_eq!(store.candidates().await.unwrap(), vec![(100, 10)]);
    assert_eq!(store.meta("cursor").await.unwrap().as_deref(), Some("1"));
}

#[tokio::test]
async fn open_failure_names_the_path_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let path = file.join("state.db");
    let err = Store::open(&path).await.unwrap_err();
    assert_eq!(err.operation(), "open");
    assert_eq!(err.database(), path.display().to_string());
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    assert!(err.hint().contains("[database] path"));
    assert!(!err.is_transient());

    // A file that is not a database.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, vec![7u8; 4096]).unwrap();
    let err = Store::open(&junk).await.unwrap_err();
    assert!(!err.is_transient(), "{err}");
}

#[test]
fn processes_opening_a_fresh_database_at_once_all_succeed() {
    // The daemon's first start racing `chat2desk-b24 retry --dead` (a command that writes, so
    // it creates the file; `status` only reads): several processes run the first migration
    // on one new file at the same moment; every one must open it.
    let dir = tempfile::tempdir().unwrap();
    for round in 0..3 {
        let db = dir.path().join(format!("fresh-{round}.db"));
        let config = dir.path().join(format!("config-{round}.toml"));
        std::fs::write(
            &config,
            format!(
                "[chat2desk]\ntoken = \"t\"\n[bitrix24]\nwebhook_url = \"http://127.0.0.1:9/rest/1/abcdef/\"\n\
                 [crm]\ndefault_responsibles = [1]\n[database]\npath = \"{}\"\n",
                db.display()
            ),
        )
        .unwrap();
        let handles: Vec<_> = (0..8)
            .map(|_| {
                std::process::Command::new(env!("CARGO_BIN_EXE_chat2desk-b24"))
                    .arg("-c")
                    .arg(&config)
                    .args(["retry", "--dead"])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in handles {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "a concurrent first open failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

async fn a_restarted_node_takes_back_only_its_own_jobs(db: Fixture) {
    let a = db.store.clone();
    let b = db.reopen_as("node-b").await;
    a.enqueue_many(JobKind::TRANSCRIPT, &[1, 2], Intake::Poll)
        .await
        .unwrap();
    let mine = a.claim(Utc::now(), LEASE, 1).await.unwrap().remove(0);
    let theirs = b.claim(Utc::now(), LEASE, 1).await.unwrap().remove(0);
    assert_eq!(mine.node.as_deref(), Some(a.node()));
    assert_eq!(theirs.node.as_deref(), Some("node-b"));

    // Node a is killed and starts again under its name: its job comes back at once, node
    // b's job stays with b.
    let a = db.reopen().await;
    assert_eq!(a.recover_running().await.unwrap(), 1);
    let job = a.job(JobKind::TRANSCRIPT, mine.key).await.unwrap().unwrap();
    assert_eq!((job.state, job.runs), (JobState::Pending, 1));
    let job = a
        .job(JobKind::TRANSCRIPT, theirs.key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.state, JobState::Running);
    assert_eq!(job.node.as_deref(), Some("node-b"));
}

async fn a_node_cannot_write_to_a_job_another_node_holds(db: Fixture) {
    let a = db.store.clone();
    let b = db.reopen_as("node-b").await;
    a.enqueue(JobKind::TRANSCRIPT, 9, Intake::Webhook)
        .await
        .unwrap();
    let t0 = now();
    let job = a.claim(t0, LEASE, 1).await.unwrap().remove(0);
    let wrong = |e: chat2desk_b24::store::StoreError| matches!(e.cause(), Cause::WrongState { .. });
    assert!(wrong(b.complete(job.id, &json!({})).await.unwrap_err()));
    assert!(wrong(
        b.save_steps(job.id, &json!({"x": 1}), later(30))
            .await
            .unwrap_err()
    ));
    assert!(wrong(b.fail(job.id, "e", later(1)).await.unwrap_err()));
    assert!(!b.extend_lease(job.id, later(60)).await.unwrap());
    assert!(a
        .extend_lease(job.id, t0 + chrono::Duration::seconds(30))
        .await
        .unwrap());

    // Node a dies; when its lease ends, b takes the job over from a's checkpoint.
    a.save_steps(
        job.id,
        &json!({"entity": ["lead", 5]}),
        t0 + chrono::Duration::seconds(30),
    )
    .await
    .unwrap();
    assert!(b
        .claim(t0 + chrono::Duration::seconds(29), LEASE, 1)
        .await
        .unwrap()
        .is_empty());
    let taken = b
        .claim(t0 + chrono::Duration::seconds(31), LEASE, 1)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(taken.id, job.id);
    assert_eq!(taken.runs, 2);
    assert_eq!(taken.node.as_deref(), Some("node-b"));
    assert_eq!(taken.steps, json!({"entity": ["lead", 5]}));
    // The old holder, back from a stall, can no longer touch it.
    assert!(!a.extend_lease(job.id, later(60)).await.unwrap());
    assert!(wrong(a.complete(job.id, &json!({})).await.unwrap_err()));
    b.complete(job.id, &json!({"done": true})).await.unwrap();
}

async fn the_leader_lease_has_one_holder_and_passes_on_when_it_ends(db: Fixture) {
    let a = db.store.clone();
    let b = db.reopen_as("node-b").await;
    a.register_node("1.0").await.unwrap();
    b.register_node("1.0").await.unwrap();
    let lease = Duration::from_secs(15);
    let t0 = now();
    let at = |s: i64| t0 + chrono::Duration::seconds(s);
    assert!(a.try_lease(LEADER, t0, lease).await.unwrap());
    assert!(!b.try_lease(LEADER, at(1), lease).await.unwrap());
    // Renewing keeps `since` and moves the end.
    assert!(a.try_lease(LEADER, at(5), lease).await.unwrap());
    assert_eq!(
        a.lease_holder(LEADER, t0).await.unwrap(),
        Some((a.node().to_string(), t0, at(20)))
    );
    let nodes = b.nodes().await.unwrap();
    assert_eq!(nodes.len(), 2);
    let leading: Vec<&str> = nodes
        .iter()
        .filter(|n| n.leads_until.is_some())
        .map(|n| n.name.as_str())
        .collect();
    assert_eq!(leading, vec![a.node()]);
    assert!(nodes.iter().all(|n| n.version == "1.0"));

    // a stops renewing: b takes over only once the lease has ended.
    assert!(!b.try_lease(LEADER, at(20), lease).await.unwrap());
    assert!(b.try_lease(LEADER, at(21), lease).await.unwrap());
    assert_eq!(
        b.lease_holder(LEADER, at(21)).await.unwrap(),
        Some(("node-b".to_string(), at(21), at(36)))
    );
    assert!(!a.try_lease(LEADER, at(22), lease).await.unwrap());
    // A clean stop gives it up: a takes it at once.
    b.release_lease(LEADER).await.unwrap();
    assert!(a.try_lease(LEADER, at(23), lease).await.unwrap());
    // Releasing a lease one does not hold changes nothing.
    b.release_lease(LEADER).await.unwrap();
    assert!(!b.try_lease(LEADER, at(24), lease).await.unwrap());
}

async fn heartbeats_and_restarts_show_in_the_node_list(db: Fixture) {
    let a = db.store.clone();
    a.register_node("0.9").await.unwrap();
    let first = a.nodes().await.unwrap().remove(0);
    tokio::time::sleep(Duration::from_millis(20)).await;
    a.heartbeat().await.unwrap();
    let beat = a.nodes().await.unwrap().remove(0);
    assert_eq!(beat.started_at, first.started_at);
    assert!(beat.heartbeat_at > first.heartbeat_at);
    // Restarted with a new version: started again.
    tokio::time::sleep(Duration::from_millis(20)).await;
    a.register_node("1.0").await.unwrap();
    let again = a.nodes().await.unwrap().remove(0);
    assert!(again.started_at > first.started_at);
    assert_eq!(
        (again.name.as_str(), again.version.as_str()),
        (a.node(), "1.0")
    );
    assert_eq!(again.leads_until, None);
}

async fn the_app_grant_rotates_once_when_two_nodes_refresh_at_once(db: Fixture) {
    use chat2desk_b24::config::Secret;
    use chat2desk_b24::store::{Grant, RefreshFailure, Rotated, Rotation};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let a = db.store.clone();
    let b = db.reopen_as("node-b").await;
    let grant = Grant {
        access_token: Secret::new("access-1"),
        refresh_token: Secret::new("refresh-1"),
        expires_at: now(),
        member_id: "m1".into(),
        user_id: 1,
        user_name: "Админ".into(),
        scopes: vec!["imconnector".into(), "imopenlines".into()],
        authorized_at: now(),
        refreshed_at: None,
        revoked: None,
    };
    a.save_grant(&grant).await.unwrap();
    assert_eq!(b.grant().await.unwrap(), Some(grant.clone()));
    let refreshes = AtomicUsize::new(0);
    let refresh = |old: Secret| {
        let refreshes = &refreshes;
        async move {
            assert_eq!(old.expose(), "refresh-1");
            refreshes.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(200)).await;
            Ok::<_, RefreshFailure<()>>(Rotated {
                access_token: Secret::new("access-2"),
                refresh_token: Secret::new("refresh-2"),
                expires_at: later(3600),
            })
        }
    };
    let failed = Secret::new("access-1");
    let (ra, rb) = tokio::join!(
        a.rotate_grant(&failed, refresh),
        b.rotate_grant(&failed, refresh)
    );
    let outcomes = [ra.unwrap().unwrap().unwrap(), rb.unwrap().unwrap().unwrap()];
    assert_eq!(
        refreshes.load(Ordering::SeqCst),
        1,
        "one refresh for both nodes"
    );
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| matches!(o, Rotation::AlreadyRotated(_)))
            .count(),
        1
    );
    let stored = a.grant().await.unwrap().unwrap();
    assert_eq!(stored.refresh_token.expose(), "refresh-2");
    assert!(stored.refreshed_at.is_some());
    // One-use authorisation states, at most `cap` unused ones, expired ones purged.
    assert!(a.add_oauth_state("st-1", later(-60), 2).await.unwrap());
    assert!(a.add_oauth_state("st-2", later(-60), 2).await.unwrap());
    assert!(!b.add_oauth_state("st-3", later(-60), 2).await.unwrap());
    assert!(b.take_oauth_state("st-1", later(-60)).await.unwrap());
    assert!(!a.take_oauth_state("st-1", later(-60)).await.unwrap());
    assert!(!a.take_oauth_state("st-3", later(-60)).await.unwrap());
    assert!(b.add_oauth_state("st-3", later(-60), 2).await.unwrap());
    // Once every stored state is older than `since`, they are dropped and room is made.
    assert!(a.add_oauth_state("st-4", later(60), 1).await.unwrap());
    assert!(!a.take_oauth_state("st-2", later(-60)).await.unwrap());
}

async fn sends_are_queued_once_and_the_write_first_budget_holds_across_nodes(db: Fixture) {
    let a = db.store.clone();
    let b = db.reopen_as("node-b").await;
    let payload = json!({"channel": 1, "text": "Здравствуйте"});
    let first = a
        .enqueue_send("tok-1", &payload, Intake::Bizproc)
        .await
        .unwrap();
    let again = b
        .enqueue_send("tok-1", &payload, Intake::Bizproc)
        .await
        .unwrap();
    assert!(first.new && !again.new);
    assert_eq!(first.send_id, again.send_id);
    assert_eq!(b.send_payload(first.send_id).await.unwrap(), Some(payload));
    let job = b
        .claim_one(JobKind::SEND, first.send_id, LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.node.as_deref(), Some("node-b"));
    assert!(a
        .claim_one(JobKind::SEND, first.send_id, LEASE)
        .await
        .unwrap()
        .is_none());
    // Two places a day; four sends on two nodes race for them.
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(
            a.enqueue_send(&format!("race-{i}"), &json!({}), Intake::Bizproc)
                .await
                .unwrap()
                .send_id,
        );
    }
    let (r0, r1, r2, r3) = tokio::join!(
        a.take_write_first(ids[0], "2026-12-01", 2),
        b.take_write_first(ids[1], "2026-12-01", 2),
        a.take_write_first(ids[2], "2026-12-01", 2),
        b.take_write_first(ids[3], "2026-12-01", 2)
    );
    let taken = [r0, r1, r2, r3]
        .into_iter()
        .filter(|r| *r.as_ref().unwrap())
        .count();
    assert_eq!(taken, 2, "never more than the day's budget");
    // A send that holds a place keeps it.
    let holder = ids[0];
    let held = a.take_write_first(holder, "2026-12-01", 2).await.unwrap();
    assert_eq!(
        held,
        b.take_write_first(holder, "2026-12-01", 2).await.unwrap()
    );
}

on_both_backends!(store_suite_on_mariadb:
    enqueue_is_idempotent_and_leaves_existing_jobs_alone,
    enqueue_many_counts_new_rows_and_is_all_or_nothing,
    claim_waits_for_next_attempt_and_takes_over_expired_leases,
    claim_takes_earliest_due_first_up_to_the_limit,
    concurrent_claimers_never_share_a_job,
    finishing_burying_and_retrying,
    recover_running_hands_jobs_of_a_dead_process_back_keeping_their_runs,
    save_steps_extends_the_lease_and_persists_across_reopen,
    committed_work_survives_a_crash,
    status_queries_report_lag_and_next_work,
    meta_stores_and_replaces_values,
    scan_then_promote_moves_candidates_to_jobs_with_the_cursor,
    scan_and_promote_are_all_or_nothing,
    a_restarted_node_takes_back_only_its_own_jobs,
    a_node_cannot_write_to_a_job_another_node_holds,
    the_leader_lease_has_one_holder_and_passes_on_when_it_ends,
    heartbeats_and_restarts_show_in_the_node_list,
    the_app_grant_rotates_once_when_two_nodes_refresh_at_once,
    sends_are_queued_once_and_the_write_first_budget_holds_across_nodes,
);

/// MariaDB only: several nodes starting on one fresh database at once all migrate it, and
/// `store migrate` copies a SQLite state over, refusing a database that already has data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_nodes_start_at_once_and_store_migrate_copies_sqlite_state() {
    let Some(server) = backend::mariadb::MariaDb::start() else {
        return;
    };
    // Six nodes open a fresh database at the same moment.
    let url = chat2desk_b24::config::Secret::new(server.create_database());
    let location = Location::MySql(url.clone());
    let opens: Vec<_> = (0..6)
        .map(|i| {
            let location = location.clone();
            tokio::spawn(async move { Store::connect(&location, &format!("node-{i}")).await })
        })
        .collect();
    for open in opens {
        let store = open
            .await
            .unwrap()
            .expect("a concurrent first start migrates");
        assert_eq!(store.backend(), Backend::MySql);
        store.ping().await.unwrap();
    }
    // The password never shows in the database's name.
    let shown = Store::connect(&location, "n")
        .await
        .unwrap()
        .name()
        .to_string();
    assert!(
        shown.contains("***") && !shown.contains("c2d-test-pw"),
        "{shown}"
    );

    // A SQLite state with something in every table.
    let sqlite = Fixture::sqlite().await;
    let source = sqlite.store.clone();
    source
        .enqueue_many(JobKind::TRANSCRIPT, &[11, 12, 13, 14], Intake::Poll)
        .await
        .unwrap();
    let jobs = source.claim(Utc::now(), LEASE, 3).await.unwrap();
    source
        .complete(jobs[0].id, &json!({"comment_ids": [7]}))
        .await
        .unwrap();
    source.bury(jobs[1].id, "request not found").await.unwrap();
    let running = &jobs[2];
    source
        .save_steps(running.id, &json!({"entity": ["lead", 3]}), later(30))
        .await
        .unwrap();
    let keys = [chat2desk_b24::store::ClientKey::phone("+79160000001")];
    source
        .try_claim_clients(running.id, &keys, Utc::now())
        .await
        .unwrap();
    source
        .remember_clients(
            &keys,
            &[chat2desk_b24::store::ClientRecord {
                scope: "crm.lead",
                id: 3,
            }],
        )
        .await
        .unwrap();
    source
        .record_scan(
            &[(500, 50), (501, 51)],
            &[("poll.messages.cursor", "9000".into())],
        )
        .await
        .unwrap();
    source
        .set_meta("poll.last_success_at", "2026-01-01T00:00:00Z")
        .await
        .unwrap();

    let target_url = server.create_database();
    let target = Store::connect(
        &Location::MySql(chat2desk_b24::config::Secret::new(target_url.clone())),
        source.node(),
    )
    .await
    .unwrap();
    let report = source.copy_into(&target).await.unwrap();
    assert_eq!(report.tables.get("jobs"), Some(&4));
    assert_eq!(report.tables.get("meta"), Some(&2));
    assert_eq!(report.tables.get("candidates"), Some(&2));
    assert_eq!(report.tables.get("client_claims"), Some(&1));
    assert_eq!(report.tables.get("client_records"), Some(&1));
    assert!(!report.tables.contains_key("nodes"));

    for key in [11, 12, 13, 14] {
        assert_eq!(
            target.job(JobKind::TRANSCRIPT, key).await.unwrap(),
            source.job(JobKind::TRANSCRIPT, key).await.unwrap(),
            "job {key} copied field for field"
        );
    }
    assert_eq!(
        target.counts().await.unwrap(),
        source.counts().await.unwrap()
    );
    assert_eq!(
        target.candidates().await.unwrap(),
        vec![(500, 50), (501, 51)]
    );
    assert_eq!(
        target
            .meta("poll.messages.cursor")
            .await
            .unwrap()
            .as_deref(),
        Some("9000")
    );
    let records = target
        .client_records(&keys, Utc::now() - chrono::Duration::hours(1))
        .await
        .unwrap();
    assert_eq!((records[0].scope.as_str(), records[0].id), ("crm.lead", 3));
    // The running job's claim came along: another job of that client waits for it.
    target
        .enqueue(JobKind::TRANSCRIPT, 15, Intake::Poll)
        .await
        .unwrap();
    let other = target.claim(Utc::now(), LEASE, 5).await.unwrap();
    let fifteen = other.iter().find(|j| j.key == 15).unwrap();
    assert!(
        fifteen.id > running.id,
        "new ids continue after the copied ones"
    );
    assert_eq!(
        target
            .try_claim_clients(fifteen.id, &keys, Utc::now())
            .await
            .unwrap(),
        chat2desk_b24::store::ClaimAttempt::HeldBy(running.id)
    );

    // Copying again: refused, nothing written.
    let err = source.copy_into(&target).await.unwrap_err();
    assert!(matches!(err.cause(), Cause::NotEmpty { .. }), "{err}");
    assert!(err.to_string().contains("already holds data"), "{err}");
    assert!(err.hint().contains("empty database"), "{}", err.hint());
    assert_eq!(
        target.counts().await.unwrap().pending + target.counts().await.unwrap().running,
        3
    );

    // The command: a fresh SQLite file through `store migrate --to`, then `status` on the
    // shared database.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let seeded = Store::open(&db).await.unwrap();
    seeded
        .enqueue_many(JobKind::TRANSCRIPT, &[1, 2, 3], Intake::Backfill)
        .await
        .unwrap();
    seeded.close().await;
    let config = dir.path().join("config.toml");
    let common = "[chat2desk]\ntoken = \"t\"\n[bitrix24]\nwebhook_url = \"http://127.0.0.1:9/rest/1/abcdef/\"\n\
                  [crm]\ndefault_responsibles = [1]\n[node]\nname = \"node-one\"\n";
    std::fs::write(
        &config,
        format!("{common}[database]\npath = \"{}\"\n", db.display()),
    )
    .unwrap();
    let run = |config: &std::path::Path, args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_chat2desk-b24"))
            .arg("-c")
            .arg(config)
            .args(args)
            .output()
            .unwrap()
    };
    let fresh = server.create_database();
    let out = run(&config, &["store", "migrate", "--to", &fresh]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("jobs") && stdout.contains("3 row(s)"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("c2d-test-pw"),
        "the password is not printed: {stdout}"
    );
    let out = run(&config, &["store", "migrate", "--to", &fresh]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("already holds data"), "{stderr}");
    assert!(!stderr.contains("c2d-test-pw"), "{stderr}");

    let shared = dir.path().join("shared.toml");
    std::fs::write(&shared, format!("{common}[database]\nurl = \"{fresh}\"\n")).unwrap();
    let out = run(&shared, &["status"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Queue: 3 pending"), "{stdout}");
    assert!(
        stdout.contains("Leader: none") || stdout.contains("Nodes: none"),
        "{stdout}"
    );
    let out = run(&shared, &["config"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("url = \"mysql://c2d_test:***@127.0.0.1"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("c2d-test-pw") && !stdout.contains("path ="),
        "{stdout}"
    );
}

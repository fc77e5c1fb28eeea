//! The durable queue on a real SQLite file: idempotent intake, leases, transitions, poll
//! bookkeeping, atomicity, and what survives a crash.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chat2desk_b24::store::{Cause, Intake, JobKind, JobState, QueueCounts, Store};
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};
use tempfile::TempDir;

const LEASE: Duration = Duration::from_secs(30);

async fn fresh() -> (TempDir, PathBuf, Store) {
    let dir = tempfile::tempdir().unwrap();
    // A directory that does not exist yet: open creates it.
    let path = dir.path().join("lib").join("state.db");
    let store = Store::open(&path).await.unwrap();
    (dir, path, store)
}

/// The current time at the store's precision (milliseconds), so it compares equal after a
/// round trip.
fn now() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap()
}

fn later(secs: i64) -> DateTime<Utc> {
    now() + chrono::Duration::seconds(secs)
}

/// Installs a trigger through a separate connection that makes SQLite reject one write, to
/// prove that a multi-row operation is all or nothing.
async fn reject(path: &Path, trigger: &str) {
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .busy_timeout(Duration::from_secs(5))
        .connect()
        .await
        .unwrap();
    sqlx::query(trigger).execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
}

#[tokio::test]
async fn enqueue_is_idempotent_and_leaves_existing_jobs_alone() {
    let (_dir, _path, store) = fresh().await;
    assert!(store
        .enqueue(JobKind::Transcript, 42, Intake::Webhook)
        .await
        .unwrap());
    assert!(!store
        .enqueue(JobKind::Transcript, 42, Intake::Poll)
        .await
        .unwrap());

    let claimed = store.claim(Utc::now(), LEASE, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    // A repeated webhook while the job runs changes nothing.
    assert!(!store
        .enqueue(JobKind::Transcript, 42, Intake::Webhook)
        .await
        .unwrap());

    let job = store.job(JobKind::Transcript, 42).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Running);
    assert_eq!(job.intake, Intake::Webhook);
    assert_eq!(job.key, 42);
    assert_eq!(job.runs, 1);
    assert_eq!(job.attempts, 0);
    assert_eq!(job.steps, json!({}));
    assert!(store.job(JobKind::Transcript, 43).await.unwrap().is_none());
}

#[tokio::test]
async fn enqueue_many_counts_new_rows_and_is_all_or_nothing() {
    let (_dir, path, store) = fresh().await;
    store
        .enqueue(JobKind::Transcript, 2, Intake::Webhook)
        .await
        .unwrap();
    let inserted = store
        .enqueue_many(JobKind::Transcript, &[1, 2, 3, 3], Intake::Backfill)
        .await
        .unwrap();
    assert_eq!(inserted, 2);
    assert_eq!(store.counts().await.unwrap().pending, 3);

    reject(
        &path,
        "CREATE TRIGGER reject_13 BEFORE INSERT ON jobs WHEN NEW.job_key = 13 \
         BEGIN SELECT RAISE(ABORT, 'rejected'); END",
    )
    .await;
    let err = store
        .enqueue_many(JobKind::Transcript, &[11, 12, 13], Intake::Backfill)
        .await
        .unwrap_err();
    assert_eq!(err.operation(), "enqueue_many");
    assert!(store.job(JobKind::Transcript, 11).await.unwrap().is_none());
    assert!(store.job(JobKind::Transcript, 12).await.unwrap().is_none());
    assert_eq!(store.counts().await.unwrap().pending, 3);
}

#[tokio::test]
async fn claim_waits_for_next_attempt_and_takes_over_expired_leases() {
    let (_dir, _path, store) = fresh().await;
    store
        .enqueue(JobKind::Transcript, 7, Intake::Poll)
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

#[tokio::test]
async fn claim_takes_earliest_due_first_up_to_the_limit() {
    let (_dir, _path, store) = fresh().await;
    store
        .enqueue_many(JobKind::Transcript, &[1, 2, 3], Intake::Poll)
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

#[tokio::test]
async fn concurrent_claimers_never_share_a_job() {
    let (_dir, path, store) = fresh().await;
    let keys: Vec<i64> = (1..=200).collect();
    assert_eq!(
        store
            .enqueue_many(JobKind::Transcript, &keys, Intake::Backfill)
            .await
            .unwrap(),
        200
    );
    // Four tasks on this pool plus two on a second pool (as a second process would be).
    let other = Store::open(&path).await.unwrap();
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

#[tokio::test]
async fn finishing_burying_and_retrying() {
    let (_dir, _path, store) = fresh().await;
    store
        .enqueue_many(JobKind::Transcript, &[1, 2, 3], Intake::Poll)
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

    let done = store.job(JobKind::Transcript, 1).await.unwrap().unwrap();
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
    assert!(store.retry(JobKind::Transcript, 3).await.unwrap());
    let job = store.job(JobKind::Transcript, 3).await.unwrap().unwrap();
    assert_eq!(
        (job.state, job.attempts, job.last_error),
        (JobState::Pending, 0, None)
    );
    assert!(job.next_attempt_at <= Utc::now());
    assert!(store.retry(JobKind::Transcript, 1).await.unwrap());
    let job = store.job(JobKind::Transcript, 1).await.unwrap().unwrap();
    assert_eq!((job.state, job.steps), (JobState::Pending, json!({})));
    assert!(!store.retry(JobKind::Transcript, 99).await.unwrap());

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

#[tokio::test]
async fn recover_running_hands_jobs_of_a_dead_process_back_keeping_their_runs() {
    let (_dir, _path, store) = fresh().await;
    store
        .enqueue(JobKind::Transcript, 5, Intake::Manual)
        .await
        .unwrap();
    let job = store.claim(Utc::now(), LEASE, 1).await.unwrap().remove(0);
    store
        .save_steps(job.id, &json!({"entity": ["lead", 9]}), later(600))
        .await
        .unwrap();
    assert_eq!(store.recover_running().await.unwrap(), 1);

    let job = store.job(JobKind::Transcript, 5).await.unwrap().unwrap();
    assert_eq!(
        (job.state, job.runs, job.attempts),
        (JobState::Pending, 1, 0)
    );
    assert_eq!(job.lease_until, None);
    assert_eq!(job.steps, json!({"entity": ["lead", 9]}));
    assert!(job.next_attempt_at <= Utc::now());
    assert_eq!(store.recover_running().await.unwrap(), 0);
}

#[tokio::test]
async fn save_steps_extends_the_lease_and_persists_across_reopen() {
    let (_dir, path, store) = fresh().await;
    store
        .enqueue(JobKind::Transcript, 8, Intake::Poll)
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

    let store = Store::open(&path).await.unwrap();
    let job = store.job(JobKind::Transcript, 8).await.unwrap().unwrap();
    assert_eq!(job.steps, json!({"entity": ["deal", 4]}));
    assert_eq!(job.lease_until, Some(extended));
    assert_eq!(store.next_due().await.unwrap(), Some(extended));
}

#[tokio::test]
async fn committed_work_survives_a_crash() {
    let (_dir, path, store) = fresh().await;
    store
        .enqueue_many(JobKind::Transcript, &[1, 2], Intake::Webhook)
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

    let store = Store::open(&path).await.unwrap();
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
        .job(JobKind::Transcript, job.key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.steps, json!({"step": 1}));
    assert_eq!(store.meta("cursor").await.unwrap().as_deref(), Some("1000"));
}

#[tokio::test]
async fn status_queries_report_lag_and_next_work() {
    let (_dir, _path, store) = fresh().await;
    assert_eq!(store.oldest_pending().await.unwrap(), None);
    assert_eq!(store.next_due().await.unwrap(), None);
    let before = Utc::now();
    store
        .enqueue_many(JobKind::Transcript, &[1, 2], Intake::Poll)
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

#[tokio::test]
async fn meta_stores_and_replaces_values() {
    let (_dir, _path, store) = fresh().await;
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

#[tokio::test]
async fn scan_then_promote_moves_candidates_to_jobs_with_the_cursor() {
    let (_dir, _path, store) = fresh().await;
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
        .enqueue(JobKind::Transcript, 102, Intake::Webhook)
        .await
        .unwrap();
    let new = store
        .promote(&[100, 102], Intake::Poll, &[("last_poll_at", "t1".into())])
        .await
        .unwrap();
    assert_eq!(new, 1, "102 already came in by webhook");
    assert_eq!(store.candidates().await.unwrap(), vec![(101, 21)]);
    let job = store.job(JobKind::Transcript, 100).await.unwrap().unwrap();
    assert_eq!((job.state, job.intake), (JobState::Pending, Intake::Poll));
    assert_eq!(
        store
            .job(JobKind::Transcript, 102)
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

#[tokio::test]
async fn scan_and_promote_are_all_or_nothing() {
    let (_dir, path, store) = fresh().await;
    store
        .record_scan(&[(100, 10)], &[("cursor", "1".into())])
        .await
        .unwrap();
    reject(
        &path,
        "CREATE TRIGGER reject_meta BEFORE INSERT ON meta WHEN NEW.value = 'bad' \
         BEGIN SELECT RAISE(ABORT, 'rejected'); END",
    )
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
    assert!(store.job(JobKind::Transcript, 100).await.unwrap().is_none());
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
    // The daemon's first start racing `chat2desk-b24 status`: several processes run the first
    // migration on one new file at the same moment; every one must open it.
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
                    .arg("status")
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

//! Poll bookkeeping: the meta values, and the scan of candidates promoted to jobs with the
//! cursor, all or nothing.

use super::backend::Fixture;
use chat2desk_b24::store::{Intake, JobKind, JobState};

pub(crate) async fn meta_stores_and_replaces_values(db: Fixture) {
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

pub(crate) async fn scan_then_promote_moves_candidates_to_jobs_with_the_cursor(db: Fixture) {
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

pub(crate) async fn scan_and_promote_are_all_or_nothing(db: Fixture) {
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

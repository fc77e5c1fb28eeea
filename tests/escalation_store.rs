//! Escalation's waiting stretches on both backends: two nodes opening the stretch of one
//! message at once make one stretch and one job; an answer ends it; the client's next
//! message opens the next one; a message of a new request ends the old request's.

#[path = "common/backend.rs"]
mod backend;

use backend::Fixture;
use chat2desk_b24::flows::escalation::ESCALATION;
use chat2desk_b24::store::{ClientMessage, Intake, JobState};
use chrono::{Duration, Utc};

fn message(id: i64, request: i64, seconds_ago: i64) -> ClientMessage {
    ClientMessage {
        client_id: 77,
        message_id: id,
        at: Utc::now() - Duration::seconds(seconds_ago),
        channel_id: Some(17),
        dialog_id: Some(5),
        request_id: Some(request),
        client_name: Some("Анна".into()),
    }
}

async fn stretches_open_once_and_end(fixture: Fixture) {
    let a = fixture.reopen_as("node-a").await;
    let b = fixture.reopen_as("node-b").await;
    let due = Utc::now() + Duration::minutes(5);
    let first = message(1, 100, 60);
    let (left, right) = tokio::join!(
        a.open_wait(&first, ESCALATION, due, Intake::Webhook),
        b.open_wait(&first, ESCALATION, due, Intake::Poll)
    );
    let opened: Vec<i64> = [left.unwrap(), right.unwrap()]
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(
        opened.len(),
        1,
        "one stretch for one message over two nodes"
    );
    let id = opened[0];
    let job = a.job(ESCALATION, id).await.unwrap().expect("its job");
    assert_eq!(job.state, JobState::Pending);
    assert_eq!(
        job.next_attempt_at.timestamp_millis(),
        due.timestamp_millis()
    );
    // More messages of the same request: still the one stretch.
    assert_eq!(
        a.open_wait(&message(2, 100, 50), ESCALATION, due, Intake::Poll)
            .await
            .unwrap(),
        None
    );

    assert!(a
        .end_wait(77, Utc::now() - Duration::seconds(40))
        .await
        .unwrap());
    let ended = a.wait(id).await.unwrap().expect("the stretch");
    assert!(ended.answered_at.is_some());
    // A message from before the answer opens nothing; one after it opens the next stretch.
    assert_eq!(
        a.open_wait(&message(2, 100, 50), ESCALATION, due, Intake::Poll)
            .await
            .unwrap(),
        None
    );
    let second = a
        .open_wait(&message(3, 100, 30), ESCALATION, due, Intake::Poll)
        .await
        .unwrap();
    let second = second.expect("the next stretch");
    // The client's next request ends the open stretch of the closed one.
    let third = b
        .open_wait(&message(4, 101, 10), ESCALATION, due, Intake::Poll)
        .await
        .unwrap();
    assert!(third.is_some(), "a new request's stretch");
    assert!(a.wait(second).await.unwrap().unwrap().answered_at.is_some());

    a.mark_notified(third.unwrap(), Utc::now()).await.unwrap();
    let (waiting, notified) = a
        .wait_counts(
            Utc::now() - Duration::hours(1),
            Utc::now() - Duration::hours(1),
        )
        .await
        .unwrap();
    assert_eq!((waiting, notified), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_stretches_open_once_and_end() {
    stretches_open_once_and_end(Fixture::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_stretches_open_once_and_end() {
    let Some(server) = backend::mariadb::MariaDb::start() else {
        return;
    };
    stretches_open_once_and_end(Fixture::mariadb(&server).await).await;
}

//! An operator's reply whose `OnImConnectorMessageAdd` event the portal hands out again
//! after the reply's `line_out` job is done (its clear failed or came late, and a later
//! `event.offline.get` reserves it anew): the reader clears the event itself, since the
//! done job never runs again, and the client has the reply once. Real HTTP against both
//! simulators, a real SQLite file, the daemon in-process; the test steps the reader.

mod common;

use common::replies::*;
use common::wait_for;

const MESSAGE_ADD: &str = "ONIMCONNECTORMESSAGEADD";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_event_read_again_after_its_job_is_done_is_cleared_and_sent_once() {
    let b = Bridge::start(|_| {}).await;
    b.env
        .c2d
        .client_says(b.env.s.client_existing, "Добрый день");
    b.reply("Здравствуйте! Чем помочь?", &[]);
    let first = b.reader.read_new().await.unwrap();
    assert_eq!((first.events, first.queued), (1, 1), "{first:?}");
    wait_jobs_done(&b.config.database.path, 1).await;
    wait_for("the event cleared by its job", || {
        b.env.portal.offline_rows().is_empty()
    })
    .await;
    assert_eq!(posts_to(&b).len(), 1);

    // The portal hands the same event out once more.
    assert!(b.env.portal.redeliver_offline_event(MESSAGE_ADD));
    assert_eq!(b.env.portal.offline_rows().len(), 1);
    let again = b.reader.read_new().await.unwrap();
    assert_eq!(
        (again.events, again.queued, again.cleared),
        (1, 0, 1),
        "{again:?}"
    );
    let rows = b.env.portal.offline_rows();
    assert!(rows.is_empty(), "the event stays on the portal: {rows:?}");
    // Nothing is queued or sent again, and later reads find nothing.
    assert_eq!(jobs_of(&b.config.database.path, "line_out").await.len(), 1);
    let later = b.reader.read_new().await.unwrap();
    assert_eq!(later.events, 0, "{later:?}");
    assert_eq!(posts_to(&b).len(), 1, "the client got the reply once");
    b.stop().await;
}

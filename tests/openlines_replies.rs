//! Operators' replies from an Open Line to the client, over real HTTP against both
//! simulators with a real SQLite file: the portal queues an `OnImConnectorMessageAdd`
//! offline event, the daemon's reader reserves and stores it, the `line_out` job sends one
//! `POST /messages` to the chat's client on the line's channel, reports the delivery and
//! clears the event. Refusals are shown in the line and marked with `event.offline.error`;
//! reservations a crash left unknown are taken over. Files: openlines_replies_files.rs;
//! crashes: openlines_replies_crash.rs.

mod common;

use chat2desk_b24::sim::faults::FaultKind;
use chat2desk_b24::store::Store;
use common::replies::*;
use common::wait_for;
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_reply_reaches_the_client_once_with_delivery_and_clear() {
    let b = Bridge::start(|c| c.openlines.events_poll_ms = 100).await;
    b.env
        .c2d
        .client_says(b.env.s.client_existing, "Добрый день");
    let im = b.reply(
        "[b]Ольга Смирнова:[/b][br] Здравствуйте! [i]Чем помочь?[/i]",
        &[],
    );
    wait_for("the delivery status", || {
        !b.env.portal.delivered().is_empty()
    })
    .await;
    wait_for("the event cleared", || {
        b.env.portal.offline_rows().is_empty()
    })
    .await;
    let posts = posts_to(&b);
    assert_eq!(posts.len(), 1, "{posts:#?}");
    let p = &posts[0];
    assert_eq!(p["channel_id"], json!(b.env.s.channel));
    assert_eq!(p["transport"], "whatsapp");
    assert_eq!(p["type"], "to_client");
    assert_eq!(p["text"], "Ольга Смирнова: Здравствуйте! Чем помочь?");
    assert_eq!(p["external_id"], format!("b24-line-{im}"));
    let delivered = b.env.portal.delivered();
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert!(delivered[0].starts_with("c2d-msg-"), "{delivered:?}");
    wait_jobs_done(&b.config.database.path, 1).await;

    // Read again (as after a restart): nothing new, the batch closes, nothing sent again.
    let swept = b.reader.sweep().await.unwrap();
    assert_eq!(swept.closed, 1, "{swept:?}");
    let store = Store::open(&b.config.database.path).await.unwrap();
    assert!(store.open_offline_batches().await.unwrap().is_empty());
    assert_eq!(posts_to(&b).len(), 1);
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_signature_is_dropped_when_configured_and_other_events_are_cleared() {
    let b = Bridge::start(|c| {
        c.openlines.operator_name = chat2desk_b24::config::OperatorName::Drop;
    })
    .await;
    b.env
        .c2d
        .client_says(b.env.s.client_existing, "Добрый день");
    b.reply("[b]Ольга:[/b][br]Готово", &[]);
    // A line deleted on the portal is not a reply: logged and cleared, no job.
    b.env
        .portal
        .raise_offline_event("ONIMCONNECTORLINEDELETE", json!(LINE.to_string()), OPERATOR);
    let report = b.reader.read_new().await.unwrap();
    assert_eq!(
        (report.events, report.queued, report.cleared),
        (2, 1, 1),
        "{report:?}"
    );
    wait_jobs_done(&b.config.database.path, 1).await;
    assert_eq!(posts_to(&b)[0]["text"], "Готово");
    assert!(b.env.portal.offline_rows().is_empty());
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_send_is_shown_in_the_line_and_marked_as_an_error_not_retried() {
    let b = Bridge::start(|c| c.openlines.events_poll_ms = 100).await;
    b.env
        .c2d
        .client_says(b.env.s.client_existing, "Добрый день");
    b.env.c2d.refuse_messages(&["Client is blocked"]);
    b.reply("[b]Ольга:[/b][br] Ответ", &[]);
    wait_jobs_done(&b.config.database.path, 1).await;
    let notes: Vec<_> = b
        .env
        .portal
        .line_messages()
        .into_iter()
        .filter(|m| m.chat_id == b.chat())
        .collect();
    assert_eq!(notes.len(), 1, "{notes:#?}");
    assert_eq!(notes[0].line, LINE);
    assert!(
        notes[0].text.contains("Сообщение не доставлено клиенту")
            && notes[0].text.contains("Client is blocked"),
        "{}",
        notes[0].text
    );
    let rows = b.env.portal.offline_rows();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0].3, "marked with event.offline.error: {rows:?}");
    assert!(b.env.portal.delivered().is_empty());
    // Not retried: one attempt, and the worker stays idle.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(posts_to(&b).len(), 1);
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_error_is_retried_and_sent_once() {
    let b = Bridge::start(|c| c.sync.backoff_base_secs = 1).await;
    b.env
        .c2d
        .client_says(b.env.s.client_existing, "Добрый день");
    // The channel lookup passes, `POST /messages` answers 500 once.
    let faults = b.env.c2d.faults();
    faults.set_slow(Duration::ZERO);
    faults.script([FaultKind::Slow, FaultKind::ServerError]);
    b.reply("Повтор", &[]);
    b.reader.read_new().await.unwrap();
    wait_jobs_done(&b.config.database.path, 1).await;
    assert_eq!(
        posts_to(&b).len(),
        1,
        "the 500 was not taken, the retry was"
    );
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", b.config.database.path.display()))
        .await
        .unwrap();
    let attempts: i64 = sqlx::query_scalar("SELECT attempts FROM jobs WHERE kind = 'line_out'")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    assert_eq!(attempts, 1, "one failed attempt before the one that sent");
    let delivered = b.env.portal.delivered();
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert!(b.env.portal.offline_rows().is_empty());
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_reserved_by_a_crashed_reader_are_taken_over() {
    let b = Bridge::start(|_| {}).await;
    b.env
        .c2d
        .client_says(b.env.s.client_existing, "Добрый день");
    b.reply("Первый", &[]);
    b.reply("Второй", &[]);
    // The crashed daemon's get: the portal reserved the rows, the answer never got stored.
    let lost = b
        .app()
        .call(
            "event.offline.get",
            json!({"clear": 0, "limit": 50, "auth_connector": CONNECTOR}),
        )
        .await
        .unwrap();
    assert_eq!(lost["events"].as_array().unwrap().len(), 2);
    let plain = b.reader.read_new().await.unwrap();
    assert_eq!(plain.events, 0, "reserved rows are hidden from a plain get");
    let swept = b.reader.sweep().await.unwrap();
    assert_eq!((swept.taken_over, swept.queued), (1, 2), "{swept:?}");
    wait_jobs_done(&b.config.database.path, 2).await;
    let texts: Vec<Value> = posts_to(&b).iter().map(|p| p["text"].clone()).collect();
    assert_eq!(texts, [json!("Первый"), json!("Второй")], "in order");
    assert!(b.env.portal.offline_rows().is_empty());
    assert_eq!(b.reader.sweep().await.unwrap().closed, 1);
    b.stop().await;
}

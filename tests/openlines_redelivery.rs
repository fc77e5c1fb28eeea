//! An `inbox` webhook delivered again (Chat2Desk re-delivering one it thinks unanswered,
//! several at once, and once more after the message reached the line), with the real
//! binary: the message id is deduplicated in the transaction that queues it, so there is
//! one `line_in` job and the message is in the Open Line once.

mod common;

use chat2desk_b24::flows::openlines::chat_key;
use common::bridge::bridge;
use common::wait_for;
use serde_json::json;
use std::path::Path;

const EXTRA: &str = "[sync]\npoll_strategy = \"off\"\n[openlines]\nevents_poll_ms = 100\n";

/// The `line_in` jobs in the SQLite file `db`: `(job_key, state)`.
async fn line_in_jobs(db: &Path) -> Vec<(i64, String)> {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let rows = sqlx::query_as("SELECT job_key, state FROM jobs WHERE kind = 'line_in'")
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_inbox_webhook_is_one_job_and_one_message_in_the_line() {
    let b = bridge(EXTRA).await;
    let (status, page) = b.connect().await;
    assert_eq!(status, 200, "{page}");
    let client = b
        .env
        .c2d
        .add_client("Клиент", Some("79165550199"), "whatsapp", b.env.s.channel);
    let id = b.env.c2d.client_says(client, "Здравствуйте, есть вопрос");
    // The documented `inbox` payload (chat2desk-api.md §3).
    let inbox = json!({
        "hook_type": "inbox", "message_id": id, "type": "from_client",
        "text": "Здравствуйте, есть вопрос", "transport": "whatsapp",
        "channel_id": b.env.s.channel, "client_id": client, "operator_id": null,
        "attachments": [], "extra_data": {},
        "client": {"id": client, "phone": "79165550199", "client_phone": null,
                   "name": "Клиент", "assigned_name": null, "external_id": null},
    });
    // Five deliveries at once: each is answered 200, one is queued.
    let deliveries = (0..5).map(|_| b.daemon.post_webhook(inbox.clone()));
    let statuses = futures_util::future::join_all(deliveries).await;
    assert_eq!(statuses, [200; 5]);
    let db = b.env.db();
    let chat = chat_key(client);
    let pushed = |b: &common::bridge::Bridge| {
        b.env
            .portal
            .line_messages()
            .into_iter()
            .filter(|m| m.chat_id == chat)
            .map(|m| m.message_id)
            .collect::<Vec<_>>()
    };
    wait_for("the message in the line", || !pushed(&b).is_empty()).await;
    // Once more after it was pushed (a late retry of Chat2Desk's).
    assert_eq!(b.daemon.post_webhook(inbox).await, 200);
    let start = std::time::Instant::now();
    loop {
        let jobs = line_in_jobs(&db).await;
        assert_eq!(jobs.len(), 1, "one job for the message: {jobs:?}");
        if jobs[0].1 == "done" {
            break;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "{jobs:?}; log:\n{}",
            b.daemon.log_tail()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(pushed(&b), [format!("c2d-msg-{id}")], "once in the line");
}

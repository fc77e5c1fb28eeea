//! The real binary, SIGKILLed between two portal calls and restarted: every request ends up
//! with exactly one transcript and every client with one entity.

mod common;

use common::{field, wait_for, Env};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_after_entity_creation_and_between_parts_writes_nothing_twice() {
    let env = Env::new().await;
    // Slow portal answers leave room to kill between two calls.
    env.portal.faults().set_latency(Duration::from_millis(60));
    // A long dialog for a new client (several parts) plus the demo conversations.
    let long_client = env
        .c2d
        .add_client("Длинный", Some("79112223344"), "whatsapp", env.s.channel);
    for i in 0..150 {
        env.c2d.client_says(
            long_client,
            &format!("Реплика {i}: {}", "слово ".repeat(12)),
        );
    }
    let mut requests = chat2desk_b24::sim::scenario::converse(&env.c2d, &env.s);
    requests.push(env.c2d.close_request(long_client));

    // Kill 1: right after the first lead was created.
    let mut daemon = env
        .spawn_daemon("[crm]\nmax_comment_bytes = 6000\n[sync]\npoll_strategy = \"dialogs\"")
        .await;
    wait_for("crm.lead.add", || {
        env.portal
            .calls_by_method()
            .get("crm.lead.add")
            .copied()
            .unwrap_or(0)
            >= 1
    })
    .await;
    daemon.kill9();

    // Kill 2: right after a comment was written (the long transcript has several parts).
    daemon.restart().await;
    let before = env.portal.comments().len();
    wait_for("a comment", || env.portal.comments().len() > before).await;
    daemon.kill9();

    // Kill 3: in the middle of the long transcript's parts.
    daemon.restart().await;
    let before = env.portal.comments().len();
    wait_for("another comment", || env.portal.comments().len() > before).await;
    daemon.kill9();

    env.portal.faults().set_latency(Duration::ZERO);
    daemon.restart().await;
    env.wait_all_done(&requests).await;
    daemon.kill9();

    for r in &requests {
        let comments = env.comments_for(*r);
        let total = chat2desk_b24::flows::transcript::text::find_marker(&comments[0])
            .unwrap()
            .total;
        let mut parts: Vec<usize> = comments
            .iter()
            .map(|c| {
                chat2desk_b24::flows::transcript::text::find_marker(c)
                    .unwrap()
                    .part
            })
            .collect();
        parts.sort_unstable();
        assert_eq!(
            parts,
            (1..=total).collect::<Vec<_>>(),
            "request {r}: each part exactly once"
        );
    }
    // One entity per client: two seeded leads + Сергей + Ольга + Длинный.
    let leads = env.portal.leads();
    assert_eq!(leads.len(), 5, "{leads:#?}");
    let titles: Vec<String> = leads.iter().map(|l| field(l, "TITLE")).collect();
    assert_eq!(titles.iter().filter(|t| t.contains("Длинный")).count(), 1);
    assert_eq!(
        env.portal.notifications().len(),
        1,
        "the reopen notification once"
    );
}

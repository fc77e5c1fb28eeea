//! The real binary, SIGKILLed between two portal calls and restarted: every request ends up
//! with exactly one transcript and every client with one entity.

mod common;

use chat2desk_b24::store::{JobKind, JobState, Store};
use common::{binary, field, Env};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn start(config: &Path) -> Child {
    Command::new(binary())
        .args(["-c", config.to_str().unwrap(), "run"])
        .env("RUST_LOG", "chat2desk_b24=debug")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts")
}

fn kill9(child: &mut Child) {
    // SIGKILL: no drain, no cleanup.
    child.kill().expect("kill");
    child.wait().expect("reaped");
}

async fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_all_done(db: &Path, requests: &[i64]) {
    let store = Store::open(db).await.unwrap();
    let start = Instant::now();
    loop {
        let mut done = 0;
        for r in requests {
            if let Some(job) = store.job(JobKind::Transcript, *r).await.unwrap() {
                assert_ne!(
                    job.state,
                    JobState::Dead,
                    "request {r}: {:?}",
                    job.last_error
                );
                if job.state == JobState::Done {
                    done += 1;
                }
            }
        }
        if done == requests.len() {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "requests not synced after restart"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_after_entity_creation_and_between_parts_writes_nothing_twice() {
    let env = Env::new().await;
    // Slow portal answers leave room to kill between two calls.
    env.portal.faults().set_latency(Duration::from_millis(60));
    let config = env.write_config("lead", "");
    let config_text = std::fs::read_to_string(&config)
        .unwrap()
        .replace(
            "integration = \"lead\"",
            "integration = \"lead\"\nmax_comment_bytes = 6000",
        )
        .replace("[sync]", "[sync]\npoll_strategy = \"dialogs\"");
    std::fs::write(&config, config_text).unwrap();

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
    let mut child = start(&config);
    wait_for("crm.lead.add", Duration::from_secs(30), || {
        env.portal
            .calls_by_method()
            .get("crm.lead.add")
            .copied()
            .unwrap_or(0)
            >= 1
    })
    .await;
    kill9(&mut child);

    // Kill 2: right after a comment was written (the long transcript has several parts).
    let mut child = start(&config);
    let before = env.portal.comments().len();
    wait_for("a comment", Duration::from_secs(30), || {
        env.portal.comments().len() > before
    })
    .await;
    kill9(&mut child);

    // Kill 3: in the middle of the long transcript's parts.
    let mut child = start(&config);
    let before = env.portal.comments().len();
    wait_for("another comment", Duration::from_secs(30), || {
        env.portal.comments().len() > before
    })
    .await;
    kill9(&mut child);

    env.portal.faults().set_latency(Duration::ZERO);
    let mut child = start(&config);
    wait_all_done(&env.db(), &requests).await;
    kill9(&mut child);

    for r in &requests {
        let comments = env.comments_for(*r);
        let total = chat2desk_b24::transcript::find_marker(&comments[0])
            .unwrap()
            .total;
        let mut parts: Vec<usize> = comments
            .iter()
            .map(|c| chat2desk_b24::transcript::find_marker(c).unwrap().part)
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

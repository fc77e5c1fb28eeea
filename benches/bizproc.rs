//! Business-process sends, end to end over loopback: the portal simulator runs a workflow
//! that posts to `POST /bizproc/send` (HTTP/1.0, as the activity does); the daemon sends
//! through the Chat2Desk simulator and completes the workflow with `bizproc.event.send`.
//! Prints the latency from the POST to its 202, to the Chat2Desk `POST /messages`, and to
//! `bizproc.event.send`: one send at a time, then 16 at once. Run with
//! `cargo bench --bench bizproc`.

#[path = "support/timing.rs"]
mod timing;

use chat2desk_b24::app::{Daemon, SpawnOptions};
use chat2desk_b24::config::{PollStrategy, Secret};
use chat2desk_b24::sim::bitrix24::PortalSim;
use chat2desk_b24::sim::chat2desk::Chat2DeskSim;
use chat2desk_b24::sim::scenario;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const SEQUENTIAL: usize = 100;
const CONCURRENT: usize = 16;
const ROUNDS: usize = 10;
const SECRET: &str = "bench-bizproc-secret-0123";

fn main() {
    timing::run(bench());
}

/// `(accepted, message, completed)` of one workflow.
type Sample = (Duration, Duration, Duration);

async fn one(
    c2d: &Chat2DeskSim,
    portal: &PortalSim,
    url: &str,
    channel: &str,
    phone: &str,
) -> Sample {
    let started = Instant::now();
    let (wf, status, body) = portal
        .run_workflow(
            url,
            SECRET,
            &["crm", "CCrmDocumentLead", "LEAD_1"],
            &[
                ("channel_id", channel),
                ("phone", phone),
                ("text", "Добрый день!"),
            ],
            &[],
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let accepted = started.elapsed();
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    let client = c2d.client_by_phone(&digits).expect("known client");
    let mut message = None;
    loop {
        if message.is_none()
            && c2d
                .message_posts()
                .iter()
                .any(|p| p["client_id"] == client && p["external_id"].as_str().is_some())
        {
            message = Some(started.elapsed());
        }
        let done = portal
            .workflows()
            .into_iter()
            .any(|w| w.event_token == wf.event_token && w.completed.is_some());
        if done {
            return (
                accepted,
                message.unwrap_or_else(|| started.elapsed()),
                started.elapsed(),
            );
        }
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
}

fn report(label: &str, samples: &mut [Sample], wall: Duration) {
    let pick = |f: fn(&Sample) -> Duration, samples: &mut [Sample]| {
        let mut v: Vec<Duration> = samples.iter().map(f).collect();
        v.sort();
        let at = |q| timing::quantile_ms(&v, q);
        format!(
            "p50 {:6.1} ms  p95 {:6.1} ms  max {:6.1} ms",
            at(0.5),
            at(0.95),
            at(1.0)
        )
    };
    println!(
        "{label}: {} sends in {:.2} s",
        samples.len(),
        wall.as_secs_f64()
    );
    println!("  POST → 202                 {}", pick(|s| s.0, samples));
    println!("  POST → POST /messages      {}", pick(|s| s.1, samples));
    println!("  POST → bizproc.event.send  {}", pick(|s| s.2, samples));
}

async fn bench() {
    let c2d = Arc::new(Chat2DeskSim::start().await.expect("chat2desk sim"));
    let portal = Arc::new(PortalSim::start().await.expect("portal sim"));
    let s = scenario::seed(&c2d, &portal);
    let clients: Vec<String> = (0..CONCURRENT)
        .map(|i| {
            let phone = format!("7911000{:04}", i);
            let id = c2d.add_client(&format!("Клиент {i}"), Some(&phone), "whatsapp", s.channel);
            c2d.client_says(id, "Здравствуйте");
            phone
        })
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = scenario::config(&c2d, &portal, &s, &dir.path().join("state.db"));
    config.server.listen = "127.0.0.1:0".into();
    config.bizproc.secret = Secret::new(SECRET);
    config.sync.poll_strategy = PollStrategy::Off;
    let options = SpawnOptions::default();
    let daemon = Daemon::spawn(config, options, CancellationToken::new())
        .await
        .expect("the daemon starts");
    let url = format!("http://{}", daemon.webhook_addr().expect("listener"));
    let channel = s.channel.to_string();

    let mut samples = Vec::new();
    let started = Instant::now();
    for i in 0..SEQUENTIAL {
        samples.push(one(&c2d, &portal, &url, &channel, &clients[i % CONCURRENT]).await);
    }
    report("One at a time", &mut samples, started.elapsed());

    let mut samples = Vec::new();
    let started = Instant::now();
    for _ in 0..ROUNDS {
        let mut set = tokio::task::JoinSet::new();
        for phone in &clients {
            let (c2d, portal, url, channel, phone) = (
                c2d.clone(),
                portal.clone(),
                url.clone(),
                channel.clone(),
                phone.clone(),
            );
            set.spawn(async move { one(&c2d, &portal, &url, &channel, &phone).await });
        }
        while let Some(sample) = set.join_next().await {
            samples.push(sample.expect("task"));
        }
    }
    report(
        &format!("{CONCURRENT} at once"),
        &mut samples,
        started.elapsed(),
    );
    let posts = c2d.message_posts().len();
    assert_eq!(
        posts,
        SEQUENTIAL + CONCURRENT * ROUNDS,
        "one message per workflow"
    );
    daemon.stop().await;
}

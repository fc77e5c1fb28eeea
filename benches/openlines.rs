//! The Open Lines bridge's latency both ways, end to end over loopback with the daemon in
//! process: the local application connected through the browser flow, the Chat2Desk webhook
//! registered, the offline-events reader running as on the leading node with
//! `events_poll_ms = 1000`.
//!
//! - Client message → line: from the client writing in Chat2Desk to `imconnector.send.messages`
//!   reaching the portal (webhook delivery, the 400 ms reorder window, the worker), for
//!   `CHATS` chats writing at once, `ROUNDS` messages each.
//! - Operator reply → Chat2Desk: from an operator answering in the line (the portal queues an
//!   `OnImConnectorMessageAdd` offline event) to `POST /messages` reaching Chat2Desk (the
//!   reader's next `event.offline.get`, the `line_out` job), for `CHATS × ROUNDS` replies
//!   written 0–100 ms apart, so they fall anywhere in the poll interval; then `TRICKLE`
//!   replies one at a time (1–1.5 s apart), where only the poll interval and the job count.
//!
//! Prints p50/p95/p99/max; asserts only that every message arrived once each way. Run with
//! `cargo bench --bench openlines`.

#[path = "support/timing.rs"]
mod timing;

use chat2desk_b24::app::{Daemon, SpawnOptions};
use chat2desk_b24::config::{LineConfig, PollStrategy, Secret};
use chat2desk_b24::sim::bitrix24::PortalSim;
use chat2desk_b24::sim::chat2desk::Chat2DeskSim;
use chat2desk_b24::sim::scenario;
use rand::Rng;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const CHATS: usize = 20;
const ROUNDS: usize = 10;
const LINE: i64 = 1;
/// How often the reader fetches operators' replies (the figure).
const EVENTS_POLL_MS: u64 = 1000;
/// The portal user answering.
const OPERATOR: i64 = 27;
/// Replies sent one at a time after the busy round.
const TRICKLE: usize = 20;

fn main() {
    timing::run(bench());
}

async fn bench() {
    let c2d = Chat2DeskSim::start().await.expect("chat2desk sim");
    let portal = Arc::new(PortalSim::start().await.expect("portal sim"));
    let s = scenario::seed(&c2d, &portal);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = scenario::config(&c2d, &portal, &s, &dir.path().join("state.db"));
    let port = timing::free_port();
    let url = format!("http://127.0.0.1:{port}");
    let app = portal.app_config(&url, &["imopenlines", "imconnector", "im", "crm", "user"]);
    let channel = c2d.add_channel("Telegram", "", &["telegram"]);
    config.server.listen = format!("127.0.0.1:{port}");
    config.server.webhook_secret = Secret::new("bench-webhook-secret-0123456789");
    config.sync.poll_strategy = PollStrategy::Off;
    config.bitrix24.app = Some(app);
    config.openlines.lines = vec![LineConfig {
        line: LINE,
        channels: vec![channel],
    }];
    config.openlines.events_poll_ms = EVENTS_POLL_MS;
    let options = SpawnOptions::default();
    let daemon = Daemon::spawn(config, options, CancellationToken::new())
        .await
        .expect("the daemon starts");
    let (status, _) = chat2desk_b24::sim::browser::open(&format!("{url}/bitrix24/connect"))
        .await
        .expect("connect");
    assert_eq!(status, 200, "the app connects");
    chat2desk_b24::cli::webhook_set(daemon.config(), &daemon.services().chat2desk, &url)
        .await
        .expect("webhook set");
    let clients: Vec<i64> = (0..CHATS)
        .map(|i| c2d.add_client(&format!("Клиент {i}"), None, "telegram", channel))
        .collect();

    let line = portal.clone();
    let arrived = watch(move || {
        line.line_messages()
            .into_iter()
            .map(|m| m.message_id)
            .collect()
    });
    let mut written: HashMap<String, Instant> = HashMap::new();
    let started = Instant::now();
    for round in 0..ROUNDS {
        for client in &clients {
            let id = c2d.client_says(*client, &format!("сообщение {round}"));
            written.insert(format!("c2d-msg-{id}"), Instant::now());
        }
        // The clients write every 100 ms.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while arrived.lock().unwrap().len() < written.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let arrived = arrived.lock().unwrap().clone();
    let mut samples: Vec<Duration> = written
        .iter()
        .filter_map(|(id, at)| arrived.get(id).map(|t| t.duration_since(*at)))
        .collect();
    assert_eq!(samples.len(), written.len(), "every message arrived");
    assert_eq!(
        portal.line_messages().len(),
        CHATS * ROUNDS,
        "each message once"
    );
    println!(
        "{CHATS} chats × {ROUNDS} messages in {:.1} s (the reorder window is 400 ms of each)",
        started.elapsed().as_secs_f64()
    );
    timing::report("client message → line", &mut samples);

    // The operators answer; the daemon's reader runs (its node leads).
    let c2d = Arc::new(c2d);
    let chat2desk = c2d.clone();
    let posted = watch(move || {
        chat2desk
            .message_posts()
            .into_iter()
            .filter_map(|p| p["external_id"].as_str().map(str::to_string))
            .collect()
    });
    // A busy line: every chat gets ROUNDS replies, 0–100 ms apart (about 20 per read).
    let (mut samples, took) = answer(&portal, &clients, &posted, ROUNDS, 0..=100).await;
    println!(
        "{} operator replies 0–100 ms apart in {:.1} s (events_poll_ms = {EVENTS_POLL_MS})",
        samples.len(),
        took.as_secs_f64()
    );
    timing::report("operator reply → Chat2Desk", &mut samples);
    // A quiet line: one reply at a time, each at a random moment of the poll interval.
    let quiet = &clients[..1];
    let (mut alone, _) = answer(&portal, quiet, &posted, TRICKLE, 1000..=1500).await;
    timing::report("  one reply at a time", &mut alone);
    assert_eq!(
        c2d.message_posts().len(),
        CHATS * ROUNDS + TRICKLE,
        "each reply once"
    );
    daemon.stop().await;
}

/// `rounds` replies to each of `clients`, each followed by a pause drawn from `pause_ms`;
/// the time each took to reach Chat2Desk (as `posted` saw it), and how long it all took.
async fn answer(
    portal: &PortalSim,
    clients: &[i64],
    posted: &Arc<Mutex<HashMap<String, Instant>>>,
    rounds: usize,
    pause_ms: std::ops::RangeInclusive<u64>,
) -> (Vec<Duration>, Duration) {
    let mut answered: HashMap<String, Instant> = HashMap::new();
    let started = Instant::now();
    for round in 0..rounds {
        for client in clients {
            let im = portal.operator_reply(
                "chat2desk",
                LINE,
                &format!("c2d-{client}"),
                OPERATOR,
                &format!("[b]Оператор:[/b][br] ответ {round}"),
                &[],
            );
            answered.insert(format!("b24-line-{im}"), Instant::now());
            let pause = rand::thread_rng().gen_range(pause_ms.clone());
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while answered
        .keys()
        .any(|id| !posted.lock().unwrap().contains_key(id))
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let took = started.elapsed();
    let posted = posted.lock().unwrap();
    let samples: Vec<Duration> = answered
        .iter()
        .filter_map(|(id, at)| posted.get(id).map(|t| t.duration_since(*at)))
        .collect();
    assert_eq!(samples.len(), answered.len(), "every reply arrived");
    (samples, took)
}

/// When each key first appeared in what `keys` lists (looked at every millisecond).
fn watch(keys: impl Fn() -> Vec<String> + Send + 'static) -> Arc<Mutex<HashMap<String, Instant>>> {
    let arrived = Arc::new(Mutex::new(HashMap::new()));
    let seen = arrived.clone();
    tokio::spawn(async move {
        let mut known = 0;
        loop {
            let keys = keys();
            if keys.len() > known {
                let now = Instant::now();
                let mut seen = seen.lock().unwrap();
                for key in &keys[known..] {
                    seen.entry(key.clone()).or_insert(now);
                }
                known = keys.len();
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    });
    arrived
}

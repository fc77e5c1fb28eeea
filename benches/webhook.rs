//! Webhook intake throughput: 10,000 `close_request` deliveries, 64 at once, over loopback,
//! each answered only after its enqueue committed to SQLite (group commit). The worker is
//! off: this measures the intake. Run with `cargo bench --bench webhook`.

#[path = "support/timing.rs"]
mod timing;

use chat2desk_b24::app::{Daemon, SpawnOptions};
use chat2desk_b24::config::{PollStrategy, Secret};
use chat2desk_b24::sim::bitrix24::PortalSim;
use chat2desk_b24::sim::chat2desk::Chat2DeskSim;
use chat2desk_b24::sim::scenario;
use chat2desk_b24::store::JobKind;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const EVENTS: i64 = 10_000;
const CONCURRENCY: usize = 64;
const SECRET: &str = "bench-secret-0123456789abcdef";

fn main() {
    timing::run(bench());
}

async fn bench() {
    let c2d = Chat2DeskSim::start().await.expect("chat2desk sim");
    let portal = PortalSim::start().await.expect("portal sim");
    let s = scenario::seed(&c2d, &portal);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = scenario::config(&c2d, &portal, &s, &dir.path().join("state.db"));
    config.server.listen = "127.0.0.1:0".into();
    config.server.webhook_secret = Secret::new(SECRET);
    config.sync.poll_strategy = PollStrategy::Off;
    let options = SpawnOptions {
        without_worker: true,
        ..SpawnOptions::default()
    };
    let daemon = Daemon::spawn(config, options, CancellationToken::new())
        .await
        .expect("the daemon starts");
    let url = format!(
        "http://{}/webhook/{SECRET}",
        daemon.webhook_addr().expect("listener")
    );

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()
        .expect("client");
    let next = Arc::new(AtomicI64::new(1));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let (http, url, next) = (http.clone(), url.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let id = next.fetch_add(1, Ordering::Relaxed);
                if id > EVENTS {
                    return latencies;
                }
                let body = serde_json::json!({"hook_type": "close_request", "request_id": id,
                    "dialog_id": id, "client_id": 1, "event_time": "2026-01-01T00:00:00Z"});
                let t = Instant::now();
                let answer = http.post(&url).json(&body).send().await.expect("answer");
                assert_eq!(answer.status(), 200);
                latencies.push(t.elapsed());
            }
        }));
    }
    let mut latencies: Vec<Duration> = Vec::new();
    for t in tasks {
        latencies.extend(t.await.expect("sender"));
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    let store = &daemon.services().store;
    let queued = store.counts().await.expect("counts").pending;
    assert_eq!(
        queued, EVENTS as u64,
        "every acknowledged delivery is in the queue"
    );
    assert!(store
        .job(JobKind::TRANSCRIPT, EVENTS)
        .await
        .expect("job")
        .is_some());
    println!(
        "webhook intake: {EVENTS} durable acks in {:.2} s = {:.0} acks/s (concurrency {CONCURRENCY}); \
         latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        elapsed.as_secs_f64(),
        EVENTS as f64 / elapsed.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        latencies.last().expect("latencies").as_secs_f64() * 1e3,
    );
    daemon.stop().await;
}

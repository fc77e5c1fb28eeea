//! Performance of the real binary against the in-process simulators on loopback
//! (`cargo bench --bench perf`); prints a table, asserts nothing about speed.
//!
//! a. a backlog of closed requests of clients with an open lead (unlimited portal);
//! b. the same for new clients (each gets a lead);
//! c. a backlog under a 2 req/s, burst 50 portal limit with the client budgeted the same;
//! d. idle RSS, binary size, start-to-ready time.
//!
//! Throughput: the daemon is stopped after its first poll, the backlog is closed, and the
//! clock runs from the restart to a settled queue. Latency (close → job done): afterwards,
//! requests are closed at a steady rate while the daemon runs; the job's last update is the
//! moment its last comment was written. RSS is the binary's own (`/proc/<pid>/status`
//! `VmHWM`/`VmRSS`), not this process's. `PERF_REQUESTS`, `PERF_LIMITED` and `PERF_WORKERS`
//! change the sizes.

#[path = "support/rig.rs"]
mod rig;

use chrono::{DateTime, Utc};
use rig::{Daemon, Mix, Rig};
use std::path::Path;
use std::time::{Duration, Instant};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One scenario's numbers.
struct Row {
    name: String,
    requests: usize,
    elapsed: Duration,
    portal_calls: u64,
    latency: Option<(Duration, Duration)>,
    peak_rss_kib: u64,
    extra: String,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Starts the daemon, waits for its first poll and stops it: the messages cursor is set, so
/// everything closed afterwards is new traffic.
async fn prime(rig: &Rig, config: &Path) {
    let mut d = Daemon::spawn(config, &rig.log(), "warn");
    d.wait_ready(Duration::from_secs(30));
    rig.wait_first_poll(Duration::from_secs(30)).await;
    d.stop();
}

/// A backlog of `n` requests (one per client), then `steady` more at `rate` per second.
async fn backlog(
    name: &str,
    n: usize,
    mix: Mix,
    workers: usize,
    limit: Option<(f64, u32)>,
    steady: usize,
) -> Row {
    let rig = Rig::new(n + steady, mix).await;
    let extra = match limit {
        Some((rps, burst)) => format!("requests_per_second = {rps}\nburst = {burst}"),
        None => String::new(),
    };
    let config = rig.write_config("messages", workers, "");
    // The unlimited config primes; the limited one (if any) is written after.
    prime(&rig, &config).await;
    if !extra.is_empty() {
        // Only the portal's budget changes; Chat2Desk stays unlimited.
        let text = std::fs::read_to_string(&config).unwrap();
        let (head, tail) = text.split_at(text.find("[bitrix24]").unwrap());
        let tail = tail.replacen("requests_per_second = 0", &extra, 1);
        std::fs::write(&config, format!("{head}{tail}")).unwrap();
    }
    if let Some((rps, burst)) = limit {
        rig.portal.set_rate_limit(rps, burst);
    }
    let mut all: Vec<(i64, i64, DateTime<Utc>)> = rig.clients[..n]
        .iter()
        .map(|client| {
            let (request, at) = rig.converse(client, 0);
            (request, client.id, at)
        })
        .collect();
    let calls_before = rig.portal.http_requests();
    let mut d = Daemon::spawn(&config, &rig.log(), "warn");
    let start = Instant::now();
    d.wait_ready(Duration::from_secs(30));
    rig.wait_settled(n, Duration::from_secs(3_600)).await;
    let elapsed = start.elapsed();
    let portal_calls = rig.portal.http_requests() - calls_before;
    let rejections = rig.portal.rate_limit_rejections();

    // Steady traffic for latency: 100 requests every 500 ms.
    let mut closed: Vec<(i64, i64, DateTime<Utc>)> = Vec::new();
    for chunk in rig.clients[n..].chunks(100) {
        for client in chunk {
            let (request, at) = rig.converse(client, 1);
            closed.push((request, client.id, at));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    rig.wait_settled(n + steady, Duration::from_secs(600)).await;
    let peak = d.memory_kib("VmHWM").unwrap_or(0);
    d.stop();
    let latency = if closed.is_empty() {
        None
    } else {
        all.extend(closed.iter().cloned());
        let done = rig.verify(&all).await;
        let mut lat: Vec<Duration> = closed
            .iter()
            .map(|(r, _, at)| (done[r] - *at).to_std().unwrap_or_default())
            .collect();
        lat.sort();
        Some((percentile(&lat, 0.5), percentile(&lat, 0.99)))
    };
    let extra = match limit {
        Some((rps, burst)) => {
            let bound = (portal_calls.saturating_sub(u64::from(burst))) as f64 / rps;
            format!(
                "limit {rps} req/s burst {burst}: lower bound {bound:.1} s for {portal_calls} calls, elapsed/bound {:.3}, limit rejections {rejections}",
                elapsed.as_secs_f64() / bound.max(f64::MIN_POSITIVE)
            )
        }
        None => format!("limit rejections {rejections}"),
    };
    Row {
        name: name.to_string(),
        requests: n,
        elapsed,
        portal_calls,
        latency,
        peak_rss_kib: peak,
        extra,
    }
}

/// d: idle RSS, binary size, start-to-ready.
async fn idle() -> String {
    let rig = Rig::new(0, Mix::New).await;
    let config = rig.write_config("messages", 16, "");
    let mut readiness = Vec::new();
    let mut rss = 0;
    for _ in 0..3 {
        let mut d = Daemon::spawn(&config, &rig.log(), "warn");
        readiness.push(d.wait_ready(Duration::from_secs(30)));
        rig.wait_first_poll(Duration::from_secs(30)).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        rss = d.memory_kib("VmRSS").unwrap_or(0);
        d.stop();
    }
    readiness.sort();
    let size = std::fs::metadata(rig::fixture::binary())
        .map(|m| m.len())
        .unwrap_or(0);
    format!(
        "d. idle RSS after start and polls: {:.1} MiB (VmRSS); binary {:.1} MiB ({size} B); start→READY=1 median {:.0} ms (runs: {:?}; first start migrates the database)",
        rss as f64 / 1024.0,
        size as f64 / 1_048_576.0,
        readiness[1].as_secs_f64() * 1000.0,
        readiness.iter().map(|d| d.as_millis()).collect::<Vec<_>>()
    )
}

fn main() {
    let n = env_or("PERF_REQUESTS", 10_000);
    let limited = env_or("PERF_LIMITED", 2_000);
    let workers = env_or("PERF_WORKERS", 32);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let rows = runtime.block_on(async {
        vec![
            backlog(
                "a. existing clients",
                n,
                Mix::Existing,
                workers,
                None,
                1_000,
            )
            .await,
            backlog("b. new clients", n, Mix::New, workers, None, 1_000).await,
            backlog(
                "c. 2 req/s burst 50",
                limited,
                Mix::Existing,
                workers.max(48),
                Some((2.0, 50)),
                0,
            )
            .await,
        ]
    });
    println!(
        "{:<22} {:>8} {:>9} {:>13} {:>11} {:>9} {:>9} {:>10}",
        "scenario", "requests", "elapsed", "transcripts/s", "calls/tr.", "p50", "p99", "peak RSS"
    );
    for r in &rows {
        let (p50, p99) = r
            .latency
            .map(|(a, b)| {
                (
                    format!("{:.0} ms", a.as_secs_f64() * 1e3),
                    format!("{:.0} ms", b.as_secs_f64() * 1e3),
                )
            })
            .unwrap_or(("-".into(), "-".into()));
        println!(
            "{:<22} {:>8} {:>8.1}s {:>13.0} {:>11.3} {:>9} {:>9} {:>7.1} MiB",
            r.name,
            r.requests,
            r.elapsed.as_secs_f64(),
            r.requests as f64 / r.elapsed.as_secs_f64(),
            r.portal_calls as f64 / r.requests as f64,
            p50,
            p99,
            r.peak_rss_kib as f64 / 1024.0
        );
        println!("{:<22} {}", "", r.extra);
    }
    println!("(workers = {workers}, scenario c uses {}; latency from 1,000 requests closed at 200/s after the backlog; poll every 1 s)", workers.max(48));
    println!("{}", runtime.block_on(idle()));
}

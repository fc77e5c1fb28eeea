//! One node on SQLite against one and two nodes on MariaDB, in one run
//! (`cargo bench --bench nodes`); prints a table, asserts nothing about speed.
//!
//! a. transcripts/s: the real binary(ies) against the in-process simulators (no faults, no
//!    rate limits), a backlog of closed requests of clients with an open lead, from the
//!    start of the node(s) to a settled queue;
//! b. claim latency: `Store::claim` of 8 jobs then `complete` each, by one or two claimers
//!    (two pools with two node names = two nodes) over a backlog, per claim p50/p99;
//! c. leader takeover: two idle nodes on MariaDB, the leader SIGKILLed, the time until the
//!    other node holds the leader lease and until its poller has polled.
//!
//! `NODES_REQUESTS` (default 1000) and `NODES_CLAIMS` (default 4000) change the sizes.
//! MariaDB is the Debian package's server, started on loopback for the run.

#[path = "support/rig.rs"]
mod rig;

#[path = "support/mariadb.rs"]
mod mariadb;

use chat2desk_b24::config::Secret;
use chat2desk_b24::store::{Intake, JobKind, Location, Store, LEADER};
use rig::{Daemon, Mix, Rig};
use std::time::{Duration, Instant};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const NAMES: [&str; 2] = ["node-a", "node-b"];

/// Transcripts per second with `nodes` daemons on `shared` (None = SQLite).
async fn throughput(n: usize, nodes: usize, shared: Option<String>) -> f64 {
    let mut rig = Rig::new(n, Mix::Existing).await;
    rig.shared_db = shared;
    let configs: Vec<_> = NAMES[..nodes]
        .iter()
        .map(|name| rig.write_node_config(Some(name), "messages", 16, ""))
        .collect();
    // Prime: the first poll sets the cursor, so the backlog below is new traffic.
    let mut first = Daemon::spawn(&configs[0], &rig.log(), "warn");
    first.wait_ready(Duration::from_secs(30));
    rig.wait_first_poll(Duration::from_secs(30)).await;
    first.stop();
    for client in rig.clients.clone() {
        rig.converse(&client, 0);
    }
    let start = Instant::now();
    let daemons: Vec<Daemon> = configs
        .iter()
        .map(|c| Daemon::spawn(c, &rig.log(), "warn"))
        .collect();
    rig.wait_settled(n, Duration::from_secs(600)).await;
    let elapsed = start.elapsed();
    for d in daemons {
        d.stop();
    }
    n as f64 / elapsed.as_secs_f64()
}

/// Per-claim latencies (claim 8, complete each) of `claimers` nodes over `n` jobs.
async fn claim_latency(
    location: &Location,
    n: usize,
    claimers: usize,
) -> (Duration, Duration, f64) {
    let store = Store::connect(location, "bench").await.unwrap();
    let keys: Vec<i64> = (1..=n as i64).collect();
    for chunk in keys.chunks(500) {
        store
            .enqueue_many(JobKind::TRANSCRIPT, chunk, Intake::Backfill)
            .await
            .unwrap();
    }
    let start = Instant::now();
    let mut tasks = Vec::new();
    for name in &NAMES[..claimers] {
        let store = Store::connect(location, name).await.unwrap();
        tasks.push(tokio::spawn(async move {
            let mut took = Vec::new();
            loop {
                let t = Instant::now();
                let jobs = store
                    .claim(chrono::Utc::now(), Duration::from_secs(30), 8)
                    .await
                    .unwrap();
                took.push(t.elapsed());
                if jobs.is_empty() {
                    return took;
                }
                for job in jobs {
                    store
                        .complete(job.id, &serde_json::json!({}))
                        .await
                        .unwrap();
                }
            }
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    all.sort();
    let p = |q: f64| all[((all.len() - 1) as f64 * q) as usize];
    (p(0.5), p(0.99), rate)
}

/// Kills the leader of two idle nodes `rounds` times: (lease taken over, first poll).
async fn takeovers(url: &str, rounds: usize) -> Vec<(Duration, Duration)> {
    let mut rig = Rig::new(10, Mix::Existing).await;
    rig.shared_db = Some(url.to_string());
    let configs: Vec<_> = NAMES
        .iter()
        .map(|name| rig.write_node_config(Some(name), "messages", 4, ""))
        .collect();
    let spawn = |i: usize| {
        let mut d = Daemon::spawn(&configs[i], &rig.log(), "warn");
        d.wait_ready(Duration::from_secs(30));
        d
    };
    let mut nodes = vec![Some(spawn(0)), Some(spawn(1))];
    rig.wait_first_poll(Duration::from_secs(30)).await;
    let store = rig.store().await;
    let mut out = Vec::new();
    for _ in 0..rounds {
        let holder = loop {
            if let Some((h, _, _)) = store
                .lease_holder(LEADER, chrono::Utc::now())
                .await
                .unwrap()
            {
                break h;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let leader = NAMES.iter().position(|n| *n == holder).unwrap();
        nodes[leader].take().unwrap().kill9();
        let killed = Instant::now();
        let killed_ms = chrono::Utc::now().timestamp_millis();
        let mut lease_at = None;
        let poll_at = loop {
            let h = store
                .lease_holder(LEADER, chrono::Utc::now())
                .await
                .unwrap();
            if lease_at.is_none() && h.is_some_and(|(h, _, _)| h == NAMES[1 - leader]) {
                lease_at = Some(killed.elapsed());
            }
            let polled = store
                .meta(chat2desk_b24::store::LAST_POLL_KEY)
                .await
                .unwrap()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
                .is_some_and(|t| t.timestamp_millis() > killed_ms);
            if lease_at.is_some() && polled {
                break killed.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        out.push((lease_at.unwrap(), poll_at));
        nodes[leader] = Some(spawn(leader));
    }
    for d in nodes.into_iter().flatten() {
        d.stop();
    }
    out
}

fn main() {
    let requests = env_or("NODES_REQUESTS", 1000);
    let claims = env_or("NODES_CLAIMS", 4000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let server = mariadb::MariaDb::start().expect("MariaDB for the bench");
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let rows: Vec<(&str, Option<String>, usize, Location)> = vec![
            (
                "1 node, SQLite",
                None,
                1,
                Location::Sqlite(dir.path().join("claims.db")),
            ),
            (
                "1 node, MariaDB",
                Some(server.create_database()),
                1,
                Location::MySql(Secret::new(server.create_database())),
            ),
            (
                "2 nodes, MariaDB",
                Some(server.create_database()),
                2,
                Location::MySql(Secret::new(server.create_database())),
            ),
        ];
        println!(
            "nodes bench: {requests} transcripts (clients with an open lead, no faults), \
             {claims} claimed jobs, 16 workers per node, MariaDB {} on loopback",
            server.sql("SELECT VERSION()").trim()
        );
        println!(
            "  {:<18} {:>14} {:>11} {:>11} {:>12}",
            "setup", "transcripts/s", "claim p50", "claim p99", "store jobs/s"
        );
        for (name, shared, nodes, claim_db) in rows {
            let tps = throughput(requests, nodes, shared).await;
            let (p50, p99, rate) = claim_latency(&claim_db, claims, nodes).await;
            println!(
                "  {name:<18} {tps:>14.1} {:>9.2}ms {:>9.2}ms {rate:>12.0}",
                p50.as_secs_f64() * 1e3,
                p99.as_secs_f64() * 1e3
            );
        }
        let url = server.create_database();
        let t = takeovers(&url, 3).await;
        println!("leader takeover (2 idle nodes on MariaDB, leader SIGKILLed, [node] lease_secs = 3):");
        for (i, (lease, poll)) in t.iter().enumerate() {
            println!(
                "  round {}: lease taken over after {:.2} s, first poll on the new leader after {:.2} s",
                i + 1,
                lease.as_secs_f64(),
                poll.as_secs_f64()
            );
        }
    });
}

//! The chaos soak: the real binary against both simulators failing ~10 % of calls in every
//! way they can, SIGKILLed and restarted at random moments while conversations close; at the
//! end every request has exactly one transcript and every client one entity.
#![allow(dead_code)]

use crate::rig::{Daemon, Mix, Rig};
use chat2desk_b24::sim::faults::FaultKind;
use chat2desk_b24::store::QueueCounts;
use rand::Rng;
use std::time::{Duration, Instant};

/// Size and shape of one soak.
#[derive(Debug, Clone)]
pub struct Soak {
    /// Closed requests in total.
    pub requests: usize,
    /// How many of them are a returning client's second request (closed after the first
    /// one; the "dialogs" strategy may miss a first request when both close between two
    /// polls, so use 0 there).
    pub returning: usize,
    /// SIGKILLs (each followed by a restart).
    pub kills: usize,
    /// `[sync] poll_strategy`.
    pub strategy: &'static str,
    /// `[sync] workers`.
    pub workers: usize,
    /// Share of calls to each simulator that fail.
    pub fault_rate: f64,
    /// Conversations closed per tick of 100 ms.
    pub per_tick: usize,
    /// Longest wait for the queue to settle after the last kill.
    pub settle_timeout: Duration,
}

/// What a soak did.
#[derive(Debug, Clone)]
pub struct SoakReport {
    /// Requests closed.
    pub requests: usize,
    /// Clients that had at least one request.
    pub clients: usize,
    /// SIGKILLs done.
    pub kills: usize,
    /// From the first start to a settled queue.
    pub elapsed: Duration,
    /// Final queue counts.
    pub counts: QueueCounts,
    /// Portal HTTP requests (faulted ones included).
    pub portal_http: u64,
    /// Chat2Desk HTTP requests (faulted ones included).
    pub chat2desk_http: u64,
    /// Comments written.
    pub comments: usize,
}

/// Runs one soak and checks every invariant (panics on a violation).
pub async fn soak(opts: &Soak) -> SoakReport {
    let started = Instant::now();
    let second = opts.returning.min(opts.requests / 2);
    let rig = Rig::new(opts.requests - second, Mix::Mixed).await;
    let config = rig.write_config(opts.strategy, opts.workers, "");
    for faults in [rig.c2d.faults(), rig.portal.faults()] {
        faults.set_hang(Duration::from_millis(300));
        faults.set_slow(Duration::from_millis(40));
        faults.set_random(opts.fault_rate, &FaultKind::ALL);
    }
    // A busy portal: the duplicate search sees a new lead only a moment after it is saved.
    rig.portal.set_search_lag(Duration::from_secs(1));
    let log_filter = "chat2desk_b24=info";
    let mut daemon = Daemon::spawn(&config, &rig.log(), log_filter);
    rig.wait_first_poll(Duration::from_secs(60)).await;

    // The order of conversations: every client once, then a tenth of them again.
    let plan: Vec<(usize, usize)> = (0..rig.clients.len())
        .map(|i| (i, 0))
        .chain((0..second).map(|i| (i * 9 % rig.clients.len(), 1)))
        .collect();
    let tick = Duration::from_millis(100);
    let generation = tick * plan.len().div_ceil(opts.per_tick.max(1)) as u32;
    let window = generation.mul_f64(1.5) + Duration::from_secs(1);
    let mut kill_at: Vec<Duration> = {
        let mut rng = rand::thread_rng();
        (0..opts.kills)
            .map(|_| Duration::from_millis(rng.gen_range(300..window.as_millis() as u64)))
            .collect()
    };
    kill_at.sort();
    kill_at.reverse();

    let mut requests = Vec::with_capacity(plan.len());
    let mut next = plan.iter();
    let mut kills = 0;
    let traffic_start = Instant::now();
    loop {
        let mut generated_all = true;
        for (i, turn) in next.by_ref().take(opts.per_tick) {
            let client = &rig.clients[*i];
            let (request, closed) = rig.converse(client, *turn);
            requests.push((request, client.id, closed));
            generated_all = false;
        }
        if kill_at
            .last()
            .is_some_and(|at| traffic_start.elapsed() >= *at)
        {
            kill_at.pop();
            daemon.kill9();
            kills += 1;
            let pause = rand::thread_rng().gen_range(0..150);
            tokio::time::sleep(Duration::from_millis(pause)).await;
            daemon = Daemon::spawn(&config, &rig.log(), log_filter);
        }
        if generated_all && kill_at.is_empty() {
            break;
        }
        tokio::time::sleep(tick).await;
    }

    let counts = rig.wait_settled(requests.len(), opts.settle_timeout).await;
    daemon.kill9();
    let elapsed = started.elapsed();
    rig.verify(&requests).await;
    let clients: std::collections::HashSet<i64> = requests.iter().map(|r| r.1).collect();
    SoakReport {
        requests: requests.len(),
        clients: clients.len(),
        kills,
        elapsed,
        counts,
        portal_http: rig.portal.http_requests(),
        chat2desk_http: rig.c2d.api_calls(),
        comments: rig.portal.comments().len(),
    }
}

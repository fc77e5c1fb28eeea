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

/// What a two-node soak did, beyond [`SoakReport`].
#[derive(Debug, Clone)]
pub struct TwoNodeReport {
    /// The soak's own numbers.
    pub soak: SoakReport,
    /// SIGKILLs of the node that led at that moment.
    pub leader_kills: usize,
    /// For each leader kill: from the SIGKILL until the other node held the leader lease.
    pub lease_takeovers: Vec<Duration>,
    /// For each leader kill: from the SIGKILL until the other node had polled successfully.
    pub takeovers: Vec<Duration>,
    /// Requests each node completed (`jobs.node` of done jobs).
    pub done_by_node: std::collections::BTreeMap<String, u64>,
}

/// Two real daemons (`node-a`, `node-b`) on the MariaDB database at `url`, both services
/// failing `fault_rate` of their calls, SIGKILLs alternating between the leader and the
/// other node (a killed node comes back under its name after a short pause, or, once, only
/// after the other node has taken its poller over). Checks every invariant.
pub async fn soak_two_nodes(opts: &Soak, url: &str) -> TwoNodeReport {
    use chat2desk_b24::store::LEADER;
    let started = Instant::now();
    let second = opts.returning.min(opts.requests / 2);
    let mut rig = Rig::new(opts.requests - second, Mix::Mixed).await;
    rig.shared_db = Some(url.to_string());
    let names = ["node-a", "node-b"];
    let configs: Vec<_> = names
        .iter()
        .map(|n| rig.write_node_config(Some(n), opts.strategy, opts.workers, ""))
        .collect();
    for faults in [rig.c2d.faults(), rig.portal.faults()] {
        faults.set_hang(Duration::from_millis(300));
        faults.set_slow(Duration::from_millis(40));
        faults.set_random(opts.fault_rate, &FaultKind::ALL);
    }
    rig.portal.set_search_lag(Duration::from_secs(1));
    let log_filter = "chat2desk_b24=info";
    let spawn = |i: usize| Daemon::spawn(&configs[i], &rig.log(), log_filter);
    let mut nodes: Vec<Option<Daemon>> = vec![Some(spawn(0)), Some(spawn(1))];
    rig.wait_first_poll(Duration::from_secs(60)).await;
    let store = rig.store().await;

    let plan: Vec<(usize, usize)> = (0..rig.clients.len())
        .map(|i| (i, 0))
        .chain((0..second).map(|i| (i * 9 % rig.clients.len(), 1)))
        .collect();
    let tick = Duration::from_millis(100);
    let generation = tick * plan.len().div_ceil(opts.per_tick.max(1)) as u32;
    let window = generation.mul_f64(1.2) + Duration::from_secs(1);
    let mut kill_at: Vec<Duration> = {
        let mut rng = rand::thread_rng();
        (0..opts.kills)
            .map(|_| Duration::from_millis(rng.gen_range(500..window.as_millis() as u64)))
            .collect()
    };
    kill_at.sort();
    kill_at.reverse();

    let mut requests = Vec::with_capacity(plan.len());
    let mut next = plan.iter();
    let (mut kills, mut leader_kills) = (0, 0);
    let mut takeovers = Vec::new();
    let mut lease_takeovers = Vec::new();
    let mut lease_seen = false;
    // A killed node, when it comes back (`None`: once the other node took the poller over),
    // and when it was killed (monotonic, and unix ms to compare with the database).
    let mut down: Option<(usize, Option<Instant>, Instant, i64)> = None;
    let mut gone_for_good = false;
    let traffic_start = Instant::now();
    loop {
        let mut generated_all = true;
        for (i, turn) in next.by_ref().take(opts.per_tick) {
            let client = &rig.clients[*i];
            let (request, closed) = rig.converse(client, *turn);
            requests.push((request, client.id, closed));
            generated_all = false;
        }
        // Bring a killed node back when its time has come.
        if let Some((i, back_at, killed, killed_ms)) = down {
            let leader = store
                .lease_holder(LEADER, chrono::Utc::now())
                .await
                .ok()
                .flatten();
            let other_leads = leader.as_ref().is_some_and(|(holder, since, _)| {
                holder == names[1 - i] && since.timestamp_millis() >= killed_ms
            });
            let last_poll = store
                .meta(chat2desk_b24::store::LAST_POLL_KEY)
                .await
                .ok()
                .flatten()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok());
            let polled = last_poll.is_some_and(|t| t.timestamp_millis() > killed_ms);
            if back_at.is_none() && other_leads && !lease_seen {
                lease_seen = true;
                lease_takeovers.push(killed.elapsed());
            }
            let taken_over = back_at.is_none() && other_leads && polled;
            if taken_over {
                takeovers.push(killed.elapsed());
            }
            let due = match back_at {
                Some(at) => Instant::now() >= at,
                None => taken_over || killed.elapsed() > Duration::from_secs(30),
            };
            if due && !gone_for_good {
                nodes[i] = Some(spawn(i));
            }
            if due {
                down = None;
                lease_seen = false;
            }
        }
        if down.is_none()
            && kill_at
                .last()
                .is_some_and(|at| traffic_start.elapsed() >= *at)
        {
            kill_at.pop();
            // Who leads right now (a loaded machine may be between two leases for a moment).
            let mut holder = None;
            for _ in 0..100 {
                holder = store
                    .lease_holder(LEADER, chrono::Utc::now())
                    .await
                    .ok()
                    .flatten();
                if holder.is_some() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let leader = holder.and_then(|(h, _, _)| names.iter().position(|n| *n == h));
            // Even kills hit the leader, odd ones the other node.
            let victim = match leader {
                Some(l) if kills % 2 == 0 => l,
                Some(l) => 1 - l,
                None => kills % 2,
            };
            if leader == Some(victim) {
                leader_kills += 1;
            }
            nodes[victim].take().expect("node runs").kill9();
            kills += 1;
            let killed = Instant::now();
            // A leader stays down until the other node polled (the takeover is measured);
            // a follower comes back after a short pause.
            let back_at = if leader == Some(victim) {
                None
            } else {
                Some(killed + Duration::from_millis(rand::thread_rng().gen_range(0..300)))
            };
            // The last kill is for good: the other node finishes everything, the dead
            // node's leased jobs once their leases end.
            gone_for_good = kill_at.is_empty();
            down = Some((
                victim,
                back_at,
                killed,
                chrono::Utc::now().timestamp_millis(),
            ));
        }
        if generated_all && kill_at.is_empty() && down.is_none() {
            break;
        }
        tokio::time::sleep(tick).await;
    }

    let counts = rig.wait_settled(requests.len(), opts.settle_timeout).await;
    for node in nodes.into_iter().flatten() {
        node.kill9();
    }
    let elapsed = started.elapsed();
    rig.verify(&requests).await;
    let mut done_by_node = std::collections::BTreeMap::new();
    for (request, _, _) in &requests {
        let job = store
            .job(chat2desk_b24::store::JobKind::TRANSCRIPT, *request)
            .await
            .unwrap()
            .unwrap();
        *done_by_node
            .entry(job.node.unwrap_or_default())
            .or_insert(0) += 1;
    }
    store.close().await;
    let clients: std::collections::HashSet<i64> = requests.iter().map(|r| r.1).collect();
    TwoNodeReport {
        soak: SoakReport {
            requests: requests.len(),
            clients: clients.len(),
            kills,
            elapsed,
            counts,
            portal_http: rig.portal.http_requests(),
            chat2desk_http: rig.c2d.api_calls(),
            comments: rig.portal.comments().len(),
        },
        leader_kills,
        lease_takeovers,
        takeovers,
        done_by_node,
    }
}

//! Chaos soak at full size: 10,000 closed requests, ≥ 20 SIGKILLs, 10 % faults of every kind
//! on both simulators (`cargo bench --bench chaos`). Same harness as `tests/chaos.rs`.
//! `CHAOS_REQUESTS` and `CHAOS_KILLS` override the size.

#[path = "support/rig.rs"]
mod rig;

#[path = "support/chaos.rs"]
mod chaos;

use chaos::{soak, Soak};
use std::time::Duration;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let requests = env_or("CHAOS_REQUESTS", 10_000);
    let kills = env_or("CHAOS_KILLS", 24);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let opts = Soak {
        requests,
        returning: requests / 10,
        kills,
        strategy: "messages",
        workers: 16,
        fault_rate: 0.1,
        per_tick: 50,
        settle_timeout: Duration::from_secs(1_800),
    };
    let r = runtime.block_on(soak(&opts));
    println!("chaos soak (messages strategy, 16 workers, 10% faults of every kind on both sides)");
    println!("  requests closed       {}", r.requests);
    println!("  clients               {}", r.clients);
    println!("  SIGKILLs + restarts   {}", r.kills);
    println!("  elapsed               {:.1} s", r.elapsed.as_secs_f64());
    println!("  queue at the end      {:?}", r.counts);
    println!("  comments written      {}", r.comments);
    println!("  portal HTTP requests  {}", r.portal_http);
    println!("  Chat2Desk HTTP calls  {}", r.chat2desk_http);
    println!("  invariants            all held (exactly one transcript per request, one entity per client, nothing pending, dead jobs have reasons)");
}

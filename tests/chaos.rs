//! Chaos soak at CI size: the real binary against both simulators failing ~10 % of their
//! calls in every way they can, SIGKILLed and restarted at random moments while requests
//! close. Every request ends with exactly one transcript, every client with one entity, and
//! the queue with nothing pending. `benches/chaos.rs` runs the same harness at 10,000.

#[path = "../benches/support/rig.rs"]
mod rig;

#[path = "../benches/support/chaos.rs"]
mod chaos;

use chaos::{soak, Soak};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_with_messages_strategy_survives_faults_and_sigkills() {
    let report = soak(&Soak {
        requests: 500,
        returning: 50,
        kills: 5,
        strategy: "messages",
        workers: 16,
        fault_rate: 0.1,
        per_tick: 10,
        settle_timeout: Duration::from_secs(120),
    })
    .await;
    println!("{report:?}");
    assert_eq!(report.kills, 5);
    assert_eq!(report.counts.done as usize, report.requests);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_with_dialogs_strategy_survives_faults_and_sigkills() {
    let report = soak(&Soak {
        requests: 150,
        returning: 0,
        kills: 3,
        strategy: "dialogs",
        workers: 16,
        fault_rate: 0.1,
        per_tick: 10,
        settle_timeout: Duration::from_secs(90),
    })
    .await;
    println!("{report:?}");
    assert_eq!(report.counts.done as usize, report.requests);
}

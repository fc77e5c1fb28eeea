//! The Bitrix24 client against the simulated portal over real HTTP on loopback.

#[path = "bitrix24_client/batching.rs"]
mod batching;
#[path = "bitrix24_client/failures.rs"]
mod failures;
#[path = "bitrix24_client/methods.rs"]
mod methods;
#[path = "bitrix24_client/simulator.rs"]
mod simulator;

use chat2desk_b24::config::Secret;
use chat2desk_b24::http::Backoff;
use chat2desk_b24::portal::{Bitrix24, Bitrix24Options, BitrixError};
use chat2desk_b24::sim::bitrix24::PortalSim;
use std::time::Duration;

pub(crate) fn options(webhook_url: &str) -> Bitrix24Options {
    Bitrix24Options {
        webhook_url: Secret::new(webhook_url),
        ca_file: None,
        requests_per_second: 0.0,
        burst: 50,
        timeout: Duration::from_millis(400),
        batch_linger: Duration::from_millis(40),
        max_retries: 4,
        backoff: Backoff::new(Duration::from_millis(10), Duration::from_millis(40)),
    }
}

pub(crate) async fn portal() -> (PortalSim, Bitrix24) {
    let sim = PortalSim::start().await.unwrap();
    let client = Bitrix24::new(options(&sim.webhook_url())).unwrap();
    (sim, client)
}

pub(crate) fn secret_of(sim: &PortalSim) -> String {
    sim.webhook_url()
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap()
        .to_string()
}

pub(crate) fn assert_no_secret(err: &BitrixError, secret: &str) {
    let shown = format!("{err} | {err:?} | {}", err.hint());
    assert!(!shown.contains(secret), "secret leaked: {shown}");
}

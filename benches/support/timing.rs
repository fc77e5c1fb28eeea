//! What the latency benches share: their runtime (two worker threads, as on the CI machine),
//! a free loopback port for the daemon's listener, and the percentile line they print.
#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

/// Runs `bench` on a runtime with two worker threads.
pub fn run(bench: impl Future<Output = ()>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(bench);
}

/// A loopback port nobody listens on now (the daemon's `[server] listen`).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The `q` quantile of sorted `samples`, in milliseconds.
pub fn quantile_ms(samples: &[Duration], q: f64) -> f64 {
    samples[((samples.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1000.0
}

/// Prints `label`, the count and p50/p95/p99/max of `samples` (sorted here).
pub fn report(label: &str, samples: &mut [Duration]) {
    samples.sort();
    let at = |q| quantile_ms(samples, q);
    println!(
        "{label:<36} n={:<5} p50 {:7.1} ms  p95 {:7.1} ms  p99 {:7.1} ms  max {:7.1} ms",
        samples.len(),
        at(0.5),
        at(0.95),
        at(0.99),
        at(1.0)
    );
}

//! Counters the worker keeps for `status`, the watchdog and metrics.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Worker counters, shared by reference.
#[derive(Debug, Default)]
pub struct Stats {
    synced: AtomicU64,
    retried: AtomicU64,
    dead: AtomicU64,
    last_tick_ms: AtomicI64,
    last_sync_ms: AtomicI64,
}

impl Stats {
    /// A request was synced.
    pub fn record_synced(&self) {
        self.synced.fetch_add(1, Ordering::Relaxed);
        self.last_sync_ms.store(now_ms(), Ordering::Relaxed);
    }

    /// A job failed and will run again.
    pub fn record_retry(&self) {
        self.retried.fetch_add(1, Ordering::Relaxed);
    }

    /// A job went to dead.
    pub fn record_dead(&self) {
        self.dead.fetch_add(1, Ordering::Relaxed);
    }

    /// The worker loop went round once (the watchdog feeds only while this moves).
    pub fn tick(&self) {
        self.last_tick_ms.store(now_ms(), Ordering::Relaxed);
    }

    /// Requests synced since start.
    pub fn synced(&self) -> u64 {
        self.synced.load(Ordering::Relaxed)
    }

    /// Failed attempts that were scheduled again since start.
    pub fn retried(&self) -> u64 {
        self.retried.load(Ordering::Relaxed)
    }

    /// Jobs that went to dead since start.
    pub fn dead(&self) -> u64 {
        self.dead.load(Ordering::Relaxed)
    }

    /// Milliseconds since the worker loop last went round (`None` before the first round).
    pub fn since_tick_ms(&self) -> Option<i64> {
        match self.last_tick_ms.load(Ordering::Relaxed) {
            0 => None,
            t => Some(now_ms() - t),
        }
    }

    /// When the last request was synced (unix ms), if any.
    pub fn last_sync_ms(&self) -> Option<i64> {
        match self.last_sync_ms.load(Ordering::Relaxed) {
            0 => None,
            t => Some(t),
        }
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

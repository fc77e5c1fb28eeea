//! Auto-batching: concurrent calls are gathered by one dispatcher task and sent as one
//! `batch` request (doc §1.6), with retries that never repeat a write whose fate is unknown.
//! The gathering is in [`gather`], the sending and the split of replies in [`send`].

mod gather;
mod send;

pub(crate) use gather::dispatch;
pub(crate) use send::execute;

use super::references::Link;
use super::transport::Transport;
use super::BitrixError;
use crate::http::{Backoff, RateLimiter};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{oneshot, Semaphore};
use tokio::time::Instant;

/// Most sub-calls in one `batch` (doc §1.6).
pub(crate) const MAX_BATCH: usize = 50;

/// A call's successful answer: `result`, plus `total`/`next` of list methods.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) result: Value,
    pub(crate) total: Option<u64>,
    pub(crate) next: Option<u64>,
}

/// A call waiting to be sent.
pub(crate) struct Pending {
    pub(crate) method: String,
    pub(crate) params: Value,
    pub(crate) reply: oneshot::Sender<Result<Reply, BitrixError>>,
    /// The round (see [`super::round`]) the call belongs to: its calls go in one batch.
    pub(crate) unit: u64,
    /// The call's name inside its round, for `$result[name]` references of later calls.
    pub(crate) name: Option<String>,
    /// Parameters that refer to earlier calls of the round.
    pub(crate) links: Vec<Link>,
}

/// Calls that must travel in one `batch`: a single call, or the calls of one round.
pub(crate) type Unit = Vec<Pending>;

/// What the dispatcher and the request tasks share.
pub(crate) struct Shared {
    pub(crate) transport: Transport,
    pub(crate) limiter: RateLimiter,
    pub(crate) linger: Duration,
    pub(crate) max_retries: u32,
    pub(crate) backoff: Backoff,
    pub(crate) http_calls: AtomicU64,
    /// Methods held back after `OPERATION_TIME_LIMIT`, until the instant.
    pub(crate) paused: Mutex<HashMap<String, Instant>>,
    /// HTTP requests to the portal in flight at once ([`MAX_IN_FLIGHT`]): while they are
    /// busy, new calls gather into the next batch instead of going out alone.
    pub(crate) in_flight: Arc<Semaphore>,
    /// The next [`Pending::unit`] number.
    pub(crate) units: AtomicU64,
    /// Callers (single calls or rounds) in the last batch sent: many mean a backlog (see
    /// [`BUSY_LINGER`]).
    pub(crate) last_callers: AtomicUsize,
}

/// How long the dispatcher gathers after the first call while the portal is busy (the last
/// batch carried at least [`BUSY_CALLERS`] callers): a backlog's batches go out full, at a
/// fraction of an HTTP request per transcript, while a trickle's calls go at once (after
/// the configured linger).
pub(crate) const BUSY_LINGER: Duration = Duration::from_millis(100);
/// While busy, the group leaves when no call came for this long: with few workers all of
/// them are in by then, so lingering longer would only slow them down.
pub(crate) const BUSY_GAP: Duration = Duration::from_millis(40);
/// Callers in one batch that mark the portal busy: more than a trickle brings together.
pub(crate) const BUSY_CALLERS: usize = 3;

/// Batches sent to the portal at once. The doc's client policy is one sequential worker;
/// two keep the pipe full while one answer is on its way.
pub(crate) const MAX_IN_FLIGHT: usize = 2;

/// True for methods that change nothing, so a request made only of them may be repeated
/// after an uncertain failure. Unknown methods count as writes.
pub(crate) fn is_read(method: &str) -> bool {
    let m = method.to_ascii_lowercase();
    matches!(
        m.as_str(),
        "profile" | "scope" | "methods" | "method.get" | "app.info" | "user.current"
    ) || m.ends_with(".list")
        || m.ends_with(".get")
        || m.ends_with(".fields")
        || m.ends_with(".search")
        || m.ends_with(".findbycomm")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes() {
        for read in [
            "crm.lead.list",
            "crm.lead.get",
            "crm.duplicate.findbycomm",
            "profile",
            "scope",
            "user.get",
            "crm.status.list",
            "crm.timeline.comment.list",
        ] {
            assert!(is_read(read), "{read}");
        }
        for write in [
            "crm.lead.add",
            "crm.lead.update",
            "crm.timeline.comment.add",
            "im.notify.system.add",
            "something.unknown",
        ] {
            assert!(!is_read(write), "{write}");
        }
    }
}

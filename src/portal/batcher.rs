//! Auto-batching: concurrent calls are gathered by one dispatcher task and sent as one
//! `batch` request (doc §1.6), with retries that never repeat a write whose fate is unknown.

use super::error::is_rate_code;
use super::query;
use super::references::{self, Link};
use super::transport::{Failure, Transport};
use super::BitrixError;
use crate::http::{Backoff, RateLimiter};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Semaphore};
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

/// The dispatcher: gathers calls for up to `linger` ([`BUSY_LINGER`] while busy) after the
/// first one (and while a rate token or a free connection is awaited), at most
/// [`MAX_BATCH`], then hands the group to its own task. A round's
/// calls are never split: one that does not fit starts the next group.
pub(crate) async fn dispatch(shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<Unit>) {
    let mut carry: Option<Unit> = None;
    loop {
        let first = match carry.take() {
            Some(unit) => unit,
            None => match rx.recv().await {
                Some(unit) => unit,
                None => return,
            },
        };
        let mut gathering = Gathering {
            group: first,
            carry: None,
            closed: false,
        };
        let busy = shared.last_callers.load(Ordering::Relaxed) >= BUSY_CALLERS;
        let start = Instant::now();
        let until = start
            + if busy {
                shared.linger.max(BUSY_LINGER)
            } else {
                shared.linger
            };
        let mut last_arrival = start;
        while !gathering.full() {
            // While busy, a pause in the arrivals means every caller that was coming is in.
            let deadline = if busy {
                until.min(last_arrival + BUSY_GAP.max(shared.linger))
            } else {
                until
            };
            tokio::select! {
                biased;
                item = rx.recv() => {
                    gathering.accept(item);
                    last_arrival = Instant::now();
                }
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        {
            let acquire = shared.limiter.acquire();
            tokio::pin!(acquire);
            loop {
                if gathering.full() {
                    acquire.await;
                    break;
                }
                tokio::select! {
                    biased;
                    _ = &mut acquire => break,
                    item = rx.recv() => gathering.accept(item),
                }
            }
        }
        let permit = {
            let acquire = shared.in_flight.clone().acquire_owned();
            tokio::pin!(acquire);
            loop {
                if gathering.full() {
                    break acquire.await;
                }
                tokio::select! {
                    biased;
                    permit = &mut acquire => break permit,
                    item = rx.recv() => gathering.accept(item),
                }
            }
        }
        .expect("the in-flight semaphore is never closed");
        let Gathering {
            group,
            carry: next,
            closed,
        } = gathering;
        carry = next;
        shared
            .last_callers
            .store(callers(&group), Ordering::Relaxed);
        let shared = shared.clone();
        tokio::spawn(async move {
            execute(shared, group).await;
            drop(permit);
        });
        if closed && carry.is_none() {
            return;
        }
    }
}

/// The callers (single calls and rounds) of a group.
fn callers(group: &[Pending]) -> usize {
    let mut units: Vec<u64> = group.iter().map(|p| p.unit).collect();
    units.dedup();
    units.len()
}

/// The group being gathered by the dispatcher.
struct Gathering {
    group: Vec<Pending>,
    /// A round that did not fit: the first of the next group.
    carry: Option<Unit>,
    /// The channel closed (the client is gone).
    closed: bool,
}

impl Gathering {
    /// No more calls go into this group.
    fn full(&self) -> bool {
        self.group.len() >= MAX_BATCH || self.carry.is_some() || self.closed
    }

    fn accept(&mut self, item: Option<Unit>) {
        match item {
            Some(unit) if self.group.len() + unit.len() > MAX_BATCH => self.carry = Some(unit),
            Some(unit) => self.group.extend(unit),
            None => self.closed = true,
        }
    }
}

/// Sends a group (its first rate token already taken) and retries what may be retried.
pub(crate) async fn execute(shared: Arc<Shared>, mut pending: Vec<Pending>) {
    let mut attempt: u32 = 0;
    loop {
        pending.retain(|p| !p.reply.is_closed());
        if pending.is_empty() {
            return;
        }
        if attempt > 0 {
            wait_for_paused_methods(&shared, &pending).await;
            shared.limiter.acquire().await;
        }
        let (retry, last_error) = send_once(&shared, &mut pending).await;
        let Some(last_error) = last_error else {
            return;
        };
        pending = retry;
        if pending.is_empty() {
            return;
        }
        if attempt >= shared.max_retries {
            for p in pending {
                let _ = p.reply.send(Err(last_error.for_method(&p.method)));
            }
            return;
        }
        let delay = shared.backoff.delay(attempt);
        attempt += 1;
        for method in distinct_methods(&pending) {
            tracing::warn!(
                portal_method = %method,
                attempt,
                delay_ms = delay.as_millis() as u64,
                error = %last_error,
                "Retrying a Bitrix24 call"
            );
        }
        tokio::time::sleep(delay).await;
    }
}

fn distinct_methods(pending: &[Pending]) -> Vec<&str> {
    let mut methods: Vec<&str> = pending.iter().map(|p| p.method.as_str()).collect();
    methods.sort_unstable();
    methods.dedup();
    methods
}

async fn wait_for_paused_methods(shared: &Shared, pending: &[Pending]) {
    let until = {
        let mut paused = shared.paused.lock().expect("pause map lock");
        let now = Instant::now();
        paused.retain(|_, until| *until > now);
        pending
            .iter()
            .filter_map(|p| paused.get(&p.method).copied())
            .max()
    };
    if let Some(until) = until {
        tokio::time::sleep_until(until).await;
    }
}

fn pause_method(shared: &Shared, method: &str, pause: Duration) {
    let until = Instant::now() + pause;
    let mut paused = shared.paused.lock().expect("pause map lock");
    let slot = paused.entry(method.to_string()).or_insert(until);
    if *slot < until {
        *slot = until;
    }
}

/// One HTTP request for the whole group. Answers every caller that is done and returns those
/// to try again, with the error that made them wait (`None` when all are answered).
async fn send_once(
    shared: &Shared,
    pending: &mut Vec<Pending>,
) -> (Vec<Pending>, Option<BitrixError>) {
    let group = without_orphans(std::mem::take(pending));
    if group.is_empty() {
        return (Vec::new(), None);
    }
    shared.http_calls.fetch_add(1, Ordering::Relaxed);
    if group.len() == 1 {
        let call = &group[0];
        let outcome = shared.transport.post(&call.method, &call.params).await;
        return match outcome {
            Ok(envelope) => {
                let Pending { reply, .. } = group.into_iter().next().expect("one call");
                let _ = reply.send(Ok(reply_from_envelope(&envelope)));
                (Vec::new(), None)
            }
            Err(failure) => whole_failure(shared, group, failure),
        };
    }
    let keys = batch_keys(&group);
    let mut cmd = Map::new();
    for (index, call) in group.iter().enumerate() {
        let params = references::place(&call.params, &call.links, |name| {
            keys.get(&(call.unit, name.to_string())).cloned()
        });
        let encoded = query::encode(&params);
        let line = if encoded.is_empty() {
            call.method.clone()
        } else {
            format!("{}?{encoded}", call.method)
        };
        cmd.insert(batch_key(index), Value::String(line));
    }
    let body = json!({"halt": 0, "cmd": cmd});
    match shared.transport.post("batch", &body).await {
        Ok(envelope) => split_batch(shared, group, &envelope),
        Err(failure) => whole_failure(shared, group, failure),
    }
}

/// The `cmd` key of the call at `index`: `q00` … `q49`, so that the keys sort (as a JSON
/// map's keys may be) in the order the calls were made, which is the order the portal runs
/// them in and the order a reference needs.
fn batch_key(index: usize) -> String {
    format!("q{index:02}")
}

/// The batch key of each named call, by (round, name).
fn batch_keys(group: &[Pending]) -> HashMap<(u64, String), String> {
    group
        .iter()
        .enumerate()
        .filter_map(|(index, call)| {
            let name = call.name.clone()?;
            Some(((call.unit, name), batch_key(index)))
        })
        .collect()
}

/// Answers the calls whose references point at a call no longer in the group (it was
/// answered by an earlier try): sent alone they would read nothing. Their callers get a
/// passing error and run the round again.
fn without_orphans(group: Vec<Pending>) -> Vec<Pending> {
    let present: std::collections::HashSet<(u64, String)> = group
        .iter()
        .filter_map(|p| Some((p.unit, p.name.clone()?)))
        .collect();
    let (keep, orphans): (Vec<_>, Vec<_>) = group.into_iter().partition(|p| {
        p.links
            .iter()
            .all(|link| present.contains(&(p.unit, link.to.clone())))
    });
    for p in orphans {
        let _ = p.reply.send(Err(BitrixError::Transport {
            method: p.method.clone(),
            detail: "a call it refers to was answered in an earlier try; run the round again"
                .into(),
        }));
    }
    keep
}

fn reply_from_envelope(envelope: &Value) -> Reply {
    Reply {
        result: envelope.get("result").cloned().unwrap_or(Value::Null),
        total: envelope.get("total").and_then(as_u64),
        next: envelope.get("next").and_then(as_u64),
    }
}

fn as_u64(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The request as a whole failed: decide per caller.
fn whole_failure(
    shared: &Shared,
    group: Vec<Pending>,
    failure: Failure,
) -> (Vec<Pending>, Option<BitrixError>) {
    match failure {
        Failure::NotExecuted { error, pause } => {
            if let Some(pause) = pause {
                shared.limiter.pause_until(Instant::now() + pause);
            }
            (group, Some(error))
        }
        Failure::Uncertain(error) => {
            // The portal may have run the request: a write must not run twice ("never blindly
            // repeat an *.add"), so its caller gets a transient error and re-checks itself.
            let (reads, writes): (Vec<_>, Vec<_>) =
                group.into_iter().partition(|p| is_read(&p.method));
            for p in writes {
                let _ = p.reply.send(Err(error.for_method(&p.method)));
            }
            (reads, Some(error))
        }
        Failure::Final(error) => {
            for p in group {
                let _ = p.reply.send(Err(error.for_method(&p.method)));
            }
            (Vec::new(), None)
        }
    }
}

/// Hands each sub-call its `result`/`result_error`; sub-calls refused for load go back.
fn split_batch(
    shared: &Shared,
    group: Vec<Pending>,
    envelope: &Value,
) -> (Vec<Pending>, Option<BitrixError>) {
    let body = envelope.get("result").unwrap_or(&Value::Null);
    let section = |name: &str| body.get(name).and_then(Value::as_object).cloned();
    let results = section("result").unwrap_or_default();
    let errors = section("result_error").unwrap_or_default();
    let totals = section("result_total").unwrap_or_default();
    let nexts = section("result_next").unwrap_or_default();
    let mut retry = Vec::new();
    let mut last_error = None;
    for (index, call) in group.into_iter().enumerate() {
        let key = batch_key(index);
        if let Some(err) = errors.get(&key) {
            let code = match err.get("error") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            };
            let error = BitrixError::Api {
                method: call.method.clone(),
                code: code.clone(),
                description: err
                    .get("error_description")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                http_status: 200,
            };
            if is_rate_code(&code) {
                if code == "OPERATION_TIME_LIMIT" {
                    let pause = super::transport::operating_pause(envelope);
                    pause_method(shared, &call.method, pause);
                }
                last_error = Some(error);
                retry.push(call);
            } else {
                let _ = call.reply.send(Err(error));
            }
        } else if let Some(result) = results.get(&key) {
            let _ = call.reply.send(Ok(Reply {
                result: result.clone(),
                total: totals.get(&key).and_then(as_u64),
                next: nexts.get(&key).and_then(as_u64),
            }));
        } else {
            let _ = call.reply.send(Err(BitrixError::Decode {
                method: call.method.clone(),
                detail: format!("the batch answer has no entry for {key}"),
                garbled: false,
            }));
        }
    }
    (retry, last_error)
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

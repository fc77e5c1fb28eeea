//! Sending a group as one `batch` call: pauses per method after rate errors, one attempt,
//! and the split of the envelope into each caller's reply; writes whose fate is unknown are
//! never repeated.

use crate::portal::error::is_rate_code;
use crate::portal::query;
use crate::portal::references::{self};
use crate::portal::transport::Failure;
use crate::portal::BitrixError;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

use super::{is_read, Pending, Reply, Shared};
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
                    let pause = crate::portal::transport::operating_pause(envelope);
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
